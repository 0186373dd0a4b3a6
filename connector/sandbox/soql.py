"""The SOQL subset Lastmile uses: SELECT fields FROM Object [WHERE a = x AND b IN (...)]
[ORDER BY f [ASC|DESC]] [LIMIT n]. Anything else is MALFORMED_QUERY, as an unknown field is
INVALID_FIELD and an unknown object INVALID_TYPE, with Salesforce's row/column pointer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SalesforceError
from .ids import to18
from .schema import ObjectSpec, Schema

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?(?![\w-]))"
    r"|(?P<date>\d{4}-\d\d-\d\d(?:T[\d:.]+(?:Z|[+-]\d\d:?\d\d))?)"
    r"|(?P<op>!=|<>|=|,|\(|\))|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # "=", "!=", "in", "not in"
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
        if op.text not in ("=", "!=", "<>"):
            raise self.unexpected(op)
        return Condition(token.text, "=" if op.text == "=" else "!=", (self.value(),))

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


def _key(value: object) -> object:
    """Comparable form: ids as 18 characters, text without case, numbers as floats."""
    if isinstance(value, str):
        return (to18(value) or value).lower()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def matches(record: dict, condition: Condition) -> bool:
    value = _key(record.get(condition.field))
    hit = any(value == _key(v) for v in condition.values)
    return hit if condition.op in ("=", "in") else not hit


def run(query: Query, records: list[dict]) -> list[dict]:
    """The records that match, ordered and limited (nulls first when ascending, as Salesforce)."""
    found = [r for r in records if all(matches(r, c) for c in query.where)]
    if query.order_by:
        field = query.order_by

        def order(record: dict) -> tuple:
            value = _key(record.get(field))
            return (value is not None, value if value is not None else 0)

        found.sort(key=order, reverse=query.descending)
    return found[: query.limit] if query.limit is not None else found
