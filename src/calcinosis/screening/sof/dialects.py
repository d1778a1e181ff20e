"""What DuckDB and Spark SQL spell differently, behind one interface (`Dialect`).

A FHIRPath collection is a list of JSON values: `JSON[]` on DuckDB, `ARRAY<VARIANT>` on Spark.
The compiler only composes these methods; the two implementations are duckdb_sql.py and
spark_sql.py, and nothing engine-specific is anywhere else.

How each engine reads a resource (see `documents`): DuckDB parses the JSON text once per row
with one `json_extract` over the list of every root member the view uses, and later steps parse
only those (small) fragments; Spark parses it once into a VARIANT, whose members are read
without parsing again.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

BOOL, INT, DEC, STR = "boolean", "integer", "decimal", "string"  # the SQL kinds of a value
# What `let` need not bind: names, fields of names, typed NULLs
SIMPLE = re.compile(r'^(?:\w+(?:\.(?:\w+|`\w+`|"\w+"))*|CAST\(NULL AS \w+\))$')


class Dialect(ABC):
    """The SQL building blocks of one engine; every method returns SQL text."""

    name: str
    json: str  # SQL type of one JSON value
    root: str  # the resource as one JSON value, in the query's CTEs
    types: ClassVar[dict[str, str]]  # kind -> SQL type

    def list_type(self, item: str) -> str:
        return f"ARRAY<{item}>"

    @abstractmethod
    def ident(self, name: str) -> str: ...

    @abstractmethod
    def string(self, text: str) -> str: ...

    def null(self, sql_type: str) -> str:
        return f"CAST(NULL AS {sql_type})"

    def cast(self, sql: str, sql_type: str) -> str:
        return f"CAST({sql} AS {sql_type})"

    @abstractmethod
    def list_of(self, items: Sequence[str], item_type: str | None) -> str:
        """A list literal; `item_type` None leaves the engine to infer it."""

    @abstractmethod
    def length(self, items: str) -> str: ...

    @abstractmethod
    def element(self, items: str, index0: str) -> str:
        """The item at a 0-based index (which must not be negative), NULL past the end."""

    @abstractmethod
    def lambda_element(self, items: str, index: str) -> str:
        """The item of `items` at the index variable of a `transform` over a list as long."""

    @abstractmethod
    def transform(self, items: str, var: str, body: str, index: str | None = None) -> str: ...

    @abstractmethod
    def filter(self, items: str, var: str, body: str) -> str: ...

    @abstractmethod
    def concat(self, lists: Sequence[str]) -> str: ...

    @abstractmethod
    def iterate(self, start: str, steps: int, acc: str, step: str, body: str) -> str:
        """`body` applied to the accumulator `acc` for `step` = 2 .. `steps` + 1, from `start`."""

    @abstractmethod
    def row_index(self, index: str) -> str:
        """%rowIndex (0-based) from the index variable of a `transform`."""

    @abstractmethod
    def all_true(self, booleans: str) -> str: ...

    @abstractmethod
    def join(self, strings: str, separator: str) -> str: ...

    @abstractmethod
    def struct(self, fields: Sequence[tuple[str, str]]) -> str: ...

    @abstractmethod
    def field(self, struct: str, name: str) -> str: ...

    @abstractmethod
    def error(self, message: str) -> str: ...

    def let(self, value: str, var: str, body: Callable[[str], str]) -> str:
        """`body` of an expression standing for `value`: `value` itself when it is a plain
        name, else the variable `var` bound to it, so that it is computed once."""
        if SIMPLE.match(value):
            return body(value)
        return self.bind(value, var, body(var))

    @abstractmethod
    def bind(self, value: str, var: str, body: str) -> str:
        """`body` with the variable `var` bound to `value`."""

    def flatten(self, lists: str) -> str:
        return f"flatten({lists})"

    def regexp_extract(self, text: str, pattern: str, group: int) -> str:
        return f"nullif(regexp_extract({text}, {self.string(pattern)}, {group}), '')"

    @abstractmethod
    def extract(self, item: str, name: str) -> str:
        """Member `name` of a JSON object, as one JSON value (an array when it repeats)."""

    def extract_text(self, item: str, name: str) -> str:
        """Member `name` of a JSON object as text (a string member, or NULL)."""
        return self.json_to(STR, self.extract(item, name))

    @abstractmethod
    def spread(self, value: str, var: str) -> str:
        """A JSON value as a collection: an array gives its items, null or nothing none."""

    def member(self, item: str, name: str, var: str) -> str:
        return self.let(item, var, lambda i: self.spread(self.extract(i, name), f"{var}m"))

    @abstractmethod
    def json_to(self, kind: str, item: str) -> str:
        """A JSON value as a typed SQL value; NULL when it is not convertible."""

    @abstractmethod
    def to_json(self, value: str) -> str: ...

    @abstractmethod
    def json_is(self, item: str, family: str) -> str:
        """Whether a JSON value is a `string`, `boolean`, `number`, `integer` or `object`."""

    @abstractmethod
    def json_compare(self, op: str, left: str, right: str) -> str:
        """Two JSON values of unknown type compared: as numbers, as strings or as booleans."""

    @abstractmethod
    def number_text(self, item: str) -> str:
        """The spelling of a JSON number, as far as the engine keeps it."""

    def raw_number_text(self, path: Sequence[str]) -> str | None:
        """The spelling of the number at a member path of the resource text, where the JSON
        value type loses it; None when `number_text` keeps it."""
        return None

    @abstractmethod
    def documents(self, source: str, resource: str, paths: Sequence[str]) -> str:
        """A CTE body reading `source` once per row, of `resource` type only, with the JSON of
        each root member in `paths` as columns `__p0`, `__p1` ... beside `__res` (see `root`)."""

    @abstractmethod
    def unnest(self, relation: str, items: str, alias: str) -> str:
        """The FROM clause of `relation` joined with one row per element of list `items`."""
