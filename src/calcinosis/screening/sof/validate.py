"""ViewDefinition JSON -> a typed View, or a ViewDefinitionError naming the field at fault.

Every FHIRPath expression is parsed here, so a view that validates only fails later on its
data. The checks are the structure of the logical model (types, required elements, at most one
of forEach / forEachOrNull / repeat, constant values), the column rules of the processing
model (unique names, unionAll branches with the same columns in the same order) and constants
that are used but not defined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calcinosis.core.codes import FHIR_STRUCTURE_DEFINITION
from calcinosis.screening.sof import fhirpath
from calcinosis.screening.sof.errors import FhirPathSyntaxError, ViewDefinitionError

SQL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
TYPE_PREFIX = FHIR_STRUCTURE_DEFINITION
# Environment variables the compiler provides besides the view's constants.
BUILTINS = frozenset({"rowIndex", "resource", "rootResource", "context"})
MAX_NESTING = 32
_ELEMENT = {"id", "extension", "modifierExtension"}
_SELECT_KEYS = _ELEMENT | {"column", "select", "unionAll", "forEach", "forEachOrNull", "repeat"}
_COLUMN_KEYS = _ELEMENT | {"path", "name", "description", "collection", "type", "tag"}
_WHERE_KEYS = _ELEMENT | {"path", "description"}
# value[x] of a constant -> (FHIR type, the JSON type it must have)
_CONSTANT_TYPES: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "valueBoolean": ("boolean", bool),
    "valueDecimal": ("decimal", (int, float)),
    "valueInteger": ("integer", int),
    "valueInteger64": ("integer64", (int, str)),
    "valuePositiveInt": ("positiveInt", int),
    "valueUnsignedInt": ("unsignedInt", int),
}
_STRING_VALUES = ["Base64Binary", "Canonical", "Code", "Date", "DateTime", "Id", "Instant"]
_STRING_VALUES += ["Oid", "String", "Time", "Uri", "Url", "Uuid"]
_CONSTANT_TYPES |= {f"value{n}": (n[0].lower() + n[1:], str) for n in _STRING_VALUES}


@dataclass(frozen=True, slots=True)
class Expression:
    text: str
    node: fhirpath.Node
    where: str  # the field it came from, e.g. "select[0].column[1].path"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    path: Expression
    type: str | None  # FHIR type without the StructureDefinition prefix; None when not given
    collection: bool


@dataclass(frozen=True, slots=True)
class Select:
    columns: tuple[Column, ...]
    selects: tuple[Select, ...]
    union_all: tuple[Select, ...]
    for_each: Expression | None  # forEach or forEachOrNull
    or_null: bool
    repeat: tuple[Expression, ...]  # empty when the select does not repeat
    where: str


@dataclass(frozen=True, slots=True)
class Constant:
    name: str
    type: str  # FHIR type of the value[x]
    value: str | int | bool  # decimals keep their JSON spelling as text


@dataclass(frozen=True, slots=True)
class View:
    resource: str
    constants: Mapping[str, Constant]
    selects: tuple[Select, ...]
    where: tuple[Expression, ...]
    columns: tuple[Column, ...]  # every output column, in output order


def parse_view(view: object) -> View:
    """Check a ViewDefinition (parsed JSON) and return its typed form."""
    if not isinstance(view, dict):
        raise ViewDefinitionError("a ViewDefinition must be a JSON object")
    resource = view.get("resource")
    if not isinstance(resource, str) or not RESOURCE_TYPE.match(resource):
        raise ViewDefinitionError(
            f"resource: must name a FHIR resource type such as 'Patient', got {resource!r}"
        )
    constants = _constants(view.get("constant", []))
    selects = _list_of_objects(view.get("select"), "select", required=True)
    parsed = tuple(_select(s, f"select[{i}]", 0) for i, s in enumerate(selects))
    where = tuple(
        _expression(w, "path", f"where[{i}]", _WHERE_KEYS)
        for i, w in enumerate(_list_of_objects(view.get("where", []), "where"))
    )
    columns: list[Column] = []
    for select in parsed:
        columns.extend(_select_columns(select, columns))
    if not columns:
        raise ViewDefinitionError("select: the view defines no column")
    for expression in _expressions(parsed, where):
        nodes = fhirpath.walk(expression.node)
        used = {n.name for n in nodes if isinstance(n, fhirpath.External)}
        unknown = sorted(used - constants.keys() - BUILTINS)
        if unknown:
            raise ViewDefinitionError(
                f"{expression.where}: %{unknown[0]} is not a constant of the view"
            )
    return View(resource, constants, parsed, where, tuple(columns))


def _list_of_objects(value: object, where: str, *, required: bool = False) -> list[dict[str, Any]]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise ViewDefinitionError(f"{where}: must be a {'non-empty ' if required else ''}list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ViewDefinitionError(f"{where}[{i}]: must be an object")
    return value


def _unknown_keys(item: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ViewDefinitionError(f"{where}: unknown element {unknown[0]!r}")


def _parse(text: object, where: str) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ViewDefinitionError(f"{where}: must be a FHIRPath expression (a string)")
    try:
        return Expression(text, fhirpath.parse(text), where)
    except FhirPathSyntaxError as exc:
        raise ViewDefinitionError(f"{where}: {exc}") from exc


def _expression(item: dict[str, Any], key: str, where: str, allowed: set[str]) -> Expression:
    _unknown_keys(item, allowed, where)
    return _parse(item.get(key), f"{where}.{key}")


def _constants(value: object) -> dict[str, Constant]:
    constants: dict[str, Constant] = {}
    for i, item in enumerate(_list_of_objects(value, "constant")):
        where = f"constant[{i}]"
        name = item.get("name")
        if not isinstance(name, str) or not SQL_NAME.match(name):
            raise ViewDefinitionError(f"{where}.name: must match {SQL_NAME.pattern}")
        if name in constants or name in BUILTINS:
            raise ViewDefinitionError(f"{where}.name: {name!r} is defined twice")
        values = [k for k in item if k.startswith("value")]
        _unknown_keys(item, _ELEMENT | {"name", *_CONSTANT_TYPES}, where)
        if len(values) != 1:
            raise ViewDefinitionError(f"{where}: needs exactly one value[x], has {len(values)}")
        fhir_type, json_type = _CONSTANT_TYPES[values[0]]
        raw: str | int | float | bool = item[values[0]]
        if isinstance(raw, bool) is not (fhir_type == "boolean") or not isinstance(raw, json_type):
            raise ViewDefinitionError(f"{where}.{values[0]}: {raw!r} is not a {fhir_type}")
        constants[name] = Constant(name, fhir_type, _constant_value(raw, fhir_type, where))
    return constants


def _constant_value(raw: str | int | float | bool, fhir_type: str, where: str) -> str | int | bool:
    if fhir_type == "decimal" or isinstance(raw, float):
        return str(raw)
    if fhir_type == "integer64" and isinstance(raw, str):
        if not re.fullmatch(r"-?\d+", raw):
            raise ViewDefinitionError(f"{where}.valueInteger64: {raw!r} is not an integer")
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        low = {"positiveInt": 1, "unsignedInt": 0}.get(fhir_type)
        if low is not None and raw < low:
            raise ViewDefinitionError(f"{where}: {raw} is not a {fhir_type}")
    return raw


def _select(item: dict[str, Any], where: str, depth: int) -> Select:
    if depth > MAX_NESTING:
        raise ViewDefinitionError(f"{where}: selects nested deeper than {MAX_NESTING} levels")
    _unknown_keys(item, _SELECT_KEYS, where)
    iterations = [k for k in ("forEach", "forEachOrNull", "repeat") if k in item]
    if len(iterations) > 1:
        raise ViewDefinitionError(f"{where}: has both {iterations[0]} and {iterations[1]}")
    for_each = None
    if "forEach" in item or "forEachOrNull" in item:
        key = "forEach" if "forEach" in item else "forEachOrNull"
        for_each = _parse(item[key], f"{where}.{key}")
    repeat: tuple[Expression, ...] = ()
    if "repeat" in item:
        paths = item["repeat"]
        if not isinstance(paths, list) or not paths:
            raise ViewDefinitionError(f"{where}.repeat: must be a non-empty list of paths")
        repeat = tuple(_parse(p, f"{where}.repeat[{i}]") for i, p in enumerate(paths))
    columns = tuple(
        _column(c, f"{where}.column[{i}]")
        for i, c in enumerate(_list_of_objects(item.get("column", []), f"{where}.column"))
    )
    selects, unions = (
        tuple(
            _select(s, f"{where}.{key}[{i}]", depth + 1)
            for i, s in enumerate(_list_of_objects(item.get(key, []), f"{where}.{key}"))
        )
        for key in ("select", "unionAll")
    )
    return Select(columns, selects, unions, for_each, "forEachOrNull" in item, repeat, where)


def _column(item: dict[str, Any], where: str) -> Column:
    path = _expression(item, "path", where, _COLUMN_KEYS)
    name = item.get("name")
    if not isinstance(name, str) or not SQL_NAME.match(name):
        raise ViewDefinitionError(f"{where}.name: must match {SQL_NAME.pattern}, got {name!r}")
    collection = item.get("collection", False)
    if not isinstance(collection, bool):
        raise ViewDefinitionError(f"{where}.collection: must be true or false")
    fhir_type = item.get("type")
    if fhir_type is not None and (not isinstance(fhir_type, str) or not fhir_type.strip()):
        raise ViewDefinitionError(f"{where}.type: must be a FHIR type name or URI")
    if isinstance(fhir_type, str) and fhir_type.startswith(TYPE_PREFIX):
        fhir_type = fhir_type[len(TYPE_PREFIX) :]
    return Column(name, path, fhir_type, collection)


def _select_columns(select: Select, before: list[Column]) -> list[Column]:
    """The columns a select adds after `before`, checked as in the spec's ValidateColumns."""
    own: list[Column] = []

    def add(column: Column, where: str) -> None:
        # SQL engines fold the case of names: `id` and `ID` would be the same column
        if any(c.name.lower() == column.name.lower() for c in (*before, *own)):
            raise ViewDefinitionError(f"{where}: column {column.name!r} is defined twice")
        own.append(column)

    for i, column in enumerate(select.columns):
        add(column, f"{select.where}.column[{i}]")
    for sub in select.selects:
        for column in _select_columns(sub, [*before, *own]):
            add(column, sub.where)
    if select.union_all:
        first = _select_columns(select.union_all[0], [*before, *own])
        for branch in select.union_all[1:]:
            other = _select_columns(branch, [*before, *own])
            if [(c.name, c.type) for c in other] != [(c.name, c.type) for c in first]:
                raise ViewDefinitionError(
                    f"{branch.where}: unionAll branches must have the same columns (names and "
                    f"types, in order): {_signature(first)} vs {_signature(other)}"
                )
        for column in first:
            add(column, select.union_all[0].where)
    return own


def _signature(columns: list[Column]) -> str:
    return "(" + ", ".join(f"{c.name}: {c.type or 'untyped'}" for c in columns) + ")"


def _expressions(selects: tuple[Select, ...], where: tuple[Expression, ...]) -> list[Expression]:
    found = list(where)
    for select in selects:
        found.extend(c.path for c in select.columns)
        found.extend(([select.for_each] if select.for_each else []) + list(select.repeat))
        found.extend(_expressions(select.selects + select.union_all, ()))
    return found
