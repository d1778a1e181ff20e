"""The SQL screening writes around the compiled views, for DuckDB and for Spark SQL.

Two queries: the candidates (patients whose codes or words the narrowing matches) and the
candidates' resources gathered per patient. The few functions the two dialects spell
differently are named here, once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from calcinosis.screening.narrowing import Narrowing

# What a note attachment's HTML markup and entities become before the words are matched.
_MARKUP = "<[^>]*>|&[a-z0-9#]+;"
_SAFE_LITERAL = re.compile(r"^[^'\\]*$")
# The id in a reference to a Patient, read as the views' getReferenceKey(Patient) reads it:
# `Patient/1`, `https://host/fhir/Patient/1`, optionally `/_history/<n>`; FHIR id syntax.
_PATIENT_REFERENCE = "^(?:.*/)?Patient/([A-Za-z0-9.-]{1,64})(?:/_history/[^/]*)?$"


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    regex_template: str  # {text} {pattern}
    replace_template: str  # {text} {pattern}: every match -> a space
    base64_template: str  # {data}: decoded text, or NULL when it is not base64 UTF-8 text
    list_template: str  # {value}: the values of a group as a sorted list
    json_text_template: str  # {json} {path}: a JSON string member as text


DUCKDB = Dialect(
    name="duckdb",
    regex_template="regexp_matches({text}, {pattern})",
    replace_template="regexp_replace({text}, {pattern}, ' ', 'g')",
    base64_template="try(decode(from_base64({data})))",
    list_template="list({value} ORDER BY {value})",
    json_text_template="json_extract_string({json}, {path})",
)
SPARK = Dialect(
    name="spark",
    regex_template="({text} RLIKE {pattern})",
    replace_template="regexp_replace({text}, {pattern}, ' ')",
    base64_template="try_to_binary({data}, 'base64')",
    list_template="array_sort(collect_list({value}))",
    json_text_template="get_json_object({json}, {path})",
)
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


def literal(text: str) -> str:
    """A SQL string literal. The patterns are built from tokens, so they never hold a quote
    or a backslash (which the two dialects escape differently); refuse one that does."""
    if not _SAFE_LITERAL.match(text):
        raise ValueError("a screening pattern must not contain quotes or backslashes")
    return f"'{text}'"


def candidates_sql(
    facts: Mapping[str, Sequence[str]], dialect: Dialect, narrowing: Narrowing
) -> str:
    """Distinct patient keys that may be worth a look: evidence anywhere in their record, or
    acne and a suspicion source (narrowing.py). `facts` maps each compiled facts relation to
    its column names (`patient`, `code_*`, `text_*`, `attachment_data`)."""
    parts = []
    for relation, columns in facts.items():
        codes = [c for c in columns if c.startswith("code_")]
        texts = [c for c in columns if c.startswith("text_")]
        code = f"upper(replace(concat_ws(' ', {', '.join(codes)}), '.', ''))" if codes else None
        text = f"lower(concat_ws(' ', {', '.join(texts)}))" if texts else None
        note = undecodable = None
        if "attachment_data" in columns:
            decoded = _decoded(dialect, "attachment_data")
            note = dialect.replace_template.format(
                text=f"lower({decoded})", pattern=literal(_MARKUP)
            )
            # text SQL cannot decode goes to the engine, which says what it makes of it
            undecodable = f"(attachment_data IS NOT NULL AND {decoded} IS NULL)"
        flags = []
        for name in ("evidence", "acne", "sources"):
            patterns = getattr(narrowing, name)
            tests = [_matches(dialect, t, patterns.text_pattern) for t in (text, note) if t]
            if code:
                tests.append(_matches(dialect, code, patterns.codes_pattern))
            if undecodable and name != "sources":
                tests.append(undecodable)
            either = " OR ".join(f"coalesce({t}, false)" for t in tests) or "false"
            flags.append(f"({either}) AS {name}")
        parts.append(
            f"SELECT patient, {', '.join(flags)} FROM {relation} WHERE patient IS NOT NULL"
        )
    if not parts:
        return "SELECT CAST(NULL AS STRING) AS patient WHERE false"
    return (
        "SELECT patient FROM (" + " UNION ALL ".join(parts) + ") GROUP BY patient "
        "HAVING bool_or(evidence) OR (bool_or(acne) AND bool_or(sources))"
    )


def _decoded(dialect: Dialect, column: str) -> str:
    raw = dialect.base64_template.format(data=column)
    return raw if dialect is DUCKDB else f"decode({raw}, 'UTF-8')"


def _matches(dialect: Dialect, text: str, pattern: str) -> str:
    return dialect.regex_template.format(text=text, pattern=literal(pattern))


def grouped_sql(sources: Mapping[str, str], dialect: Dialect, candidates: str) -> str:
    """Each candidate's resources of every type, as one sorted list per patient.

    `sources` maps resource types to relations with a `resource` column of JSON text. The
    order of the list is fixed (sorted text) so that every engine hands the judge the same
    Bundle; the assessment itself does not depend on it.
    """
    keyed = []
    for rtype, relation in sources.items():
        if rtype == "Patient":
            key = _json_text(dialect, "resource", "$.id")
        else:
            reference = (
                f"coalesce({_json_text(dialect, 'resource', '$.subject.reference')}, "
                f"{_json_text(dialect, 'resource', '$.patient.reference')})"
            )
            key = f"regexp_extract({reference}, {literal(_PATIENT_REFERENCE)}, 1)"
        keyed.append(f"SELECT {key} AS patient, resource FROM {relation}")
    resources = dialect.list_template.format(value="resource")
    return (
        f"SELECT patient, {resources} AS resources FROM ("
        + " UNION ALL ".join(keyed)
        + f") WHERE patient IN (SELECT patient FROM {candidates}) GROUP BY patient"
    )


def _json_text(dialect: Dialect, column: str, path: str) -> str:
    return dialect.json_text_template.format(json=column, path=literal(path))
