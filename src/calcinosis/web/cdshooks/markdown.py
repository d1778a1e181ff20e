"""Small GitHub-Flavored-Markdown helpers for card details: text from the record or the knowledge
is escaped, so a finding such as "*hard* papules" or "<b>" shows as written and cannot add links,
HTML or formatting of its own."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from calcinosis.core.assessment import Citation

# Brackets are escaped, so no link or image can form and parentheses can stay as they are.
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
# At the start of a paragraph: what would make it a list item or a heading underline ("-", "+",
# "="), or a numbered list item ("3." or "3)").
_LIST_MARKS = ("-", "+", "=")
_ORDERED = re.compile(r"(\d+)[.)]")
_DOI = "https://doi.org/"
_PUBMED = "https://pubmed.ncbi.nlm.nih.gov/"
# A card escapes a few dozen texts, most of them the knowledge's own (citations, work-up,
# missing data) and the same on every card: remembering the recent ones keeps card building
# cheap. Bounded, like the report store, which holds the same texts.
_MEMO = 4096


@functools.lru_cache(maxsize=_MEMO)
def escape(text: str) -> str:
    """Plain text as Markdown that renders as the same text, inside a line."""
    text = " ".join(text.split())
    return _SPECIAL.sub(r"\\\1", text) if _SPECIAL.search(text) else text


@functools.lru_cache(maxsize=_MEMO)
def paragraph(text: str) -> str:
    """Plain text as a paragraph of its own: also what would start a list or heading there."""
    escaped = escape(text)
    if escaped.startswith(_LIST_MARKS):
        return "\\" + escaped
    ordered = _ORDERED.match(escaped)
    if ordered is None:
        return escaped
    digits = ordered.end(1)
    return f"{escaped[:digits]}\\{escaped[digits:]}"


def bullets(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def section(title: str, body: str) -> str:
    return f"**{escape(title)}**\n\n{body}"


@functools.lru_cache(maxsize=1024)
def citation(c: Citation) -> str:
    """A reference with a link to its DOI, PubMed record or URL when known."""
    text = paragraph(c.text)
    if c.doi:
        return f"{text} [doi:{escape(c.doi)}]({_url(_DOI + c.doi)})"
    if c.pmid:
        return f"{text} [PMID {escape(c.pmid)}]({_url(_PUBMED + c.pmid + '/')})"
    if c.url:
        return f"{text} <{_url(c.url)}>"
    return text


def _url(url: str) -> str:
    # Spaces and brackets would end a Markdown link destination early.
    return (
        url.replace(" ", "%20")
        .replace("(", "%28")
        .replace(")", "%29")
        .replace("<", "%3C")
        .replace(">", "%3E")
    )
