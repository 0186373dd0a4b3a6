"""A YAML syntax error said the way a rule author reads the file: where the indentation went
wrong and what it should have been, instead of the parser's words ("mapping values are not
allowed here").

The parser knows which mappings and lists were open when it gave up; with where their keys and
items were written, the line that broke the structure is compared with the lines it should have
lined up with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Where = tuple[int, int]  # line, column (1-based)

_KEY = re.compile(r"""^(?:-\s+)*("[^"]*"|'[^']*'|[^\s#'"][^#]*?)\s*:(?:\s|$)""")


@dataclass(frozen=True)
class OpenBlock:
    """A mapping or list the parser had open when it failed.

    `start` is where its first key or `-` was written; `last_at` where its last key (`last`, of
    a mapping, perhaps still waiting for its value) or item (of a list) was, and `inner` the
    shape of that last value when it is itself a mapping or list."""

    kind: str  # "mapping" or "list"
    start: Where
    flow: bool = False
    last: str | None = None
    last_at: Where | None = None
    inner: OpenBlock | None = None


@dataclass(frozen=True)
class SyntaxProblem:
    line: int
    column: int
    message: str


def explain(
    text: str,
    problem: str,
    at: Where,
    context: str = "",
    context_at: Where | None = None,
    blocks: tuple[OpenBlock, ...] = (),
) -> SyntaxProblem:
    """The parser's error (`problem` at `at`, `context` at `context_at`) in a rule author's
    words, at the line and column where the file went wrong."""
    lines = text.splitlines()
    said = _Explainer(lines, at, blocks)
    found = (
        said.tab()
        if "tab" in problem or "\\t" in problem
        else said.mapping_value()
        if "mapping values are not allowed" in problem
        else said.misaligned()
        if _is_block_error(problem)
        else _unclosed(problem, context, at, context_at)
    )
    if found is not None:
        return found
    words = " ".join(p for p in (context, problem) if p) or "not valid YAML"
    return SyntaxProblem(*at, f"invalid YAML: {words}")


def _is_block_error(problem: str) -> bool:
    return (
        "expected <block end>" in problem
        or "did not find expected key" in problem
        or "did not find expected '-' indicator" in problem
    )


def _spaces(n: int) -> str:
    return f"{n} space" if n == 1 else f"{n} spaces"


class _Explainer:
    def __init__(self, lines: list[str], at: Where, blocks: tuple[OpenBlock, ...]) -> None:
        self.lines = lines
        self.line = at[0]
        self.at = at
        self.blocks = [b for b in blocks if not b.flow]
        self.text = lines[at[0] - 1] if 0 < at[0] <= len(lines) else ""
        self.indent = len(self.text) - len(self.text.lstrip(" "))

    def tab(self) -> SyntaxProblem | None:
        lead = self.text[: len(self.text) - len(self.text.lstrip(" \t"))]
        if "\t" not in lead:
            return None
        return SyntaxProblem(
            self.line,
            lead.index("\t") + 1,
            "bad indentation: a tab; YAML indents with spaces only, so replace the tab with "
            "spaces" + self._neighbour(),
        )

    def _neighbour(self) -> str:
        for block in reversed(self.blocks):
            if block.last_at is not None and block.kind == "mapping":
                return f" (like '{block.last}' on line {block.last_at[0]})"
        return ""

    def mapping_value(self) -> SyntaxProblem | None:
        """A `key:` where the parser was still reading the previous key's value as text."""
        owner = next((b for b in reversed(self.blocks) if b.kind == "mapping" and b.last_at), None)
        if owner is None or owner.last_at is None:
            return None
        key, (key_line, key_col) = owner.last, owner.last_at
        if key_line == self.line:
            value = self.text[self.text.index(":", key_col - 1) + 1 :].strip()
            quote = "'" if '"' in value else '"'
            return SyntaxProblem(
                *self.at,
                f"invalid YAML: the value of '{key}' holds ': ', which YAML reads as another "
                f"key; quote the value: `{key}: {quote}{value}{quote}`",
            )
        name = self._name()
        return SyntaxProblem(
            self.line,
            self.indent + 1,
            f"bad indentation: {name} is indented {_spaces(self.indent)}, more than "
            f"'{key}' on line {key_line} ({_spaces(key_col - 1)}), so YAML reads it as more of "
            f"the value of '{key}'; keys of one mapping start in the same column: "
            + (f"indent it {_spaces(key_col - 1)}" if key_col > 1 else "do not indent it"),
        )

    def misaligned(self) -> SyntaxProblem | None:
        """A line whose indentation lines up with no open mapping or list."""
        if not self.blocks:
            return None
        top = self.blocks[-1]
        item = self.text.lstrip().startswith("-")
        line, col = self.line, self.indent + 1
        what = "this list item" if item else self._name()
        here = f"{what} is indented {_spaces(self.indent)}"
        # What the line should have lined up with: the items of the list it follows, or the
        # keys of the mapping it is in.
        if item:
            peer = top.inner if top.kind == "mapping" else top
            if peer is not None and peer.kind == "list" and not self._flow(peer.start):
                above = (peer.last_at or peer.start)[0]
                return SyntaxProblem(
                    line,
                    col,
                    f"bad indentation: {here}, but the items of the list above it "
                    f"(line {above}) are at {_spaces(peer.start[1] - 1)}; items of one "
                    "list start in the same column",
                )
            return SyntaxProblem(
                line,
                col,
                f"bad indentation: {here}, where a key of the mapping on line {top.start[0]} "
                f"is expected ({_spaces(top.start[1] - 1)}); indent the list under its key",
            )
        peer = top if top.kind == "mapping" else top.inner
        if peer is not None and peer.kind == "mapping" and peer.last_at is not None:
            return SyntaxProblem(
                line,
                col,
                f"bad indentation: {here}, but '{peer.last}' on line {peer.last_at[0]} is at "
                f"{_spaces(peer.last_at[1] - 1)}; keys of one mapping start in the same column",
            )
        return SyntaxProblem(
            line,
            col,
            f"bad indentation: {here}, which lines up with no key or list item above it",
        )

    def _flow(self, where: Where) -> bool:
        """Whether the collection written at `where` is a flow one (`[a, b]`, `{k: v}`)."""
        line, col = where
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return text[col - 1 : col] in ("[", "{")

    def _name(self) -> str:
        found = _KEY.match(self.text.strip())
        return f"'{found.group(1).strip(chr(34) + chr(39))}'" if found else "this line"


def _unclosed(
    problem: str, context: str, at: Where, context_at: Where | None
) -> SyntaxProblem | None:
    """A bracket or quote opened (at `context_at`) and not closed."""
    if context_at is None:
        return None
    if "flow sequence" in context or "flow mapping" in context:
        kind, close = ("list", "]") if "sequence" in context else ("mapping", "}")
        until = (
            "the file ends first"
            if "stream end" in problem
            else f"line {at[0]} column {at[1]} is still read as part of it"
        )
        return SyntaxProblem(
            *context_at,
            f"invalid YAML: the {kind} opened here is not closed with '{close}' "
            f"(its items are separated by ','; {until})",
        )
    if "quoted scalar" in context:
        return SyntaxProblem(*context_at, "invalid YAML: the text quoted here has no closing quote")
    return None


def open_blocks(stack: list[Any], values: dict, keys: dict, missing: Any) -> tuple[OpenBlock, ...]:
    """The parser's open collections as `OpenBlock`s, from a reader's stack of `data`, `loc`,
    `key`, `key_at` and `flow`, and where the document's values and keys were written."""
    return tuple(_block(entry, values, keys, missing) for entry in stack)


def _block(entry: Any, values: dict, keys: dict, missing: Any) -> OpenBlock:
    data, loc = entry.data, entry.loc
    start = values.get(loc, (1, 1))
    if isinstance(data, list):
        inner = _value_block(data[-1], (*loc, len(data) - 1), values, keys) if data else None
        last_at = values.get((*loc, len(data) - 1)) if data else None
        return OpenBlock("list", start, entry.flow, None, last_at, inner=inner)
    if entry.key is not missing:
        return OpenBlock("mapping", start, entry.flow, str(entry.key), entry.key_at)
    if not data:
        return OpenBlock("mapping", start, entry.flow)
    last = list(data)[-1]
    inner = _value_block(data[last], (*loc, last), values, keys)
    return OpenBlock("mapping", start, entry.flow, str(last), keys.get((*loc, last)), inner=inner)


def _value_block(value: Any, loc: tuple, values: dict, keys: dict) -> OpenBlock | None:
    """A closed value's shape, when it is a non-empty list or mapping."""
    if isinstance(value, list) and value:
        return OpenBlock(
            "list", values.get(loc, (1, 1)), last_at=values.get((*loc, len(value) - 1))
        )
    if isinstance(value, dict) and value:
        last = list(value)[-1]
        return OpenBlock(
            "mapping", values.get(loc, (1, 1)), last=str(last), last_at=keys.get((*loc, last))
        )
    return None
