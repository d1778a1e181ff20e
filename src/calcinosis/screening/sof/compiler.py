"""A ViewDefinition -> one SQL query, for DuckDB or Spark SQL, over a relation of JSON resources.

The query is a chain of CTEs over `source` (one column `resource`, each resource as JSON text):

    __doc   the resources of the view's type, each parsed once; the root members the view
            reads as JSON columns
    __root  those members as FHIRPath collections (lists of JSON values)
    __rows  the view's `where`; the columns with one value per resource; and, per forEach /
            forEachOrNull / repeat / unionAll, one list of row structs per resource
    SELECT  each list unnested (sibling lists cross join, as the spec's product of selects),
            the columns in the view's order

A view without forEach, repeat or unionAll needs no lists: one row in, one row out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from calcinosis.screening.sof.dialects import BOOL, STR, Dialect
from calcinosis.screening.sof.duckdb_sql import DuckDB
from calcinosis.screening.sof.errors import ViewDefinitionError
from calcinosis.screening.sof.expressions import (
    Env,
    Expr,
    Scope,
    Shape,
    as_item,
    as_items,
    as_value,
    compile_node,
    kind_of,
)
from calcinosis.screening.sof.spark_sql import Spark
from calcinosis.screening.sof.validate import Column, Expression, Select, View, parse_view

# How deep `repeat` follows its paths; a resource nested deeper makes the query fail loudly.
REPEAT_DEPTH = 32
DIALECTS: dict[str, Dialect] = {"duckdb": DuckDB(), "spark": Spark()}
SOURCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True, slots=True)
class CompiledView:
    """The SQL of a view and its output columns as (name, FHIR type), in order. `members` are
    the top-level elements of the resource the view reads (besides `resourceType`), or None
    when it reads the resource as a whole: a resource reduced to them gives the same rows."""

    sql: str
    columns: list[tuple[str, str]]
    members: tuple[str, ...] | None = None


def compile_view(view: dict[str, Any], dialect: str, source: str) -> CompiledView:
    """Compile a ViewDefinition to one SELECT for `dialect` ("duckdb" or "spark") reading
    `source`, a table or view with a column `resource` of JSON text (DuckDB VARCHAR or JSON,
    Spark STRING). The query keeps the resources of the view's type itself. Raises
    ViewDefinitionError for an invalid view, ValueError for an unknown dialect or a source
    that is not a plain (optionally dotted) SQL name."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}: use one of {sorted(DIALECTS)}")
    if not SOURCE.match(source):
        raise ValueError(f"source {source!r} must be a table or view name")
    return _Compiler(parse_view(view), DIALECTS[dialect]).compile(source)


@dataclass
class _Rows:
    """The rows of a select for one focus: the product of single values (one row) and lists
    of row structs. `order` is the select's columns in output order."""

    order: list[str] = field(default_factory=list)
    single: dict[str, str] = field(default_factory=dict)
    lists: list[tuple[str, list[str]]] = field(default_factory=list)

    def product(self, other: _Rows) -> _Rows:
        return _Rows(self.order + other.order, self.single | other.single, self.lists + other.lists)


class _Compiler:
    def __init__(self, view: View, dialect: Dialect) -> None:
        self.view, self.d, self.env = view, dialect, Env()
        root = Expr(dialect.root, Shape.ITEM, view.resource, root=True)
        zero = dialect.cast("0", dialect.types["integer"])
        self.scope = Scope(dialect, self.env, view.constants, view.resource, root, root, zero, "")
        self.types: dict[str, str] = {}  # column -> FHIR type of its values
        self.sql_types: dict[str, str] = {}

    def compile(self, source: str) -> CompiledView:
        d = self.d
        rows = _Rows()
        for select in self.view.selects:
            rows = rows.product(self.select(select, self.scope))
        conditions = [f"coalesce({self.where(w)}, false)" for w in self.view.where]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        members = self.env.root_members
        spread = [
            f", {d.spread(f'__p{i}', self.env.var())} AS {column}"
            for i, column in enumerate(members.values())
        ]
        ctes = [
            f"__doc AS ({d.documents(source, self.view.resource, list(members))})",
            f"__root AS (SELECT *{''.join(spread)} FROM __doc)",
        ]
        if not rows.lists:
            columns = ", ".join(f"{rows.single[c]} AS {d.ident(c)}" for c in rows.order)
            body = f"SELECT {columns} FROM __root{where}"
        else:
            computed = [f"{sql} AS {d.ident(c)}" for c, sql in rows.single.items()]
            computed += [f"{sql} AS __l{k}" for k, (sql, _) in enumerate(rows.lists)]
            ctes.append(f"__rows AS (SELECT {', '.join(computed)} FROM __root{where})")
            joins = "".join(
                d.unnest("__rows", f"__l{k}", f"__r{k}") for k in range(len(rows.lists))
            )
            owner = {c: f"__r{k}" for k, (_, names) in enumerate(rows.lists) for c in names}
            columns = ", ".join(
                d.ident(c) if c in rows.single else f"{d.field(owner[c], c)} AS {d.ident(c)}"
                for c in rows.order
            )
            body = f"SELECT {columns} FROM __rows{joins}"
        sql = "WITH " + ",\n".join(ctes) + "\n" + body
        whole = any(d.root in part for part in (*ctes[1:], body))
        return CompiledView(
            sql,
            [(c.name, self.types[c.name]) for c in self.view.columns],
            None if whole else tuple(members),
        )

    def select(self, select: Select, scope: Scope) -> _Rows:
        d, env = self.d, self.env
        if select.repeat:
            items = self.repeat(select, scope)
        elif select.for_each is not None:
            path = select.for_each
            items = as_items(compile_node(path.node, scope.child(where=path.where)), scope)
        else:
            return self.body(select, scope)
        focus, index = env.var(), env.var()
        inner = scope.child(this=Expr(focus, Shape.ITEM), row_index=d.row_index(index))
        body = self.body(select, inner)
        rows = self.materialize(body, body.order)
        if not select.or_null:
            each = d.flatten(d.transform(items, focus, rows, index))
        else:
            # The row of an empty forEachOrNull: its columns evaluated on an empty focus with
            # %rowIndex 0 (so `family` is null and %rowIndex is 0); nested iterations null.
            empty = Expr(d.list_of([], d.json), Shape.ITEMS)
            alone = self.body(select, scope.child(this=empty, row_index=self.scope.row_index))
            nulls = [(c, alone.single.get(c, d.null(self.sql_types[c]))) for c in body.order]
            each = d.let(
                items,
                env.var(),
                lambda found: (
                    f"CASE WHEN {d.length(found)} = 0 THEN "
                    f"{d.list_of([d.struct(nulls)], None)} "
                    f"ELSE {d.flatten(d.transform(found, focus, rows, index))} END"
                ),
            )
        return _Rows(list(body.order), {}, [(each, list(body.order))])

    def body(self, select: Select, scope: Scope) -> _Rows:
        rows = _Rows(
            [c.name for c in select.columns],
            {c.name: self.column(c, scope) for c in select.columns},
        )
        for sub in select.selects:
            rows = rows.product(self.select(sub, scope))
        if select.union_all:
            branches = [self.select(b, scope) for b in select.union_all]
            order = branches[0].order
            union = self.d.concat([self.materialize(b, order) for b in branches])
            rows = rows.product(_Rows(list(order), {}, [(union, list(order))]))
        return rows

    def materialize(self, rows: _Rows, order: list[str]) -> str:
        """The rows as one SQL list of structs with fields `order`."""
        d = self.d
        names = [self.env.var() for _ in rows.lists]
        owner = {c: name for name, (_, cols) in zip(names, rows.lists, strict=True) for c in cols}
        fields = [(c, rows.single[c] if c in rows.single else d.field(owner[c], c)) for c in order]
        result = d.list_of([d.struct(fields)], None)
        for name, (items, _) in reversed(list(zip(names, rows.lists, strict=True))):
            result = d.flatten(d.transform(items, name, result))
        return result

    def column(self, column: Column, scope: Scope) -> str:
        d = self.d
        path = column.path
        value = compile_node(path.node, scope.child(where=path.where, hint=column.type))
        fhir_type = column.type or value.type or "string"
        kind = kind_of(fhir_type) or STR
        self.types[column.name] = fhir_type
        inner = scope.child(where=path.where)
        if column.collection:
            var = self.env.var()
            sql_type = d.list_type(d.types[kind])
            self.sql_types[column.name] = sql_type
            values = d.transform(as_items(value, inner), var, d.json_to(kind, var))
            return d.cast(values, sql_type)
        self.sql_types[column.name] = d.types[kind]
        what = f"several values in column {column.name!r}, which is not a collection"
        return d.cast(as_value(value, kind, inner, what), d.types[kind])

    def where(self, where: Expression) -> str:
        d, env = self.d, self.env
        scope = self.scope.child(where=where.where)
        value = compile_node(where.node, scope)
        if value.type is not None and kind_of(value.type) != BOOL:
            raise ViewDefinitionError(f"{where.where}: gives a {value.type}, not a boolean")
        if value.shape is Shape.VALUE:
            return value.sql
        item = as_item(value, scope, "the where path gave several values")
        if value.type == "boolean":
            return d.json_to(BOOL, item)
        refuse = d.error(f"{where.where}: the where path gave a value that is not a boolean")
        return d.let(
            item,
            env.var(),
            lambda v: (
                f"CASE WHEN {v} IS NULL THEN NULL WHEN {d.json_is(v, 'boolean')} "
                f"THEN {d.json_to(BOOL, v)} ELSE {refuse} END"
            ),
        )

    def repeat(self, select: Select, scope: Scope) -> str:
        """Every node reached through the repeat paths from $this, depth first (pre-order).

        A list of (node, depth) entries grown one level per step, each step putting the
        children of the deepest entries right after their parent; the step is one lambda run
        REPEAT_DEPTH - 1 times (unrolled or nested lambdas make the engines' planning slow).
        """
        d, env = self.d, self.env
        integer = d.types["integer"]

        def children(this: Expr) -> str:
            inner = scope.child(this=this)
            paths = [compile_node(p.node, inner.child(where=p.where)) for p in select.repeat]
            return d.concat([as_items(p, inner) for p in paths])

        def entries(this: Expr, depth: str) -> str:
            child = env.var()
            entry = d.struct([("node", child), ("depth", d.cast(depth, integer))])
            return d.transform(children(this), child, entry)

        def node(entry: str) -> Expr:
            return Expr(d.field(entry, "node"), Shape.ITEM)

        acc, depth, entry = env.var(), env.var(), env.var()
        alone = d.list_of([entry], None)
        grown = d.concat([alone, entries(node(entry), depth)])
        deepest = f"{d.field(entry, 'depth')} = {depth} - 1"
        step = d.flatten(
            d.transform(acc, entry, f"CASE WHEN {deepest} THEN {grown} ELSE {alone} END")
        )
        tree = d.iterate(entries(scope.this, "1"), REPEAT_DEPTH - 1, acc, depth, step)
        last = env.var()
        deeper = f"{d.field(last, 'depth')} = {REPEAT_DEPTH}"
        deeper += f" AND {d.length(children(node(last)))} > 0"
        refuse = d.error(f"{select.where}.repeat: nested deeper than {REPEAT_DEPTH} levels")
        return d.let(
            tree,
            env.var(),
            lambda found: (
                f"CASE WHEN {d.length(d.filter(found, last, deeper))} > 0 "
                f"THEN {refuse} ELSE {d.transform(found, last, node(last).sql)} END"
            ),
        )
