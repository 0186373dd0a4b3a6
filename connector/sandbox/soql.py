"""The SOQL subset Lastmile uses: SELECT fields FROM Object [WHERE a = x AND b IN (...) AND
c >= 2026-01-01T00:00:00Z] [ORDER BY f [ASC|DESC]] [LIMIT n]. Anything else is MALFORMED_QUERY,
as an unknown field is INVALID_FIELD and an unknown object INVALID_TYPE, with Salesforce's
row/column pointer. Results are handed out in batches with query locators (`QueryPages`)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .errors import SalesforceError
from .ids import random_id, to18
from .schema import ObjectSpec, Schema, parse_datetime

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?(?![\w-]))"
    r"|(?P<date>\d{4}-\d\d-\d\d(?:T[\d:.]+(?:Z|[+-]\d\d:?\d\d))?)"
    r"|(?P<op>!=|<>|<=|>=|=|<|>|,|\(|\))|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "=", "!=", "<", "<=", ">", ">=", "in", "not in"
    values: tuple[object, ...]


@dataclass(frozen=True)
class Query:
    object: str
    fields: tuple[str, ...]
    where: tuple[Condition, ...] = ()
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


def _error(code: str, text: str, column: int, message: str) -> SalesforceError:
    return SalesforceError(
        400, code, f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{message}"
    )


def _tokens(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            column = pos + 1 + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise _error(
                "MALFORMED_QUERY", text, column, f"unexpected token: {text[pos:].split()[0]!r}"
            )
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _error(
                "MALFORMED_QUERY", self.text, len(self.text) + 1, "unexpected end of query"
            )
        self.at += 1
        return token

    def unexpected(self, token: _Token) -> SalesforceError:
        return _error(
            "MALFORMED_QUERY", self.text, token.column, f"unexpected token: '{token.text}'"
        )

    def keyword(self, *words: str) -> bool:
        """Consume the keywords if they come next."""
        ahead = self.tokens[self.at : self.at + len(words)]
        if len(ahead) == len(words) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(ahead, words, strict=True)
        ):
            self.at += len(words)
            return True
        return False

    def expect(self, word: str) -> None:
        token = self.take()
        if token.kind != "word" or token.text.upper() != word:
            raise self.unexpected(token)

    def name(self) -> _Token:
        token = self.take()
        if token.kind != "word":
            raise self.unexpected(token)
        return token

    def value(self) -> object:
        token = self.take()
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return float(token.text)
        if token.kind == "date":
            return token.text
        if token.kind == "word" and token.text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        raise self.unexpected(token)

    def parse(self) -> tuple[Query, dict[str, int]]:
        columns: dict[str, int] = {}  # field or object name -> column, for error pointers
        self.expect("SELECT")
        fields = []
        while True:
            token = self.name()
            fields.append(token.text)
            columns.setdefault(token.text, token.column)
            if not (self.peek() and self.peek().text == ","):  # type: ignore[union-attr]
                break
            self.take()
        self.expect("FROM")
        object_token = self.name()
        columns[object_token.text] = object_token.column
        where: list[Condition] = []
        if self.keyword("WHERE"):
            while True:
                where.append(self.condition(columns))
                if not self.keyword("AND"):
                    break
        order_by, descending = None, False
        if self.keyword("ORDER", "BY"):
            token = self.name()
            order_by = token.text
            columns.setdefault(token.text, token.column)
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
        limit = None
        if self.keyword("LIMIT"):
            token = self.take()
            if token.kind != "number" or not token.text.isdigit():
                raise self.unexpected(token)
            limit = int(token.text)
        if self.peek() is not None:
            raise self.unexpected(self.peek())  # type: ignore[arg-type]
        query = Query(object_token.text, tuple(fields), tuple(where), order_by, descending, limit)
        return query, columns

    def condition(self, columns: dict[str, int]) -> Condition:
        token = self.name()
        columns.setdefault(token.text, token.column)
        if self.keyword("NOT", "IN"):
            return Condition(token.text, "not in", self.value_list())
        if self.keyword("IN"):
            return Condition(token.text, "in", self.value_list())
        op = self.take()
        if op.text not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise self.unexpected(op)
        return Condition(token.text, "!=" if op.text == "<>" else op.text, (self.value(),))

    def value_list(self) -> tuple[object, ...]:
        if self.take().text != "(":
            raise self.unexpected(self.tokens[self.at - 1])
        values = [self.value()]
        while (token := self.take()).text == ",":
            values.append(self.value())
        if token.text != ")":
            raise self.unexpected(token)
        return tuple(values)


def parse(text: str, schema: Schema) -> tuple[Query, ObjectSpec]:
    """The query with canonical object and field names; errors as Salesforce reports them."""
    query, columns = _Parser(text).parse()
    spec = schema.object(query.object)
    if spec is None:
        raise _error(
            "INVALID_TYPE",
            text,
            columns[query.object],
            f"sObject type '{query.object}' is not supported.",
        )

    def canonical(name: str) -> str:
        field = spec.field(name)
        if field is None:
            raise _error(
                "INVALID_FIELD",
                text,
                columns.get(name, 1),
                f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use "
                "a custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        return field.name

    return (
        Query(
            spec.name,
            tuple(canonical(f) for f in query.fields),
            tuple(Condition(canonical(c.field), c.op, c.values) for c in query.where),
            canonical(query.order_by) if query.order_by else None,
            query.descending,
            query.limit,
        ),
        spec,
    )


_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _key(value: object) -> object:
    """Comparable form: ids as 18 characters, text without case, numbers as floats, datetimes
    as instants (a stored 2026-11-24T10:00:00.000+0000 equals the literal 2026-11-24T10:00:00Z)."""
    if isinstance(value, str) and _DATETIME.match(value):
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    if isinstance(value, str):
        return (to18(value) or value).lower()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


_ORDER = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _test(condition: Condition) -> Callable[[dict], bool]:
    """Whether a record meets the condition; the given values are keyed once, not per record."""
    name = condition.field
    if condition.op in _ORDER:
        given, compare = _key(condition.values[0]), _ORDER[condition.op]

        def in_range(record: dict) -> bool:
            value = _key(record.get(name))
            if value is None or given is None:
                return False  # null is never in a range
            if isinstance(value, datetime) != isinstance(given, datetime):
                return False  # nor is a datetime compared with text
            try:
                return compare(value, given)
            except TypeError:
                return False

        return in_range
    keys = {_key(v) for v in condition.values}
    wanted = condition.op in ("=", "in")
    return lambda record: (_key(record.get(name)) in keys) == wanted


def run(query: Query, records: list[dict]) -> list[dict]:
    """The records that match, ordered and limited (nulls first when ascending, as Salesforce)."""
    tests = [_test(c) for c in query.where]
    found = [r for r in records if all(test(r) for test in tests)]
    if query.order_by:
        field = query.order_by

        def order(record: dict) -> tuple:
            value = _key(record.get(field))
            return (value is not None, value if value is not None else 0)

        found.sort(key=order, reverse=query.descending)
    return found[: query.limit] if query.limit is not None else found


DEFAULT_BATCH = 2000
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size(options: str | None) -> int:
    """The batch size a `Sforce-Query-Options` header asks for: 200 to 2,000, default 2,000."""
    match = _BATCH_SIZE.search(options or "")
    return DEFAULT_BATCH if match is None else min(DEFAULT_BATCH, max(200, int(match.group(1))))


class QueryPages:
    """Query results handed out a batch at a time, as Salesforce does: an answer that is not
    the last says `done: false` and gives `nextRecordsUrl` (/services/data/vNN.N/query/
    <locator>-<offset>). The most recent `keep` locators stay open; an older one is
    INVALID_QUERY_LOCATOR, as a Salesforce locator is after 15 minutes unused."""

    def __init__(self, keep: int = 100) -> None:
        self._keep = keep
        self._open: OrderedDict[str, tuple[list[dict], int]] = OrderedDict()
        self._lock = threading.Lock()

    def first(self, records: list[dict], version: str, size: int) -> dict:
        """The first batch of a query's records (all of them when they fit in one)."""
        if len(records) <= size:
            return {"totalSize": len(records), "done": True, "records": records}
        locator = random_id("01g")
        with self._lock:
            self._open[locator] = (records, size)
            while len(self._open) > self._keep:
                self._open.popitem(last=False)
        return self._page(locator, records, 0, size, version)

    def more(self, locator: str, version: str) -> dict:
        """The batch a `nextRecordsUrl` names."""
        name, _, offset = locator.rpartition("-")
        with self._lock:
            found = self._open.get(name)
            if found is not None:
                self._open.move_to_end(name)
        if found is None or not offset.isdigit() or int(offset) > len(found[0]):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, size = found
        return self._page(name, records, int(offset), size, version)

    @staticmethod
    def _page(locator: str, records: list[dict], offset: int, size: int, version: str) -> dict:
        end = offset + size
        page: dict[str, object] = {"totalSize": len(records), "done": end >= len(records)}
        if end < len(records):
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        page["records"] = records[offset:end]
        return page
