"""A patient's course as an SVG drawn on the server: lesion counts over time above, and a lane
each for assessments, treatment sessions and reviews below (done reviews marked by their
outcome, planned ones hollow with their planned..due-by window). Pure: events in, markup out.

Accessible: role="img" with a <title> and a <desc> that says in words what the picture shows,
a <title> on every marker (read on hover and by screen readers), shapes as well as colours, and
the page repeats every event in a table. No script and no style attribute (the pages' Content
Security Policy allows neither): presentation attributes only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from calcinosis.registry.timeline import TimelineEvent

WIDTH, HEIGHT = 800, 300
LEFT, RIGHT, TOP = 96, 24, 28
PLOT_BOTTOM = 130
"""The lesion-count plot spans TOP..PLOT_BOTTOM; the lanes lie below it."""
LANES = {"assessment": 170, "session": 210, "review": 250}
LANE_LABELS = {"assessment": "Assessments", "session": "Sessions", "review": "Reviews"}
AXIS_Y = 276
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
INK, MUTED, GRID = "#1b1f24", "#4b5563", "#c4c9d1"
COLOURS = {
    "assessment": "#6a2fa8",
    "session": "#0f4c81",
    "no-recurrence": "#05603a",
    "recurrence": "#b42318",
    "not-recorded": "#4b5563",
    "planned": "#4b5563",
}


@dataclass(frozen=True)
class Scale:
    start: dt.date
    end: dt.date

    def x(self, day: dt.date) -> float:
        span = max((self.end - self.start).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.start).days / span


def _scale(events: Sequence[TimelineEvent], today: dt.date | None) -> Scale:
    days = [e.date for e in events] + [e.due_by for e in events if e.due_by is not None]
    if today is not None:
        days.append(today)
    start, end = min(days), max(days)
    if (end - start).days < 60:
        end = start + dt.timedelta(days=60)
    margin = dt.timedelta(days=max((end - start).days // 30, 7))
    return Scale(start - margin, end + margin)


def _months(scale: Scale) -> list[dt.date]:
    """First days of the months to label: every month, or every 3 or 6 when the span is long."""
    span_months = (scale.end - scale.start).days / 30.4
    step = 1 if span_months <= 14 else 3 if span_months <= 40 else 6
    day = dt.date(scale.start.year, scale.start.month, 1)
    out = []
    while day <= scale.end:
        if day >= scale.start and (day.month - 1) % step == 0:
            out.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def _label(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _text(
    x: float, y: float, content: str, *, size: int = 12, fill: str = MUTED, anchor: str = "start"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}" {FONT}>{escape(content)}</text>'
    )


def _review_style(event: TimelineEvent) -> str:
    if event.kind == "review-planned":
        return "planned"
    if event.recurrence is None:
        return "not-recorded"
    return "recurrence" if event.recurrence else "no-recurrence"


def _marker(event: TimelineEvent, x: float) -> str:
    what = f"{_label(event.date)}: {event.summary}"
    data = f'data-kind="{event.kind}" data-date="{event.date.isoformat()}"'
    if event.kind == "assessment":
        y, c = LANES["assessment"], COLOURS["assessment"]
        points = f"{x:.1f},{y - 9} {x + 9:.1f},{y} {x:.1f},{y + 9} {x - 9:.1f},{y}"
        return f'<polygon {data} points="{points}" fill="{c}">{_title(what)}</polygon>'
    if event.kind == "session":
        y, c = LANES["session"], COLOURS["session"]
        points = f"{x:.1f},{y - 10} {x + 9:.1f},{y + 7} {x - 9:.1f},{y + 7}"
        return f'<polygon {data} points="{points}" fill="{c}">{_title(what)}</polygon>'
    if event.kind in ("review", "review-planned"):
        y, style = LANES["review"], _review_style(event)
        c = COLOURS[style]
        if style == "planned":
            return (
                f'<circle {data} data-outcome="{style}" cx="{x:.1f}" cy="{y}" r="8" '
                f'fill="#ffffff" stroke="{c}" stroke-width="2" stroke-dasharray="3 2">'
                f"{_title(what)}</circle>"
            )
        mark = ""
        if style == "recurrence":  # a cross as well as the colour
            mark = (
                f'<path d="M{x - 4:.1f},{y - 4} L{x + 4:.1f},{y + 4} M{x - 4:.1f},{y + 4} '
                f'L{x + 4:.1f},{y - 4}" stroke="#ffffff" stroke-width="2"/>'
            )
        elif style == "no-recurrence":  # a tick
            mark = (
                f'<path d="M{x - 4:.1f},{y} L{x - 1:.1f},{y + 3} L{x + 4:.1f},{y - 4}" '
                'stroke="#ffffff" stroke-width="2" fill="none"/>'
            )
        return (
            f'<g {data} data-outcome="{style}">{_title(what)}'
            f'<circle cx="{x:.1f}" cy="{y}" r="9" fill="{c}"/>{mark}</g>'
        )
    return ""  # lesion records appear in the count plot


def _windows(events: Sequence[TimelineEvent], scale: Scale) -> list[str]:
    out = []
    for e in events:
        if e.kind == "review-planned" and e.due_by is not None and e.due_by > e.date:
            x1, x2, y = scale.x(e.date), scale.x(e.due_by), LANES["review"]
            window = f"Due from {_label(e.date)} to {_label(e.due_by)}"
            out.append(
                f'<rect x="{x1:.1f}" y="{y - 3}" width="{x2 - x1:.1f}" height="6" '
                f'fill="{GRID}" rx="3">{_title(window)}</rect>'
            )
    return out


def _counts(events: Sequence[TimelineEvent], scale: Scale) -> list[str]:
    points = [(e.date, e.lesion_count) for e in events if e.lesion_count is not None]
    top = max([5, *(c for _, c in points if c is not None)])
    right = WIDTH - RIGHT
    out = [
        _text(LEFT - 8, TOP + 4, str(top), anchor="end"),
        _text(LEFT - 8, PLOT_BOTTOM + 4, "0", anchor="end"),
        _text(12, (TOP + PLOT_BOTTOM) // 2, "Lesions", size=13, fill=INK),
        f'<line x1="{LEFT}" y1="{PLOT_BOTTOM}" x2="{right}" y2="{PLOT_BOTTOM}" stroke="{GRID}"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{right}" y2="{TOP}" stroke="{GRID}" '
        'stroke-dasharray="2 3"/>',
    ]

    def y(count: int) -> float:
        return PLOT_BOTTOM - (PLOT_BOTTOM - TOP) * count / top

    coords = [(scale.x(d), y(c)) for d, c in points if c is not None]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="{INK}" stroke-width="2"/>')
    for (day, count), (x, yy) in zip(points, coords, strict=True):
        what = f"{_label(day)}: {count} lesion{'' if count == 1 else 's'}"
        out.append(
            f'<circle data-kind="lesion-count" data-count="{count}" cx="{x:.1f}" cy="{yy:.1f}" '
            f'r="5" fill="{INK}">{_title(what)}</circle>'
        )
    if not coords:
        middle = (LEFT + WIDTH) // 2, (TOP + PLOT_BOTTOM) // 2
        out.append(_text(*middle, "No lesion count recorded yet", size=13, anchor="middle"))
    return out


def describe(events: Sequence[TimelineEvent]) -> str:
    """What the picture shows, in words (the SVG's <desc>)."""
    sessions = [e for e in events if e.kind == "session"]
    done = [e for e in events if e.kind == "review"]
    planned = [e for e in events if e.kind == "review-planned"]
    counts = [f"{e.lesion_count} on {_label(e.date)}" for e in events if e.lesion_count is not None]
    outcomes = [f"{_label(e.date)}: {_review_style(e).replace('-', ' ')}" for e in done]

    def listed(items: list[str]) -> str:
        return f" ({', '.join(items)})" if items else ""

    parts = [
        f"{len([e for e in events if e.kind == 'assessment'])} assessment(s)",
        f"{len(sessions)} treatment session(s)" + listed([_label(e.date) for e in sessions]),
        f"{len(done)} review(s) done" + listed(outcomes),
        f"{len(planned)} review(s) planned" + listed([_label(e.date) for e in planned]),
        "lesion counts " + ("; ".join(counts) if counts else "not recorded"),
    ]
    return "; ".join(parts) + "."


def timeline_svg(
    events: Sequence[TimelineEvent], *, title: str, today: dt.date | None = None
) -> str:
    """The SVG markup (an empty string when there is nothing to draw)."""
    if not events:
        return ""
    scale = _scale(events, today)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" id="timeline-svg" '
        'aria-labelledby="timeline-title timeline-desc">',
        f'<title id="timeline-title">{escape(title)}</title>',
        f'<desc id="timeline-desc">{escape(describe(events))}</desc>',
    ]
    for month in _months(scale):
        x = scale.x(month)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{AXIS_Y - 12}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        parts.append(_text(x, AXIS_Y + 8, f"{month:%b %Y}", anchor="middle"))
    for kind, y in LANES.items():
        parts.append(_text(12, y + 4, LANE_LABELS[kind], size=13, fill=INK))
        parts.append(
            f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="{GRID}" '
            'stroke-dasharray="1 4"/>'
        )
    if today is not None and scale.start <= today <= scale.end:
        x = scale.x(today)
        parts.append(
            f'<line data-kind="today" x1="{x:.1f}" y1="{TOP - 10}" x2="{x:.1f}" '
            f'y2="{AXIS_Y - 12}" stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 3">'
            f"{_title('Today, ' + _label(today))}</line>"
        )
        parts.append(_text(x, TOP - 14, "today", fill=INK, anchor="middle"))
    parts.extend(_counts(events, scale))
    parts.extend(_windows(events, scale))
    parts.extend(_marker(e, scale.x(e.date)) for e in events)
    parts.append("</svg>")
    return "\n".join(p for p in parts if p)
