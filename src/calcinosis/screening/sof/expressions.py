"""FHIRPath AST -> SQL expressions, for one dialect.

Every compiled expression has a shape: ITEMS (a list of JSON values: a FHIRPath collection),
ITEM (at most one JSON value; SQL NULL is the empty collection) or VALUE (a typed SQL scalar:
a literal, a constant, the result of an operator or of exists() ...). Shapes are converted
where an operator needs another; a collection used where one value is needed raises an error
in the SQL when it holds several, as FHIRPath asks. Operators are in `operators.py`,
functions in `functions.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from calcinosis.screening.sof import fhirpath as fp
from calcinosis.screening.sof.dialects import BOOL, DEC, INT, STR, Dialect
from calcinosis.screening.sof.errors import ViewDefinitionError
from calcinosis.screening.sof.validate import Constant

INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
STRING_TYPES = frozenset(
    {"string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown"}
    | {"base64Binary", "date", "dateTime", "instant", "time", "xhtml"}
)
MEMBER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYSTEM_TYPES = {"String": "string", "Boolean": "boolean", "Integer": "integer"}
_SYSTEM_TYPES |= {"Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time"}


class Shape(Enum):
    ITEM = "item"
    ITEMS = "items"
    VALUE = "value"


@dataclass(frozen=True, slots=True)
class Expr:
    sql: str
    shape: Shape
    type: str | None = None  # FHIR type of the value(s) when known
    root: bool = False  # the resource itself: its members are read from pre-extracted columns
    spelling: str | None = None  # SQL string of a decimal literal's spelling (for boundaries)


@dataclass
class Env:
    """What one compilation shares: fresh variable names and the root members it reads."""

    count: int = 0
    root_members: dict[str, str] = field(default_factory=dict)

    def var(self) -> str:
        self.count += 1
        return f"__v{self.count}"

    def root_member(self, name: str) -> str:
        return self.root_members.setdefault(name, f"__m{len(self.root_members)}")


@dataclass(frozen=True, slots=True)
class Scope:
    dialect: Dialect
    env: Env
    constants: Mapping[str, Constant]
    resource: str
    this: Expr
    root: Expr
    row_index: str
    where: str  # the field being compiled, for messages
    hint: str | None = None  # the declared type of the column being compiled

    def child(self, **changes: Any) -> Scope:
        return replace(self, **changes)

    def fail(self, message: str) -> ViewDefinitionError:
        return ViewDefinitionError(f"{self.where}: {message}")


def kind_of(fhir_type: str | None) -> str | None:
    """The SQL kind a FHIR primitive type is held in; None for complex or unknown types."""
    if fhir_type == "boolean":
        return BOOL
    if fhir_type in INTEGER_TYPES:
        return INT
    if fhir_type == "decimal":
        return DEC
    return STR if fhir_type in STRING_TYPES else None


def type_name(node: fp.Node, scope: Scope) -> str:
    """A type specifier (`Quantity`, `FHIR.string`, `System.Integer`) as a FHIR type name."""
    match node:
        case fp.Name(name=name):
            return name
        case fp.Member(receiver=fp.Name(name="FHIR"), name=name):
            return name
        case fp.Member(receiver=fp.Name(name="System"), name=name) if name in _SYSTEM_TYPES:
            return _SYSTEM_TYPES[name]
    raise scope.fail("expected a type name")


def compile_node(node: fp.Node, scope: Scope) -> Expr:
    # functions and operators compile their operands with this function
    from calcinosis.screening.sof.functions import call
    from calcinosis.screening.sof.operators import binary

    d = scope.dialect
    match node:
        case fp.Literal():
            return _literal(node, scope)
        case fp.Name(name=name):
            if name == scope.resource and scope.this.root:
                return scope.this
            return member(scope.this, name, scope)
        case fp.Member(receiver=receiver, name=name):
            return member(compile_node(receiver, scope), name, scope)
        case fp.Index(receiver=receiver, index=index):
            position = as_value(compile_node(index, scope), INT, scope)
            natural = isinstance(index, fp.Literal) and index.type == "integer"
            return item_at(compile_node(receiver, scope), position, scope, guard=not natural)
        case fp.Call():
            return call(node, scope)
        case fp.Binary(op=op, left=left, right=right):
            return binary(op, compile_node(left, scope), compile_node(right, scope), scope)
        case fp.Unary(op=op, operand=operand):
            value = compile_node(operand, scope)
            kind = INT if kind_of(value.type) == INT else DEC
            sql = as_value(value, kind, scope)
            return Expr(f"(-{sql})" if op == "-" else sql, Shape.VALUE, kind)
        case fp.Variable(name="this"):
            return scope.this
        case fp.External(name="rowIndex"):
            return Expr(scope.row_index, Shape.VALUE, INT)
        case fp.External(name=name) if name in ("resource", "rootResource", "context"):
            return scope.root
        case fp.External(name=name):
            constant = scope.constants.get(name)
            if constant is None:
                raise scope.fail(f"%{name} is not a constant of the view")
            return _constant(constant, d)
        case fp.TypeTest(op=op, operand=operand, type_name=name):
            call_node = fp.Call(operand, "ofType", (fp.Name(name),))
            if op == "as":
                return call(call_node, scope)
            return call(fp.Call(call_node, "exists", ()), scope)
    raise scope.fail(f"{type(node).__name__} expressions are not supported")


def _literal(node: fp.Literal, scope: Scope) -> Expr:
    d = scope.dialect
    if node.type == "empty":
        return Expr(d.list_of([], d.json), Shape.ITEMS)
    if node.type == "boolean":
        return Expr("true" if node.value else "false", Shape.VALUE, "boolean")
    if node.type == "integer":
        return Expr(d.cast(str(node.value), d.types[INT]), Shape.VALUE, "integer")
    if node.type == "decimal":
        spelling = d.string(node.text)
        return Expr(d.cast(spelling, d.types[DEC]), Shape.VALUE, "decimal", spelling=spelling)
    return Expr(d.string(str(node.value)), Shape.VALUE, node.type)


def _constant(constant: Constant, d: Dialect) -> Expr:
    kind = kind_of(constant.type)
    if kind == BOOL:
        return Expr("true" if constant.value else "false", Shape.VALUE, "boolean")
    if kind == INT:
        return Expr(d.cast(str(constant.value), d.types[INT]), Shape.VALUE, constant.type)
    if kind == DEC:
        spelling = d.string(str(constant.value))
        return Expr(d.cast(spelling, d.types[DEC]), Shape.VALUE, "decimal", spelling=spelling)
    return Expr(d.string(str(constant.value)), Shape.VALUE, constant.type)


def member(target: Expr, name: str, scope: Scope) -> Expr:
    """`target.name`: the values of a member of every item, as one collection."""
    if not MEMBER_NAME.match(name):
        raise scope.fail(f"{name!r} is not a FHIR element name")
    d, env = scope.dialect, scope.env
    if target.root:
        return Expr(env.root_member(name), Shape.ITEMS)
    if target.shape is Shape.ITEM:
        return Expr(d.member(target.sql, name, env.var()), Shape.ITEMS)
    if target.shape is Shape.ITEMS:
        var = env.var()
        return Expr(
            d.flatten(d.transform(target.sql, var, d.member(var, name, env.var()))), Shape.ITEMS
        )
    return Expr(d.list_of([], d.json), Shape.ITEMS)  # a primitive value has no members


def item_at(target: Expr, position: str, scope: Scope, *, guard: bool = True) -> Expr:
    """`target[position]`, 0-based; empty when out of range. `guard`: position may be < 0."""
    if target.shape is not Shape.ITEMS:
        return Expr(f"CASE WHEN {position} = 0 THEN {target.sql} END", target.shape, target.type)
    sql = scope.dialect.element(target.sql, position)
    if guard:
        sql = f"CASE WHEN {position} >= 0 THEN {sql} END"
    return Expr(sql, Shape.ITEM, target.type)


def as_items(value: Expr, scope: Scope) -> str:
    """Any shape as a list of JSON values."""
    d = scope.dialect
    if value.shape is Shape.ITEMS:
        return value.sql
    item = value.sql if value.shape is Shape.ITEM else d.to_json(value.sql)
    var = scope.env.var()
    return d.filter(d.list_of([item], d.json), var, f"{var} IS NOT NULL")


def as_item(value: Expr, scope: Scope, what: str) -> str:
    """Any shape as one JSON value; several values make the SQL raise an error."""
    d = scope.dialect
    if value.shape is Shape.ITEM:
        return value.sql
    if value.shape is Shape.VALUE:
        return d.to_json(value.sql)
    refuse = d.error(f"{scope.where}: {what}")
    return d.let(
        value.sql,
        scope.env.var(),
        lambda v: f"CASE WHEN {d.length(v)} > 1 THEN {refuse} ELSE {d.element(v, '0')} END",
    )


def as_value(value: Expr, kind: str, scope: Scope, what: str = "expected one value") -> str:
    """Any shape as one SQL value of `kind` (NULL when empty or not convertible)."""
    d = scope.dialect
    if value.shape is Shape.VALUE:
        if kind_of(value.type) == kind:
            return value.sql
        return f"TRY_CAST({value.sql} AS {d.types[kind]})"
    return d.json_to(kind, as_item(value, scope, what))


def as_bool(value: Expr, scope: Scope) -> str:
    """FHIRPath's boolean evaluation of a collection: empty stays empty, one boolean is itself,
    one other value is true, several are an error."""
    d = scope.dialect
    kind = kind_of(value.type)
    if value.shape is Shape.VALUE:
        return value.sql if kind == BOOL else f"CASE WHEN {value.sql} IS NOT NULL THEN true END"
    item = as_item(value, scope, "a boolean test got several values")
    if kind == BOOL:
        return d.json_to(BOOL, item)
    return d.let(
        item,
        scope.env.var(),
        lambda v: (
            f"CASE WHEN {v} IS NULL THEN NULL WHEN {d.json_is(v, 'boolean')} "
            f"THEN {d.json_to(BOOL, v)} ELSE true END"
        ),
    )
