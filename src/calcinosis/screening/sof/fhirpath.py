"""A parser of FHIRPath (the grammar of FHIRPath N1, without quantities) into a small typed AST.

`parse("name.where(use = 'official').family")` gives
`Member(Call(Name("name"), "where", (Binary("=", Name("use"), Literal("official")),)), "family")`.
It is a Pratt parser: each operator has a binding power, FHIRPath's precedence table from
invocation (tightest) down to `implies`. What the AST means is the compiler's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from calcinosis.screening.sof.errors import FhirPathSyntaxError

MAX_LENGTH = 10_000
MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | Decimal | bool | None
    type: str  # string, integer, decimal, boolean, date, dateTime, time; "empty" for {}
    text: str = ""  # the source spelling of a number (its precision matters to lowBoundary)


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier that starts a path: a member of `$this`, or a type name in `ofType(T)`."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    receiver: Node
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    receiver: Node | None  # None: called on $this, e.g. `where(...)` at the start of a path
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Index:
    receiver: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Variable:
    name: str  # this, index, total ($this ...)


@dataclass(frozen=True, slots=True)
class External:
    name: str  # %name: a constant of the view, or rowIndex, resource ...


@dataclass(frozen=True, slots=True)
class TypeTest:
    op: str  # is, as
    operand: Node
    type_name: str


Node = Literal | Name | Member | Call | Index | Binary | Unary | Variable | External | TypeTest

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<delimited>`(?:[^`\\]|\\.)*`)
  | (?P<datetime>@T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?
                |@\d{4}(?:-\d{2}(?:-\d{2})?)?
                 (?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<external>%(?:[A-Za-z_][A-Za-z0-9_]*|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`))
  | (?P<variable>\$(?:this|index|total)\b)
  | (?P<op><=|>=|!=|!~|[-.\[\](),+*/&|<>=~{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/"}
_ESCAPES |= {"f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)

# Binding powers of the infix operators; higher binds tighter.
_INFIX = {"implies": 10, "or": 20, "xor": 20, "and": 30, "in": 40, "contains": 40}
_INFIX |= {"=": 50, "~": 50, "!=": 50, "!~": 50, "<": 60, ">": 60, "<=": 60, ">=": 60}
_INFIX |= {"|": 70, "is": 80, "as": 80, "+": 90, "-": 90, "&": 90}
_INFIX |= {"*": 100, "/": 100, "div": 100, "mod": 100, ".": 120, "[": 120}
_PREFIX_POWER = 110


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    position: int


def parse(expression: str) -> Node:
    """Parse one FHIRPath expression; raise FhirPathSyntaxError saying where it went wrong."""
    if len(expression) > MAX_LENGTH:
        raise FhirPathSyntaxError(f"longer than {MAX_LENGTH} characters", expression[:40], 0)
    return _Parser(expression).parse_all()


def _unescape(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, body)


def _tokens(expression: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise FhirPathSyntaxError(
                f"unexpected character {expression[position]!r}", expression, position
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.at = 0
        self.depth = 0

    def fail(self, message: str, token: _Token | None = None) -> FhirPathSyntaxError:
        where = (token or self.tokens[self.at]).position
        return FhirPathSyntaxError(message, self.expression, where)

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise self.fail(f"expected {text!r}", token)

    def parse_all(self) -> Node:
        node = self.expression_(0)
        if self.peek().kind != "end":
            raise self.fail(f"unexpected {self.peek().text!r}")
        return node

    def expression_(self, power: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels")
        left = self.prefix(self.take())
        while power < self.infix_power(self.peek()):
            left = self.infix(left, self.take())
        self.depth -= 1
        return left

    def infix_power(self, token: _Token) -> int:
        if token.kind in ("op", "ident") and token.text in _INFIX:
            return _INFIX[token.text]
        return 0

    def prefix(self, token: _Token) -> Node:
        kind, text = token.kind, token.text
        if kind == "number":
            if "." in text:
                return Literal(Decimal(text), "decimal", text)
            return Literal(int(text), "integer", text)
        if kind == "string":
            return Literal(_unescape(text[1:-1]), "string")
        if kind == "datetime":
            return _date_literal(text[1:])
        if kind == "ident" and text in ("true", "false"):
            return Literal(text == "true", "boolean")
        if kind in ("ident", "delimited"):
            name = text if kind == "ident" else _unescape(text[1:-1])
            if kind == "ident" and self.peek().text == "(":
                return Call(None, name, self.arguments())
            return Name(name)
        if kind == "external":
            body = text[1:]
            return External(_unescape(body[1:-1]) if body[0] in "'`" else body)
        if kind == "variable":
            return Variable(text[1:])
        if kind == "op" and text == "(":
            inner = self.expression_(0)
            self.expect(")")
            return inner
        if kind == "op" and text == "{":
            self.expect("}")
            return Literal(None, "empty")
        if kind == "op" and text in "+-":
            return Unary(text, self.expression_(_PREFIX_POWER))
        message = "unexpected end of expression" if kind == "end" else f"unexpected {text!r}"
        raise self.fail(message, token)

    def infix(self, left: Node, token: _Token) -> Node:
        text = token.text
        if text == ".":
            name_token = self.take()
            if name_token.kind not in ("ident", "delimited"):
                raise self.fail("expected a name after '.'", name_token)
            delimited = name_token.kind == "delimited"
            name = _unescape(name_token.text[1:-1]) if delimited else name_token.text
            if not delimited and self.peek().text == "(":
                return Call(left, name, self.arguments())
            return Member(left, name)
        if text == "[":
            index = self.expression_(0)
            self.expect("]")
            return Index(left, index)
        if text in ("is", "as"):
            return TypeTest(text, left, self.type_name())
        return Binary(text, left, self.expression_(_INFIX[text]))

    def arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        if self.peek().text != ")":
            args.append(self.expression_(0))
            while self.peek().text == ",":
                self.take()
                args.append(self.expression_(0))
        self.expect(")")
        return tuple(args)

    def type_name(self) -> str:
        parts = [self.take()]
        while self.peek().text == "." and self.tokens[self.at + 1].kind == "ident":
            self.take()
            parts.append(self.take())
        if any(p.kind != "ident" for p in parts):
            raise self.fail("expected a type name", parts[0])
        return ".".join(p.text for p in parts)


def _date_literal(text: str) -> Literal:
    if text.startswith("T"):
        return Literal(text[1:], "time")
    if "T" in text:
        return Literal(text.rstrip("T"), "dateTime")
    return Literal(text, "date")


def walk(node: Node) -> Iterator[Node]:
    """The node and every node below it, depth first."""
    yield node
    for child in _children(node):
        yield from walk(child)


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Member() | TypeTest():
            return (node.receiver,) if isinstance(node, Member) else (node.operand,)
        case Index():
            return (node.receiver, node.index)
        case Call():
            return ((node.receiver,) if node.receiver is not None else ()) + node.args
        case Binary():
            return (node.left, node.right)
        case Unary():
            return (node.operand,)
    return ()
