"""The screening picture as SVG: listed patients by calcinosis type and DCC suspicion, and the
rules that decided most rows. Pure: a summary in, markup out.

Accessible like the registry timeline: role="img" with a <title> and a <desc> in words, a
<title> on every bar, counts written beside the bars, presentation attributes only.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from calcinosis.screening.job import Summary

WIDTH = 900
LEFT = 300
BAR_HEIGHT, GAP = 18, 8
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
INK, MUTED = "#1b1f24", "#4b5563"
LEVEL_COLOURS = {
    "high": "#b42318",
    "moderate": "#dc6803",
    "low": "#0f4c81",
    "not-applicable": "#98a2b3",
}
RULE_COLOUR = "#6a2fa8"
_LABEL_CHARS = 46


def render(summary: Summary, rule_labels: Mapping[str, str]) -> str:
    """`rule_labels`: how a clinician reads each deciding rule (its summary)."""
    by_type_and_level = summary.by_type_level
    parts: list[str] = []
    y = 28
    parts.append(_text(16, y, _heading(summary), size=15, weight="bold"))
    y += 34
    parts.append(
        _text(16, y, "Listed patients by calcinosis type and DCC suspicion", size=13, weight="bold")
    )
    y += 12
    widest = max((sum(levels.values()) for levels in by_type_and_level.values()), default=0)
    scale = (WIDTH - LEFT - 80) / widest if widest else 0.0
    for kind, levels in by_type_and_level.items():
        parts.append(_text(LEFT - 10, y + 14, kind, anchor="end"))
        x = float(LEFT)
        for level, count in levels.items():
            if not count:
                continue
            width = max(count * scale, 1.0)
            tip = f"{kind}, suspicion {level}: {count}"
            parts.append(_rect(x, y, width, LEVEL_COLOURS[level], tip))
            x += width
        parts.append(_text(x + 6, y + 14, str(sum(levels.values())), colour=MUTED))
        y += BAR_HEIGHT + GAP
    if not by_type_and_level:
        parts.append(_text(LEFT, y + 14, "no patient was listed", colour=MUTED))
        y += BAR_HEIGHT + GAP
    x = float(LEFT)
    for level, colour in LEVEL_COLOURS.items():
        parts.append(f'<rect x="{x:.0f}" y="{y + 4}" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(x + 16, y + 14, f"suspicion {level}", size=11))
        x += 140
    y += 46
    parts.append(
        _text(
            16, y, "Rules that decided the listed rows (suspicion and type)", size=13, weight="bold"
        )
    )
    y += 12
    top = max((n for _, n in summary.top_rules), default=0)
    scale = (WIDTH - LEFT - 80) / top if top else 0.0
    for rule, count in summary.top_rules:
        label = rule_labels.get(rule, rule)
        short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
        parts.append(_text(LEFT - 10, y + 14, short, anchor="end", tip=f"{rule}: {label}"))
        parts.append(
            _rect(float(LEFT), y, max(count * scale, 1.0), RULE_COLOUR, f"{label}: {count}")
        )
        parts.append(_text(LEFT + count * scale + 6, y + 14, str(count), colour=MUTED))
        y += BAR_HEIGHT + GAP
    height = y + 20
    desc = _description(summary, by_type_and_level)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-labelledby="t d">'
        f'<title id="t">Calcinosis screening worklist</title><desc id="d">{escape(desc)}</desc>'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>' + "".join(parts) + "</svg>\n"
    )


def _heading(summary: Summary) -> str:
    return (
        f"{summary.listed:,} of {summary.patients:,} patients listed "
        f"({summary.candidates:,} judged; {summary.engine}, as of {summary.as_of})"
    )


def _description(summary: Summary, by_type: Mapping[str, Mapping[str, int]]) -> str:
    counts = "; ".join(f"{kind} {sum(levels.values())}" for kind, levels in by_type.items())
    return f"{_heading(summary)}. By calcinosis type: {counts or 'none'}."


def _rect(x: float, y: int, width: float, colour: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _text(
    x: float,
    y: int,
    text: str,
    *,
    size: int = 12,
    weight: str = "normal",
    anchor: str = "start",
    colour: str = INK,
    tip: str | None = None,
) -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    return (
        f'<text x="{x:.1f}" y="{y}" {FONT} font-size="{size}" font-weight="{weight}" '
        f'text-anchor="{anchor}" fill="{colour}">{title}{escape(text)}</text>'
    )
