"""A rule file's YAML as plain data, with the line and column of every key and value.

Built from the parser's events with an explicit stack (libyaml through ruamel.yaml.clib), so a
hostile file costs what its text costs: anchors and aliases are refused where they appear (an
alias bomb never expands), nesting is bounded, and no recursion can overflow a stack. A document
libyaml refuses is read again by ruamel's pure-Python parser; where that fails too, the error is
said in a rule author's words (`yaml_errors`), from the mappings and lists open at the failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
)
from ruamel.yaml.nodes import ScalarNode

from .errors import Problem, RuleFileError
from .yaml_errors import explain, open_blocks

Loc = tuple[str | int, ...]
MAX_DEPTH = 64  # a rule pack nests a dozen levels; conditions a few more
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """One parsed YAML file: plain data, and where each key and value was written."""

    path: str
    data: Any
    text: str = ""
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        if key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values and loc:
            loc = loc[:-1]
        return self.values.get(loc, (1, 1))

    def rule_id(self, loc: Loc) -> str | None:
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rules = self.data.get("rules") if isinstance(self.data, dict) else None
            if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
                rid = rules[loc[1]].get("id")
                return rid if isinstance(rid, str) else None
        return None

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.path, line, col, message, self.rule_id(loc))


def parse_document(path: str, text: str) -> Document:
    """Read `text`; raise RuleFileError with `path:line:col` when it is no rule file's YAML."""
    try:
        return _Reader(path, text, YAML(typ="safe", pure=False)).read()
    except YAMLError:
        pass  # read again by the pure-Python parser, whose errors are described more closely
    reader = _Reader(path, text, YAML(typ="safe", pure=True))
    try:
        return reader.read()
    except MarkedYAMLError as exc:
        raise RuleFileError([_said(path, text, exc, reader)]) from None
    except YAMLError as exc:
        raise RuleFileError([Problem(path, 1, 1, f"invalid YAML: {exc}")]) from None


def _said(path: str, text: str, exc: MarkedYAMLError, reader: _Reader) -> Problem:
    """The parser's error in a rule author's words, where the file went wrong."""

    def at(mark: Any) -> tuple[int, int] | None:
        return (mark.line + 1, mark.column + 1) if mark is not None else None

    where = at(exc.problem_mark) or at(exc.context_mark) or (1, 1)
    blocks = open_blocks(reader.stack, reader.doc.values, reader.doc.keys, _NO_KEY)
    said = explain(
        text, str(exc.problem or ""), where, str(exc.context or ""), at(exc.context_mark), blocks
    )
    return Problem(path, said.line, said.column, said.message)


_NO_KEY = object()


@dataclass
class _Open:
    """A mapping or sequence being read: its data, its place, and a mapping's pending key."""

    data: dict | list
    loc: Loc
    key: Any = _NO_KEY
    key_at: tuple[int, int] = (1, 1)
    duplicate: Any = _NO_KEY  # the first value of a key written twice, until the second is read
    flow: bool = False  # written [a, b] or {k: v}


class _Reader:
    def __init__(self, path: str, text: str, yaml: YAML) -> None:
        self.doc = Document(path, None, text, {(): (1, 1)})
        self.yaml = yaml
        self.stack: list[_Open] = []

    def read(self) -> Document:
        documents = 0
        for event in self.yaml.parse(self.doc.text):
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self._refuse(event, "a rule file holds one YAML document; found another")
            elif isinstance(event, AliasEvent) or getattr(event, "anchor", None):
                self._refuse(
                    event, "anchors (&name) and aliases (*name) are not allowed in rule files"
                )
            elif isinstance(event, CollectionEndEvent):
                self.stack.pop()
            elif isinstance(event, ScalarEvent | CollectionStartEvent):
                self._node(event)
        return self.doc

    def _node(self, event: Any) -> None:
        at = (event.start_mark.line + 1, event.start_mark.column + 1)
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.data, dict) and top.key is _NO_KEY:
            self._key(top, event, at)
            return
        if top is None:
            loc: Loc = ()
        elif isinstance(top.data, dict):
            loc = (*top.loc, top.key)
            if top.duplicate is not _NO_KEY:
                self._duplicate(top, event)
            self.doc.keys[loc] = top.key_at
        else:
            loc = (*top.loc, len(top.data))
        self.doc.values[loc] = at
        if isinstance(event, ScalarEvent):
            value = self._scalar(event)
        else:
            if len(self.stack) >= MAX_DEPTH:
                self._refuse(event, f"nested deeper than {MAX_DEPTH} levels")
            value = {} if isinstance(event, MappingStartEvent) else []
        if top is None:
            self.doc.data = value
        elif isinstance(top.data, dict):
            top.data[top.key] = value
            top.key = _NO_KEY
        else:
            top.data.append(value)
        if not isinstance(event, ScalarEvent):
            self.stack.append(_Open(value, loc, flow=bool(event.flow_style)))

    def _key(self, top: _Open, event: Any, at: tuple[int, int]) -> None:
        if not isinstance(event, ScalarEvent):
            self._refuse(event, "a key must be plain text, not a list or a mapping")
        if self._tag(event) == MERGE_TAG:
            self._refuse(event, "merge keys (<<) are not allowed in rule files")
        key = self._scalar(event)
        top.duplicate = top.data.get(key, _NO_KEY)
        top.key, top.key_at = key, at

    def _duplicate(self, top: _Open, value_event: Any) -> None:
        line, col = top.key_at
        message = f'while constructing a mapping found duplicate key "{top.key}"'
        if isinstance(value_event, ScalarEvent) and not isinstance(top.duplicate, dict | list):
            message += f' with value "{value_event.value}" (original value: "{top.duplicate}")'
        raise RuleFileError([Problem(self.doc.path, line, col, f"invalid YAML: {message}")])

    def _tag(self, event: ScalarEvent) -> str:
        if event.tag not in (None, "!"):
            return event.tag
        return self.yaml.resolver.resolve(ScalarNode, event.value, event.implicit)

    def _scalar(self, event: ScalarEvent) -> Any:
        node = ScalarNode(
            self._tag(event), event.value, event.start_mark, event.end_mark, style=event.style
        )
        try:
            return _plain(self.yaml.constructor.construct_object(node))
        except ValueError as exc:  # a date that is no date (2026-02-30) fails in the library
            self._refuse(
                event,
                f"{event.value!r} is not a valid date or time ({exc}); quote it if it is text",
            )

    def _refuse(self, event: Any, message: str) -> NoReturn:
        line, col = event.start_mark.line + 1, event.start_mark.column + 1
        raise RuleFileError([Problem(self.doc.path, line, col, message)])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        # A field value is text in a CRM record; pydantic reads timestamps from ISO text.
        return value.isoformat().replace("+00:00", "Z")
    return value
