"""Validate a CDS Hooks 2.0 feedback request: {"feedback": [Feedback, ...]}."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from calcinosis.web.feedback import Feedback
from calcinosis.web.problems import Problem

MAX_ITEMS = 100
OUTCOMES = ("accepted", "overridden")
# RFC 3339 section 5.6 date-time, as the spec profiles ISO 8601 for outcomeTimestamp.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_feedback(body: Mapping[str, Any]) -> list[Feedback]:
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise _bad("feedback must be a non-empty array")
    if len(items) > MAX_ITEMS:
        raise _bad(f"at most {MAX_ITEMS} feedback items per request")
    return [_item(item, f"feedback[{index}]") for index, item in enumerate(items)]


def _item(item: Any, where: str) -> Feedback:
    if not isinstance(item, Mapping):
        raise _bad(f"{where} must be an object")
    card = _string(item, "card", where)
    outcome = _string(item, "outcome", where)
    if outcome not in OUTCOMES:
        raise _bad(f"{where}.outcome must be accepted or overridden")
    stamp = _string(item, "outcomeTimestamp", where)
    if not _RFC3339.match(stamp):
        raise _bad(
            f"{where}.outcomeTimestamp must be an RFC 3339 date-time, e.g. 2021-12-11T10:05:31Z"
        )
    try:
        dt.datetime.fromisoformat(stamp.upper().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{where}.outcomeTimestamp is not a valid date-time") from None
    accepted: tuple[str, ...] = ()
    if outcome == "accepted":
        suggestions = item.get("acceptedSuggestions")
        if not isinstance(suggestions, list) or not suggestions:
            raise _bad(f"{where}.acceptedSuggestions is required for an accepted outcome")
        accepted = tuple(
            _string(
                _object(s, f"{where}.acceptedSuggestions[{i}]"),
                "id",
                f"{where}.acceptedSuggestions[{i}]",
            )
            for i, s in enumerate(suggestions)
        )
    elif "acceptedSuggestions" in item:
        raise _bad(f"{where}.acceptedSuggestions is only for an accepted outcome")
    reason, comment = _override_reason(item.get("overrideReason"), f"{where}.overrideReason")
    if reason is not None and outcome != "overridden":
        raise _bad(f"{where}.overrideReason is only for an overridden outcome")
    return Feedback(
        card=card,
        outcome=outcome,
        outcome_timestamp=stamp,
        accepted_suggestions=accepted,
        override_reason=reason,
        has_comment=comment,
    )


def _override_reason(value: Any, where: str) -> tuple[tuple[str, str] | None, bool]:
    if value is None:
        return None, False
    if not isinstance(value, Mapping):
        raise _bad(f"{where} must be an object")
    comment = value.get("userComment")
    if comment is not None and (not isinstance(comment, str) or not comment.strip()):
        raise _bad(f"{where}.userComment must be a non-empty string")
    reason = value.get("reason")
    if reason is None:
        if comment is None:
            raise _bad(f"{where} needs a reason or a userComment")
        return None, True
    if not isinstance(reason, Mapping):
        raise _bad(f"{where}.reason must be a Coding")
    system = _string(reason, "system", f"{where}.reason")
    return (system, _string(reason, "code", f"{where}.reason")), comment is not None


def _string(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where}.{key} must be a non-empty string")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(f"{where} must be an object")
    return value


def _bad(message: str) -> Problem:
    return Problem(400, "invalid-feedback", message)
