"""SOQL: a tokenizer and recursive-descent parser for the SELECT statements the emulator serves.

Written by hand rather than taken from PyPI: the one SOQL parser there (``python-soql-parser``
0.2) pins pyparsing 2, has no LIKE, NOT, NOT IN, null, booleans, date literals, string escapes or
positions for error messages, and is unmaintained. This one covers::

    SELECT field[, field…] | COUNT() FROM Object
    [WHERE condition] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]

with comparisons (``= != <> < <= > >= LIKE IN NOT IN``), ``AND``/``OR``/``NOT`` and parentheses
(mixing AND and OR without parentheses is refused, as SOQL does), strings with SOQL escapes,
numbers, ``TRUE``/``FALSE``/``NULL``, date and date-time literals, and relative date literals
(``TODAY``, ``LAST_N_DAYS:n``…). Field names may be relationship paths (``Account.Name``).
Positions are kept so errors can point at the offending token the way Salesforce does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

__all__ = [
    "BoolOp",
    "Comparison",
    "CountAll",
    "FieldPath",
    "InList",
    "Literal",
    "Not",
    "OrderTerm",
    "Query",
    "SoqlError",
    "locate",
    "parse",
]

#: Longest statement accepted (Salesforce's SOQL limit is 100,000 characters).
MAX_QUERY_LENGTH = 100_000
#: Deepest nesting of parentheses/NOT accepted (guards the recursion).
MAX_DEPTH = 64

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
        "COUNT",
    }
)
#: Relative date literals: name → whether it takes ``:n``.
DATE_LITERALS = {
    "YESTERDAY": False,
    "TODAY": False,
    "TOMORROW": False,
    "LAST_WEEK": False,
    "THIS_WEEK": False,
    "NEXT_WEEK": False,
    "LAST_MONTH": False,
    "THIS_MONTH": False,
    "NEXT_MONTH": False,
    "LAST_N_DAYS": True,
    "NEXT_N_DAYS": True,
    "N_DAYS_AGO": True,
    "LAST_N_HOURS": True,
    "NEXT_N_HOURS": True,
}

TokenKind = TypingLiteral["datetime", "date", "number", "ident", "string", "op", "punct", "eof"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written (strings: decoded value)
    pos: int
    #: Strings only: the value as a SQLite LIKE pattern with ``\`` as the escape character.
    like: str = ""

    @property
    def upper(self) -> str:
        return self.text.upper()

    def shown(self) -> str:
        return "<EOF>" if self.kind == "eof" else self.text


class SoqlError(Exception):
    """A statement SOQL refuses: ``code`` is the Salesforce error code, ``pos`` where it failed."""

    def __init__(self, detail: str, pos: int, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(detail)
        self.detail = detail
        self.pos = pos
        self.code = code

    def message(self, query: str) -> str:
        return locate(query, self.pos, self.detail)


def locate(query: str, pos: int, detail: str) -> str:
    """Salesforce's error text: the line, a caret under the position, row/column, the detail."""
    pos = max(0, min(pos, len(query)))
    row = query.count("\n", 0, pos) + 1
    start = query.rfind("\n", 0, pos) + 1
    end = query.find("\n", pos)
    line = query[start : end if end >= 0 else len(query)]
    column = pos - start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}"


def _read_string(query: str, start: int) -> tuple[Token, int]:
    """The string literal opening at ``start`` (a quote); returns the token and the next index."""
    plain: list[str] = []
    like: list[str] = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if char == "'":
            return Token("string", "".join(plain), start, "".join(like)), i + 1
        if char == "\\":
            if i + 1 >= len(query):
                break
            code = query[i + 1]
            if code.lower() in _ESCAPES or code in _ESCAPES:
                value = _ESCAPES.get(code.lower(), _ESCAPES.get(code, code))
                plain.append(value)
                like.append("\\\\" if value == "\\" else _like_char(value))
                i += 2
                continue
            if code in "_%":
                plain.append(code)
                like.append("\\" + code)
                i += 2
                continue
            if code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[i + 2 : i + 6]):
                value = chr(int(query[i + 2 : i + 6], 16))
                plain.append(value)
                like.append(_like_char(value))
                i += 6
                continue
            raise SoqlError(
                f"Invalid string literal '{query[start : i + 2]}'. Illegal character sequence "
                f"'\\{code}' in string literal.",
                i,
            )
        plain.append(char)
        like.append("\\\\" if char == "\\" else char)
        i += 1
    raise SoqlError("line 1:0 mismatched character '<EOF>' expecting '''", start)


def _like_char(value: str) -> str:
    return "\\" + value if value in "_%" else value


def tokenize(query: str) -> list[Token]:
    """The tokens of ``query``, ending with an ``eof`` token."""
    if len(query) > MAX_QUERY_LENGTH:
        raise SoqlError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN_RE.match(query, pos)
        if match is None:
            raise SoqlError(f"unexpected token: '{query[pos]}'", pos)
        kind = match.lastgroup
        if kind == "string":
            token, pos = _read_string(query, pos)
            tokens.append(token)
            continue
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))  # type: ignore[arg-type]
        pos = match.end()
    tokens.append(Token("eof", "", len(query)))
    return tokens


# ------------------------------------------------------------------------------------ syntax tree


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A field, or a relationship path such as ``Account.Name``, as written."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class CountAll:
    pos: int


LiteralKind = TypingLiteral["string", "number", "boolean", "null", "date", "datetime", "relative"]


@dataclass(frozen=True, slots=True)
class Literal:
    kind: LiteralKind
    text: str  # decoded string, number text, TRUE/FALSE/NULL, date text, relative name
    pos: int
    like: str = ""  # strings: LIKE pattern
    n: int | None = None  # relative literals with ``:n``


@dataclass(frozen=True, slots=True)
class Comparison:
    field: FieldPath
    op: str  # = != < <= > >= LIKE
    value: Literal


@dataclass(frozen=True, slots=True)
class InList:
    field: FieldPath
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: TypingLiteral["AND", "OR"]
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Comparison | InList | BoolOp | Not


@dataclass(frozen=True, slots=True)
class OrderTerm:
    field: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[FieldPath, ...] | CountAll
    sobject: str
    sobject_pos: int
    where: Condition | None
    order: tuple[OrderTerm, ...]
    limit: int | None
    offset: int | None


# ----------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.token
        return SoqlError(f"unexpected token: '{token.shown()}'", token.pos)

    def keyword(self, word: str) -> bool:
        token = self.token
        if token.kind == "ident" and token.upper == word:
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> Token:
        token = self.token
        if not self.keyword(word):
            raise self.unexpected()
        return token

    def punct(self, char: str) -> bool:
        if self.token.kind == "punct" and self.token.text == char:
            self.advance()
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise self.unexpected()

    def field(self) -> FieldPath:
        token = self.token
        if token.kind != "ident" or token.upper in _KEYWORDS:
            raise self.unexpected()
        self.advance()
        return FieldPath(tuple(token.text.split(".")), token.pos)

    def integer(self) -> int:
        token = self.token
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected()
        self.advance()
        if len(token.text) > 9:
            raise SoqlError(f"unexpected token: '{token.text}'", token.pos)
        return int(token.text)

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields: tuple[FieldPath, ...] | CountAll
        start = self.token
        if start.kind == "ident" and start.upper == "COUNT" and self.peek_punct("("):
            self.advance()
            self.expect_punct("(")
            self.expect_punct(")")
            fields = CountAll(start.pos)
        else:
            items = [self.field()]
            while self.punct(","):
                items.append(self.field())
            fields = tuple(items)
        self.expect_keyword("FROM")
        sobject = self.token
        if sobject.kind != "ident" or "." in sobject.text or sobject.upper in _KEYWORDS:
            raise self.unexpected()
        self.advance()
        where = None
        if self.keyword("WHERE"):
            where = self.condition()
        order: list[OrderTerm] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            order.append(self.order_term())
            while self.punct(","):
                order.append(self.order_term())
        limit = self.integer() if self.keyword("LIMIT") else None
        offset = self.integer() if self.keyword("OFFSET") else None
        if self.token.kind != "eof":
            raise self.unexpected()
        return Query(fields, sobject.text, sobject.pos, where, tuple(order), limit, offset)

    def peek_punct(self, char: str) -> bool:
        following = self.tokens[min(self.index + 1, len(self.tokens) - 1)]
        return following.kind == "punct" and following.text == char

    def order_term(self) -> OrderTerm:
        field = self.field()
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        nulls_last = False
        if self.keyword("NULLS"):
            if self.keyword("LAST"):
                nulls_last = True
            else:
                self.expect_keyword("FIRST")
        return OrderTerm(field, descending, nulls_last)

    def condition(self) -> Condition:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SoqlError("conditions are nested too deeply", self.token.pos)
        items = [self.unary()]
        op: str | None = None
        while self.token.kind == "ident" and self.token.upper in ("AND", "OR"):
            if op is not None and self.token.upper != op:
                raise self.unexpected()  # SOQL needs parentheses to mix AND and OR
            op = self.advance().upper
            items.append(self.unary())
        self.depth -= 1
        if op is None:
            return items[0]
        return BoolOp("AND" if op == "AND" else "OR", tuple(items))

    def unary(self) -> Condition:
        if self.keyword("NOT"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SoqlError("conditions are nested too deeply", self.token.pos)
            item = self.unary()
            self.depth -= 1
            return Not(item)
        if self.punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        field = self.field()
        token = self.token
        if token.kind == "op":
            self.advance()
            return Comparison(field, "!=" if token.text == "<>" else token.text, self.value())
        if self.keyword("LIKE"):
            return Comparison(field, "LIKE", self.value())
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self.value()]
            while self.punct(","):
                values.append(self.value())
            self.expect_punct(")")
            return InList(field, tuple(values), negated)
        raise self.unexpected()

    def value(self) -> Literal:
        token = self.advance()
        if token.kind == "string":
            return Literal("string", token.text, token.pos, token.like)
        if token.kind in ("number", "date", "datetime"):
            return Literal(token.kind, token.text, token.pos)
        if token.kind == "ident":
            word = token.upper
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word, token.pos)
            if word == "NULL":
                return Literal("null", word, token.pos)
            if word in DATE_LITERALS:
                n = None
                if DATE_LITERALS[word]:
                    self.expect_punct(":")
                    n = self.integer()
                return Literal("relative", word, token.pos, n=n)
        raise self.unexpected(token)


def parse(query: str) -> Query:
    """The syntax tree of a SOQL SELECT; raises :class:`SoqlError` (``MALFORMED_QUERY``)."""
    return _Parser(tokenize(query)).query()
