"""The DuckDB dialect: a collection is a `JSON[]`, a JSON value is DuckDB's JSON (text).

The resource is parsed once by `json_extract` over the list of the root members the view
reads; deeper members are read from those smaller fragments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from calcinosis.screening.sof.dialects import BOOL, DEC, INT, STR, Dialect
from calcinosis.screening.sof.errors import MARKER


class DuckDB(Dialect):
    name = "duckdb"
    json = "JSON"
    root = "CAST(__res AS JSON)"  # cast (and parsed again) only where the whole resource is used
    types: ClassVar[dict[str, str]] = {
        BOOL: "BOOLEAN",
        INT: "BIGINT",
        DEC: "DOUBLE",
        STR: "VARCHAR",
    }
    _families: ClassVar[dict[str, str]] = {
        "string": "= 'VARCHAR'",
        "boolean": "= 'BOOLEAN'",
        "number": "IN ('BIGINT', 'UBIGINT', 'DOUBLE')",
        "integer": "IN ('BIGINT', 'UBIGINT')",
        "object": "= 'OBJECT'",
    }

    def list_type(self, item: str) -> str:
        return f"{item}[]"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def list_of(self, items: Sequence[str], item_type: str | None) -> str:
        listed = f"[{', '.join(items)}]"
        return listed if item_type is None else f"CAST({listed} AS {item_type}[])"

    def bind(self, value: str, var: str, body: str) -> str:
        return f"list_transform([{value}], lambda {var}: {body})[1]"

    def length(self, items: str) -> str:
        return f"len({items})"

    def element(self, items: str, index0: str) -> str:
        return f"({items})[{index0} + 1]"

    def lambda_element(self, items: str, index: str) -> str:
        return f"({items})[{index}]"  # DuckDB's lambda index and list index both start at 1

    def transform(self, items: str, var: str, body: str, index: str | None = None) -> str:
        params = f"{var}, {index}" if index else var
        return f"list_transform({items}, lambda {params}: {body})"

    def filter(self, items: str, var: str, body: str) -> str:
        return f"list_filter({items}, lambda {var}: coalesce({body}, false))"

    def concat(self, lists: Sequence[str]) -> str:
        result = lists[0]
        for other in lists[1:]:
            result = f"list_concat({result}, {other})"
        return result

    def iterate(self, start: str, steps: int, acc: str, step: str, body: str) -> str:
        return f"list_reduce(range(2, {steps + 2}), lambda {acc}, {step}: {body}, {start})"

    def row_index(self, index: str) -> str:
        return f"({index} - 1)"

    def all_true(self, booleans: str) -> str:
        return f"list_bool_and({booleans})"

    def join(self, strings: str, separator: str) -> str:
        return f"array_to_string({strings}, {separator})"

    def struct(self, fields: Sequence[tuple[str, str]]) -> str:
        return "{" + ", ".join(f"{self.string(n)}: {sql}" for n, sql in fields) + "}"

    def field(self, struct: str, name: str) -> str:
        return f"{struct}.{self.ident(name)}"

    def error(self, message: str) -> str:
        return f"error({self.string(MARKER + message)})"

    def extract(self, item: str, name: str) -> str:
        return f"json_extract({item}, '$.{name}')"

    def extract_text(self, item: str, name: str) -> str:
        return f"json_extract_string({item}, '$.{name}')"

    def member(self, item: str, name: str, var: str) -> str:
        # an array member is spread by the path `[*]`: measured faster than extracting the
        # member and then spreading it (which needs it bound by a lambda)
        def body(i: str) -> str:
            kind = f"coalesce(json_type({i}, '$.{name}'), 'NULL')"
            return (
                f"CASE {kind} WHEN 'ARRAY' THEN json_extract({i}, '$.{name}[*]') "
                f"WHEN 'NULL' THEN CAST([] AS JSON[]) ELSE [json_extract({i}, '$.{name}')] END"
            )

        return self.let(item, var, body)

    def spread(self, value: str, var: str) -> str:
        def body(v: str) -> str:
            text = f"CAST({v} AS VARCHAR)"
            items = f"list_filter(from_json({v}, '[\"json\"]'), lambda {var}_: {var}_ IS NOT NULL)"
            return (
                f"CASE WHEN {v} IS NULL OR {text} = 'null' THEN CAST([] AS JSON[]) "
                f"WHEN starts_with({text}, '[') THEN {items} ELSE [{v}] END"
            )

        return self.let(value, var, body)

    def json_to(self, kind: str, item: str) -> str:
        if kind == STR:
            return f"json_extract_string({item}, '$')"
        return f"TRY_CAST({item} AS {self.types[kind]})"

    def to_json(self, value: str) -> str:
        return f"to_json({value})"

    def json_is(self, item: str, family: str) -> str:
        return f"(json_type({item}) {self._families[family]})"

    def json_compare(self, op: str, left: str, right: str) -> str:
        both = [(self.json_is(left, f), self.json_is(right, f)) for f in ("number", "string")]
        number = f"TRY_CAST({left} AS DOUBLE) {op} TRY_CAST({right} AS DOUBLE)"
        text = f"{self.json_to(STR, left)} {op} {self.json_to(STR, right)}"
        other = f"CAST({left} AS VARCHAR) = CAST({right} AS VARCHAR)" if op == "=" else "NULL"
        return (
            f"CASE WHEN {both[0][0]} AND {both[0][1]} THEN {number} "
            f"WHEN {both[1][0]} AND {both[1][1]} THEN {text} ELSE {other} END"
        )

    def number_text(self, item: str) -> str:
        return f"CAST({item} AS VARCHAR)"

    def documents(self, source: str, resource: str, paths: Sequence[str]) -> str:
        extract = ", ".join(self.string(f"$.{p}") for p in ("resourceType", *paths))
        members = "".join(f", __f[{i + 2}] AS __p{i}" for i in range(len(paths)))
        body = (
            f"SELECT resource AS __res{members} FROM "
            f"(SELECT resource, json_extract(resource, [{extract}]) AS __f FROM {source}) "
            f"WHERE CAST(__f[1] AS VARCHAR) = {self.string(chr(34) + resource + chr(34))}"
        )
        return body

    def unnest(self, relation: str, items: str, alias: str) -> str:
        return f", unnest({relation}.{items}) AS {alias}_t({alias})"
