"""The FHIRPath functions a view may call, compiled to SQL.

where, exists, empty, first, last, count, not, ofType, extension, join, getResourceKey,
getReferenceKey, lowBoundary and highBoundary; anything else is refused when the view is
compiled. Keys are resource ids: `getReferenceKey()` reads the id out of `Type/id` (relative,
or an absolute URL ending so, with or without `/_history/n`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from calcinosis.screening.sof import fhirpath as fp
from calcinosis.screening.sof.boundaries import boundary
from calcinosis.screening.sof.dialects import BOOL, DEC, INT, STR
from calcinosis.screening.sof.expressions import (
    Expr,
    Scope,
    Shape,
    as_bool,
    as_items,
    as_value,
    compile_node,
    item_at,
    kind_of,
    member,
    type_name,
)

# `Type/id`, alone or ending a URL, maybe with a version; a leading `.*` would backtrack
REFERENCE = r"(?:^|/){type}/([A-Za-z0-9.-]{{1,64}})(?:/_history/[^/]*)?$"
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_FAMILY = {BOOL: "boolean", INT: "integer", DEC: "number", STR: "string"}


def call(node: fp.Call, scope: Scope) -> Expr:
    """Compile `node.name(args)` called on `node.receiver` (or on $this)."""
    entry = _FUNCTIONS.get(node.name)
    if entry is None:
        raise scope.fail(f"the function {node.name}() is not supported")
    low, high, compile_call = entry
    if not low <= len(node.args) <= high:
        count = str(low) if low == high else f"{low} to {high}"
        raise scope.fail(f"{node.name}() takes {count} argument(s), not {len(node.args)}")
    return compile_call(node, scope)


def _target(node: fp.Call, scope: Scope) -> Expr:
    return scope.this if node.receiver is None else compile_node(node.receiver, scope)


def filtered(target: Expr, criteria: fp.Node, scope: Scope) -> Expr:
    """`target.where(criteria)`, criteria evaluated with each item as $this."""
    d, env = scope.dialect, scope.env

    def test(this: Expr) -> str:
        return as_bool(compile_node(criteria, scope.child(this=this)), scope)

    if target.shape is Shape.VALUE or target.root:
        return Expr(f"CASE WHEN {test(target)} THEN {target.sql} END", target.shape, target.type)
    if target.shape is Shape.ITEMS:
        var = env.var()
        kept = d.filter(target.sql, var, test(Expr(var, Shape.ITEM, target.type)))
        return Expr(kept, Shape.ITEMS, target.type)
    sql = d.let(
        target.sql,
        env.var(),
        lambda v: f"CASE WHEN {test(Expr(v, Shape.ITEM, target.type))} THEN {v} END",
    )
    return Expr(sql, Shape.ITEM, target.type)


def exists(target: Expr, scope: Scope) -> str:
    if target.shape is Shape.ITEMS:
        return f"({scope.dialect.length(target.sql)} > 0)"
    return f"({target.sql} IS NOT NULL)"


def _where(node: fp.Call, scope: Scope) -> Expr:
    return filtered(_target(node, scope), node.args[0], scope)


def _exists(node: fp.Call, scope: Scope) -> Expr:
    target = _target(node, scope)
    if node.args:
        target = filtered(target, node.args[0], scope)
    return Expr(exists(target, scope), Shape.VALUE, "boolean")


def _empty(node: fp.Call, scope: Scope) -> Expr:
    return Expr(f"(NOT {exists(_target(node, scope), scope)})", Shape.VALUE, "boolean")


def _count(node: fp.Call, scope: Scope) -> Expr:
    target, d = _target(node, scope), scope.dialect
    if target.shape is Shape.ITEMS:
        return Expr(d.cast(d.length(target.sql), d.types[INT]), Shape.VALUE, "integer")
    sql = f"CASE WHEN {target.sql} IS NULL THEN 0 ELSE 1 END"
    return Expr(d.cast(sql, d.types[INT]), Shape.VALUE, "integer")


def _first(node: fp.Call, scope: Scope) -> Expr:
    return item_at(_target(node, scope), "0", scope, guard=False)


def _last(node: fp.Call, scope: Scope) -> Expr:
    target, d = _target(node, scope), scope.dialect
    if target.shape is not Shape.ITEMS:
        return target
    sql = d.let(
        target.sql,
        scope.env.var(),
        lambda v: f"CASE WHEN {d.length(v)} > 0 THEN {d.element(v, f'{d.length(v)} - 1')} END",
    )
    return Expr(sql, Shape.ITEM, target.type)


def _not(node: fp.Call, scope: Scope) -> Expr:
    return Expr(f"(NOT {as_bool(_target(node, scope), scope)})", Shape.VALUE, "boolean")


def _of_type(node: fp.Call, scope: Scope) -> Expr:
    wanted = type_name(node.args[0], scope)
    receiver = node.receiver
    family = _FAMILY.get(kind_of(wanted) or "", "object")
    d, env = scope.dialect, scope.env
    if isinstance(receiver, fp.Name | fp.Member):
        # value.ofType(Quantity) is the choice element valueQuantity. A primitive type may also
        # be asked of a plain element (telecom.value.ofType(string)), which without the FHIR
        # model cannot be told apart: both are read. Complex types only come from choices.
        base = (
            scope.this if isinstance(receiver, fp.Name) else compile_node(receiver.receiver, scope)
        )
        choice = member(base, receiver.name + wanted[0].upper() + wanted[1:], scope)
        if family == "object":
            return Expr(choice.sql, Shape.ITEMS, wanted)
        plain, var = member(base, receiver.name, scope), env.var()
        same = d.filter(plain.sql, var, d.json_is(var, family))
        return Expr(d.concat([choice.sql, same]), Shape.ITEMS, wanted)
    target = _target(node, scope)
    if target.shape is Shape.VALUE:
        matches = kind_of(target.type) == kind_of(wanted) and kind_of(wanted) is not None
        return target if matches else Expr(d.list_of([], d.json), Shape.ITEMS)
    var = env.var()
    return Expr(d.filter(as_items(target, scope), var, d.json_is(var, family)), Shape.ITEMS, wanted)


def _extension(node: fp.Call, scope: Scope) -> Expr:
    url = as_value(compile_node(node.args[0], scope), STR, scope)
    extensions = member(_target(node, scope), "extension", scope)
    d, var = scope.dialect, scope.env.var()
    test = f"{d.extract_text(var, 'url')} = {url}"
    return Expr(d.filter(extensions.sql, var, test), Shape.ITEMS)


def _join(node: fp.Call, scope: Scope) -> Expr:
    d = scope.dialect
    separator = as_value(compile_node(node.args[0], scope), STR, scope) if node.args else "''"
    items, var = as_items(_target(node, scope), scope), scope.env.var()
    return Expr(d.join(d.transform(items, var, d.json_to(STR, var)), separator), Shape.VALUE, STR)


def _resource_key(node: fp.Call, scope: Scope) -> Expr:
    key = as_value(member(scope.root, "id", scope), STR, scope, "the resource has several ids")
    return Expr(key, Shape.VALUE, "string")


def _reference_key(node: fp.Call, scope: Scope) -> Expr:
    wanted = type_name(node.args[0], scope) if node.args else "[A-Z][A-Za-z]+"
    if node.args and not RESOURCE_TYPE.match(wanted):
        raise scope.fail(f"getReferenceKey({wanted}): not a resource type")
    d, env = scope.dialect, scope.env
    target = _target(node, scope)
    pattern = REFERENCE.format(type=wanted)

    def key(item: str) -> str:
        return d.regexp_extract(d.extract_text(item, "reference"), pattern, 1)

    if target.shape is Shape.ITEM:
        return Expr(key(target.sql), Shape.VALUE, "string")
    var, out = env.var(), env.var()
    keys = d.transform(as_items(target, scope), var, d.to_json(key(var)))
    return Expr(d.filter(keys, out, f"{out} IS NOT NULL"), Shape.ITEMS, "string")


_Compile = Callable[[fp.Call, Scope], Expr]
_FUNCTIONS: dict[str, tuple[int, int, _Compile]] = {
    "where": (1, 1, _where),
    "exists": (0, 1, _exists),
    "empty": (0, 0, _empty),
    "count": (0, 0, _count),
    "first": (0, 0, _first),
    "last": (0, 0, _last),
    "not": (0, 0, _not),
    "ofType": (1, 1, _of_type),
    "extension": (1, 1, _extension),
    "join": (0, 1, _join),
    "getResourceKey": (0, 0, _resource_key),
    "getReferenceKey": (0, 1, _reference_key),
    "lowBoundary": (0, 1, lambda node, scope: boundary(node, scope, low=True)),
    "highBoundary": (0, 1, lambda node, scope: boundary(node, scope, low=False)),
}
