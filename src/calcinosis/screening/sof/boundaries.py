"""lowBoundary() and highBoundary(): the least and greatest values a value's precision allows.

`1.0` lies in [0.95, 1.05]; `1970-06` in [1970-06-01, 1970-06-30]; the dateTime `2010-10-10`
in [2010-10-10T00:00:00.000+14:00, 2010-10-10T23:59:59.999-12:00]; the time `12:34` in
[12:34:00.000, 12:34:59.999]. The input's type comes from ofType() or else from the column's
declared type. A precision argument is not supported.
"""

from __future__ import annotations

from calcinosis.screening.sof import fhirpath as fp
from calcinosis.screening.sof.dialects import DEC, STR
from calcinosis.screening.sof.expressions import (
    INTEGER_TYPES,
    Expr,
    Scope,
    Shape,
    as_item,
    as_value,
    compile_node,
    type_name,
)

TEMPORAL = ("date", "dateTime", "instant", "time")


def _target(node: fp.Call, scope: Scope) -> Expr:
    return scope.this if node.receiver is None else compile_node(node.receiver, scope)


def boundary(node: fp.Call, scope: Scope, low: bool) -> Expr:
    """`lowBoundary()` (low) or `highBoundary()` of the receiver."""
    if node.args:
        raise scope.fail(f"{node.name}() with a precision is not supported")
    target = _target(node, scope)
    fhir_type = target.type if target.type in (*TEMPORAL, DEC, *INTEGER_TYPES) else None
    if fhir_type is None and target.shape is not Shape.VALUE:
        fhir_type = scope.hint if scope.hint in (*TEMPORAL, DEC) else None
    if fhir_type is None:
        raise scope.fail(f"{node.name}() needs its input's type: use ofType() or a column type")
    d, env = scope.dialect, scope.env
    if fhir_type not in TEMPORAL:
        sign = "-" if low else "+"

        def bound(t: str) -> str:
            scale = f"CASE WHEN instr({t}, '.') > 0 THEN length({t}) - instr({t}, '.') ELSE 0 END"
            half = d.cast(f"'0.' || repeat('0', {scale}) || '5'", "DECIMAL(38, 18)")
            return d.cast(f"{d.cast(t, 'DECIMAL(38, 18)')} {sign} {half}", d.types[DEC])

        text = _number_text(node, target, scope)
        return Expr(d.let(text, env.var(), bound), Shape.VALUE, "decimal")
    text = as_value(target, STR, scope, f"{node.name}() needs one value")
    return Expr(_temporal(text, fhir_type, low, scope), Shape.VALUE, fhir_type)


def _number_text(node: fp.Call, target: Expr, scope: Scope) -> str:
    """The spelling of a number: its digits after the point are its precision."""
    d = scope.dialect
    if target.shape is Shape.VALUE:
        return target.spelling or d.cast(target.sql, d.types[STR])
    item = as_item(target, scope, f"{node.name}() needs one value")
    text = d.number_text(item)
    path = _root_path(node.receiver, scope) if node.receiver is not None else None
    raw = d.raw_number_text(path) if path else None
    if raw is None:
        return text
    # Spark's VARIANT drops trailing zeros (1.0 -> 1); the resource text still has them
    same = f"TRY_CAST({raw} AS DOUBLE) = {d.json_to(DEC, item)}"
    return f"coalesce(CASE WHEN {same} THEN {raw} END, {text})"


def _root_path(node: fp.Node, scope: Scope) -> list[str] | None:
    """The JSON member names of a path made only of members (and choice types) from the root."""
    match node:
        case fp.Name(name=name):
            return [name] if scope.this.root else None
        case fp.Member(receiver=receiver, name=name):
            path = _root_path(receiver, scope)
            return None if path is None else [*path, name]
        case fp.Call(receiver=fp.Name() | fp.Member() as receiver, name="ofType", args=(arg,)):
            path = _root_path(receiver, scope)
            wanted = type_name(arg, scope)
            return None if path is None else [*path[:-1], path[-1] + wanted[0].upper() + wanted[1:]]
    return None


def _temporal(text: str, fhir_type: str, low: bool, scope: Scope) -> str:
    d, env = scope.dialect, scope.env
    if fhir_type == "date":
        return d.let(text, env.var(), lambda s: _date(s, low, scope))
    if fhir_type == "time":
        return d.let(text, env.var(), lambda s: _time(s, low))
    no_zone = "'+14:00'" if low else "'-12:00'"
    midnight = "'T00:00:00.000+14:00'" if low else "'T23:59:59.999-12:00'"
    zone_pattern = "(Z|[+-][0-9]{2}:[0-9]{2})$"

    def clock(s: str, rest: str, zone: str) -> str:
        time = d.let(
            f"substr({rest}, 1, length({rest}) - length({zone}))",
            env.var(),
            lambda t: _time(t, low),
        )
        zoned = f"CASE WHEN {zone} = '' THEN {no_zone} ELSE {zone} END"
        return f"{_date(f'substr({s}, 1, 10)', low, scope)} || 'T' || {time} || {zoned}"

    def date_time(s: str) -> str:
        with_time = d.let(
            f"substr({s}, instr({s}, 'T') + 1)",
            env.var(),
            lambda rest: d.let(
                f"coalesce({d.regexp_extract(rest, zone_pattern, 1)}, '')",
                env.var(),
                lambda zone: clock(s, rest, zone),
            ),
        )
        without = f"{_date(s, low, scope)} || {midnight}"
        return f"CASE WHEN instr({s}, 'T') = 0 THEN {without} ELSE {with_time} END"

    return d.let(text, env.var(), date_time)


def _date(s: str, low: bool, scope: Scope) -> str:
    d = scope.dialect
    if low:
        return f"CASE length({s}) WHEN 4 THEN {s} || '-01-01' WHEN 7 THEN {s} || '-01' ELSE {s} END"
    year_month = f"CAST(substr({s}, 1, 4) AS INTEGER), CAST(substr({s}, 6, 2) AS INTEGER)"
    last = d.cast(f"last_day(make_date({year_month}, 1))", d.types[STR])
    return f"CASE length({s}) WHEN 4 THEN {s} || '-12-31' WHEN 7 THEN {last} ELSE {s} END"


def _time(s: str, low: bool) -> str:
    minute, second, milli, digit = ("00", "00", "000", "0") if low else ("59", "59", "999", "9")
    return (
        f"CASE length({s}) WHEN 2 THEN {s} || ':{minute}:{second}.{milli}' "
        f"WHEN 5 THEN {s} || ':{second}.{milli}' WHEN 8 THEN {s} || '.{milli}' "
        f"ELSE rpad(substr({s}, 1, 12), 12, '{digit}') END"
    )
