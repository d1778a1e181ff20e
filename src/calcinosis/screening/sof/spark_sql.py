"""The Spark SQL dialect: a collection is an `ARRAY<VARIANT>`, a JSON value a VARIANT.

The resource is parsed once by `parse_json`; members are read from the VARIANT without parsing
again. Spark's analyzer is slow on lambda functions, so members are read without any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from calcinosis.screening.sof.dialects import BOOL, DEC, INT, STR, Dialect
from calcinosis.screening.sof.errors import MARKER


class Spark(Dialect):
    name = "spark"
    json = "VARIANT"
    root = "__res"
    types: ClassVar[dict[str, str]] = {BOOL: "BOOLEAN", INT: "BIGINT", DEC: "DOUBLE", STR: "STRING"}
    _numeric: ClassVar[str] = "'^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL)'"
    _families: ClassVar[dict[str, str]] = {
        "string": "= 'STRING'",
        "boolean": "= 'BOOLEAN'",
        "number": f"RLIKE {_numeric}",
        "integer": "RLIKE '^(TINYINT|SMALLINT|INT|BIGINT)$'",
        "object": "LIKE 'OBJECT%'",
    }

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, text: str) -> str:
        # Spark SQL reads backslash escapes in literals, so both quote and backslash are escaped
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def list_of(self, items: Sequence[str], item_type: str | None) -> str:
        listed = f"array({', '.join(items)})"
        return listed if item_type is None else f"CAST({listed} AS ARRAY<{item_type}>)"

    def bind(self, value: str, var: str, body: str) -> str:
        return f"transform(array({value}), {var} -> {body})[0]"

    def length(self, items: str) -> str:
        return f"size({items})"

    def element(self, items: str, index0: str) -> str:
        return f"try_element_at({items}, CAST({index0} AS INT) + 1)"

    def lambda_element(self, items: str, index: str) -> str:
        return f"({items})[{index}]"  # Spark's lambda index and [] both start at 0

    def transform(self, items: str, var: str, body: str, index: str | None = None) -> str:
        params = f"({var}, {index})" if index else var
        return f"transform({items}, {params} -> {body})"

    def filter(self, items: str, var: str, body: str) -> str:
        return f"filter({items}, {var} -> coalesce({body}, false))"

    def concat(self, lists: Sequence[str]) -> str:
        return lists[0] if len(lists) == 1 else f"concat({', '.join(lists)})"

    def iterate(self, start: str, steps: int, acc: str, step: str, body: str) -> str:
        return f"aggregate(sequence(2, {steps + 1}), {start}, ({acc}, {step}) -> {body})"

    def row_index(self, index: str) -> str:
        return index

    def all_true(self, booleans: str) -> str:
        return f"aggregate({booleans}, true, (__acc, __b) -> __acc AND __b)"

    def join(self, strings: str, separator: str) -> str:
        return f"array_join({strings}, {separator})"

    def struct(self, fields: Sequence[tuple[str, str]]) -> str:
        return "named_struct(" + ", ".join(f"{self.string(n)}, {sql}" for n, sql in fields) + ")"

    def field(self, struct: str, name: str) -> str:
        return f"{struct}.{self.ident(name)}"

    def error(self, message: str) -> str:
        return f"raise_error({self.string(MARKER + message)})"

    def extract(self, item: str, name: str) -> str:
        return f"variant_get({item}, '$.{name}')"

    def extract_text(self, item: str, name: str) -> str:
        return f"try_variant_get({item}, '$.{name}', 'STRING')"

    def spread(self, value: str, var: str) -> str:
        # No lambda: Spark's analyzer is slow on them. (A JSON null stays an item here.)
        return (
            f"coalesce(try_variant_get({value}, '$', 'ARRAY<VARIANT>'), "
            f"array_compact(array({value})))"
        )

    def member(self, item: str, name: str, var: str) -> str:
        return (
            f"coalesce(try_variant_get({item}, '$.{name}', 'ARRAY<VARIANT>'), "
            f"array_compact(array(variant_get({item}, '$.{name}'))))"
        )

    def json_to(self, kind: str, item: str) -> str:
        return f"try_variant_get({item}, '$', '{self.types[kind]}')"

    def to_json(self, value: str) -> str:
        return f"CAST({value} AS VARIANT)"

    def json_is(self, item: str, family: str) -> str:
        return f"(schema_of_variant({item}) {self._families[family]})"

    def json_compare(self, op: str, left: str, right: str) -> str:
        if op in ("=", "!="):  # to_json spells equal numbers alike (1.0 and 1 are both 1)
            return f"to_json({left}) {op} to_json({right})"
        both = [(self.json_is(left, f), self.json_is(right, f)) for f in ("number", "string")]
        number = f"{self.json_to(DEC, left)} {op} {self.json_to(DEC, right)}"
        text = f"{self.json_to(STR, left)} {op} {self.json_to(STR, right)}"
        return (
            f"CASE WHEN {both[0][0]} AND {both[0][1]} THEN {number} "
            f"WHEN {both[1][0]} AND {both[1][1]} THEN {text} END"
        )

    def number_text(self, item: str) -> str:
        return self.json_to(STR, item)

    def raw_number_text(self, path: Sequence[str]) -> str | None:
        return f"get_json_object(__txt, '$.{'.'.join(path)}')"

    def documents(self, source: str, resource: str, paths: Sequence[str]) -> str:
        members = "".join(f", variant_get(__res, '$.{p}') AS __p{i}" for i, p in enumerate(paths))
        body = (
            f"SELECT __res, __txt{members} FROM "
            f"(SELECT parse_json(resource) AS __res, resource AS __txt FROM {source}) "
            f"WHERE variant_get(__res, '$.resourceType', 'STRING') = {self.string(resource)}"
        )
        return body

    def unnest(self, relation: str, items: str, alias: str) -> str:
        return f" LATERAL VIEW explode({relation}.{items}) {alias}_t AS {alias}"
