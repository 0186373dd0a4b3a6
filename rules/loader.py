"""Reading rule files: YAML with line and column kept, errors as `path:line:col: message`."""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .conditions import ConditionError, suggest
from .document import Document, Loc, parse_document
from .errors import Problem, RuleFileError
from .ruleset import RuleSet, Source
from .schema import Pack, RuleTest, TestFile

TEST_SUFFIXES = (".test.yaml", ".test.yml")
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class PackFile:
    """A rule pack as read from its file, with where each rule and test was written."""

    path: str
    pack: Pack
    sources: list[Source]
    test_lines: list[int]
    # the parsed file, kept for checks that point into it (field names against a CRM schema)
    document: Document | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class TestsFile:
    """A `*.test.yaml` file: its tests run against every rule loaded with it."""

    path: str
    tests: list[RuleTest]
    test_lines: list[int]
    document: Document | None = field(default=None, repr=False, compare=False)


@dataclass
class Catalog:
    """Everything read from rule paths: the compiled rules and the tests to run against them."""

    ruleset: RuleSet
    packs: list[PackFile]
    test_files: list[TestsFile]


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model at `loc` (a path into `model`) accepts, for "did you mean"."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _step(tp: Any, part: str | int) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, f in tp.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            found = _step(arg, part)
            if found is not None:
                return found
        return None
    if origin is list and isinstance(part, int):
        return typing.get_args(tp)[0]
    if origin is dict and isinstance(part, str):
        return typing.get_args(tp)[1]
    return None


def _data_loc(data: Any, loc: Loc) -> Loc:
    """Drop the parts of a pydantic error location that name union branches, not data."""
    out: list[str | int] = []
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
            out.append(part)
        elif not isinstance(data, dict | list):
            break
        elif isinstance(data, dict) and not isinstance(part, int) and part not in data:
            # a missing or unknown key: keep it, it is what the message is about
            out.append(part)
            break
    return tuple(out)


def _problems(doc: Document, model: type[BaseModel], exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[Loc] = set()
    errors = exc.errors()
    # A value that fits none of a union's types gives one error per type, at one place.
    wrong_type: dict[Loc, list[str]] = {}
    for err in errors:
        if err["type"].endswith("_type"):
            place = _data_loc(doc.data, tuple(err["loc"]))
            wrong_type.setdefault(place, []).append(err["msg"].removeprefix("Input should be "))
    # A misspelt key is the root cause of the "missing required key" its right spelling then
    # gives: report the misspelling (with its "did you mean"), not the knock-on error.
    meant: set[Loc] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = _data_loc(doc.data, tuple(err["loc"]))
            close = difflib.get_close_matches(
                str(loc[-1]), _allowed_keys(model, loc[:-1]), n=1, cutoff=0.6
            )
            meant.update((*loc[:-1], name) for name in close)
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        loc = _data_loc(doc.data, tuple(err["loc"]))
        if err["type"] == "missing" and loc in meant:
            continue
        key = err["type"] == "extra_forbidden"
        if isinstance(cause, ConditionError):
            loc = (*loc, *cause.path)
            message = cause.message
            key = cause.at_key
        elif err["type"] == "extra_forbidden":
            name = str(loc[-1])
            message = f"unknown key '{name}'{suggest(name, _allowed_keys(model, loc[:-1]))}"
        elif err["type"] == "missing":
            message = f"missing required key '{loc[-1]}'"
        elif len(wrong_type.get(loc, ())) > 1:
            *first, last = wrong_type[loc]
            message = f"Input should be {', '.join(first)} or {last}"
            given = err.get("input")
            if isinstance(given, str | int | float | bool):
                message += f" (got {given!r})"
        elif err["type"] in _PLAIN_WORDS:
            message = _PLAIN_WORDS[err["type"]](str(loc[-1]) if loc else "")
        else:
            message = err["msg"].removeprefix("Value error, ")
            given = err.get("input")
            if isinstance(given, str | int | float | bool) and repr(given) not in message:
                message += f" (got {given!r})"
        if loc in seen:
            continue
        seen.add(loc)
        problems.append(doc.problem(loc, message, key=key))
    return problems


# pydantic's words for a value of the wrong shape, said the way a rule author writes YAML.
_EXAMPLES = {
    "default": "default: {LeadSource: Web, Probability: 10}",
    "labels": "labels: {Outcome__c: {nl: Uitkomst, en: Outcome}}",
    "task": "task: {subject: 'Follow-up: {Subject}', due_in: 2d}",
    "escalate": "escalate: {subject: 'Still open: {Subject}', due_in: 1d}",
    "require": "require: [Description, Outcome__c]",
    "on": "on: [created, updated]",
}


def _shape(kind: str) -> Callable[[str], str]:
    def message(key: str) -> str:
        example = _EXAMPLES.get(key)
        said = f"'{key}' takes {kind}" if key else f"expected {kind}"
        return f"{said}, e.g. `{example}`" if example else said

    return message


_PLAIN_WORDS: dict[str, Callable[[str], str]] = {
    "dict_type": _shape("a mapping (key: value on each line, or {key: value})"),
    "model_type": _shape("a mapping (key: value on each line, or {key: value})"),
    "model_attributes_type": _shape("a mapping (key: value on each line, or {key: value})"),
    "list_type": _shape("a list (one `- item` a line, or [a, b])"),
}


def content_version(texts: Iterable[tuple[str, str]]) -> str:
    """A short digest of named texts: the version of a rule set."""
    digest = hashlib.sha256()
    for name, text in texts:
        digest.update(f"{len(name)}:{name}{len(text)}:".encode())
        digest.update(text.encode())
    return digest.hexdigest()[:12]


def _read(path: Path, max_bytes: int) -> Document:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise RuleFileError(
                [Problem(name, 1, 1, f"file is {size} bytes; the limit is {max_bytes}")]
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleFileError([Problem(name, 1, 1, f"not UTF-8 text: {exc.reason}")]) from None
    except OSError as exc:
        raise RuleFileError([Problem(name, 0, 0, f"cannot read: {exc.strerror}")]) from None
    return parse_document(name, text)


def _validate(doc: Document, model: type[BaseModel]) -> Any:
    if not isinstance(doc.data, dict):
        what = "an empty file" if doc.data is None else f"a {type(doc.data).__name__}"
        raise RuleFileError(
            [Problem(doc.path, 1, 1, f"expected a mapping with '{_top_key(model)}:', got {what}")]
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise RuleFileError(_problems(doc, model, exc)) from None


def _top_key(model: type[BaseModel]) -> str:
    return "tests" if model is TestFile else "pack"


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML files under the given files and directories, in a stable order."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            # Hidden parts are skipped: editors' backups, and the `..2026_...` copy of every file
            # in a Kubernetes ConfigMap mount, which would load each pack twice.
            found.extend(
                sorted(
                    q
                    for q in p.rglob("*")
                    if q.suffix in (".yaml", ".yml")
                    and q.is_file()
                    and not any(part.startswith(".") for part in q.relative_to(p).parts)
                )
            )
        elif p.exists():
            found.append(p)
        else:
            raise RuleFileError([Problem(str(p), 0, 0, "no such file or directory")])
    return found


def _lines(doc: Document, key: str, count: int) -> list[int]:
    return [doc.where((key, i))[0] for i in range(count)]


def load_catalog(paths: Iterable[str | Path], *, max_file_bytes: int = MAX_FILE_BYTES) -> Catalog:
    """Read, check and compile every rule file under `paths`; RuleFileError lists all problems.
    A file larger than `max_file_bytes` is refused unread."""
    files = rule_files(paths)
    problems: list[Problem] = []
    packs: list[PackFile] = []
    test_files: list[TestsFile] = []
    first_seen: dict[str, Source] = {}
    docs: list[Document] = []
    for path in files:
        try:
            doc = _read(path, max_file_bytes)
            docs.append(doc)
            if path.name.endswith(TEST_SUFFIXES):
                tests = _validate(doc, TestFile).tests
                lines = _lines(doc, "tests", len(tests))
                test_files.append(TestsFile(doc.path, tests, lines, doc))
                continue
            # From the file as written: reported with the file's other problems, if any.
            problems.extend(_duplicate_ids(doc, first_seen))
            pack = _validate(doc, Pack)
        except RuleFileError as exc:
            problems.extend(exc.problems)
            continue
        sources = [Source(doc.path, *doc.where(("rules", i))) for i in range(len(pack.rules))]
        packs.append(PackFile(doc.path, pack, sources, _lines(doc, "tests", len(pack.tests)), doc))
    if problems:
        raise RuleFileError(problems)
    if not packs and not test_files:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        raise RuleFileError([Problem(where, 0, 0, "no rule files (*.yaml) found")])
    version = content_version((d.path, d.text) for d in docs)
    ruleset = RuleSet.build([(p.pack, p.sources) for p in packs], version)
    return Catalog(ruleset, packs, test_files)


def _duplicate_ids(doc: Document, first_seen: dict[str, Source]) -> list[Problem]:
    """Rule and experiment ids of `doc` already used (in it or an earlier file); notes the new
    ones. An experiment id names one experiment across the directory (a new id, a new one)."""
    rules = doc.data.get("rules") if isinstance(doc.data, dict) else None
    found: list[Problem] = []
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        rid = rule.get("id") if isinstance(rule, dict) else None
        if not isinstance(rid, str):
            continue
        experiment = rule.get("experiment")
        eid = experiment.get("id") if isinstance(experiment, dict) else None
        for kind, key, where, defined in (
            ("rule", rid, ("rules", i, "id"), ("rules", i)),
            ("experiment", eid, ("rules", i, "experiment", "id"), ("rules", i, "experiment", "id")),
        ):
            if not isinstance(key, str):
                continue
            seen = first_seen.get(f"{kind}:{key}")
            if seen is not None:
                message = f"duplicate {kind} id; first defined at {seen}"
                found.append(Problem(doc.path, *doc.where(where), message, rid))
            else:
                first_seen[f"{kind}:{key}"] = Source(doc.path, *doc.where(defined))
    return found


def load_rules(paths: Iterable[str | Path], *, max_file_bytes: int = MAX_FILE_BYTES) -> RuleSet:
    """The compiled rules of the given files and directories."""
    return load_catalog(paths, max_file_bytes=max_file_bytes).ruleset


def load_text(text: str, path: str = "<text>") -> RuleSet:
    """Compile one rule pack given as YAML text (for tests, benchmarks and the REPL)."""
    doc = parse_document(path, text)
    pack = _validate(doc, Pack)
    sources = [Source(path, *doc.where(("rules", i))) for i in range(len(pack.rules))]
    ids = [r.id for r in pack.rules]
    dupes = [
        Problem(path, *doc.where(("rules", i, "id")), "duplicate rule id", rid)
        for i, rid in enumerate(ids)
        if rid in ids[:i]
    ]
    if dupes:
        raise RuleFileError(dupes)
    return RuleSet.build([(pack, sources)], content_version([(path, text)]))
