"""What clinicians did with our CDS Hooks cards: accepted suggestions and overrides, counted per
service and card kind (the policy headline, e.g. "dcc-high"), kept in memory and bounded.

Cards are remembered when issued (uuid -> service, kind, suggestion kinds), so feedback about a
card can be counted under what the card said rather than under a random uuid. Nothing here holds
patient data: no patient ids, and override comments are counted, never stored.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_CARD = "unknown-card"
OTHER_REASON = "other"


@dataclass(frozen=True)
class IssuedCard:
    service: str
    kind: str
    suggestions: Mapping[str, str]
    """suggestion uuid -> suggestion kind (a work-up id, "remove-order")."""
    reasons: frozenset[tuple[str, str]]
    """Override reasons the card offered, as (system, code)."""


@dataclass(frozen=True)
class Feedback:
    """One validated feedback item (CDS Hooks 2.0 Feedback)."""

    card: str
    outcome: str
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: tuple[str, str] | None = None
    """The chosen override reason as (system, code), when one was given."""
    has_comment: bool = False


@dataclass(frozen=True)
class FeedbackRecord:
    received_at: str
    caller: str
    service: str
    card_kind: str
    outcome: str
    outcome_timestamp: str
    accepted: tuple[str, ...]
    override_reason: str | None


@dataclass
class Tally:
    service: str
    card_kind: str
    accepted: int = 0
    overridden: int = 0
    with_comment: int = 0
    suggestions: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "card": self.card_kind,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "overridden_with_comment": self.with_comment,
        }
        if self.suggestions:
            out["accepted_suggestions"] = dict(sorted(self.suggestions.items()))
        if self.reasons:
            out["override_reasons"] = dict(sorted(self.reasons.items()))
        return out


class FeedbackStore:
    """Thread-safe; remembers the last `keep_cards` issued cards and `keep_records` items."""

    def __init__(self, keep_cards: int = 20_000, keep_records: int = 10_000) -> None:
        self._cards: OrderedDict[str, IssuedCard] = OrderedDict()
        self._keep_cards = keep_cards
        self._records: deque[FeedbackRecord] = deque(maxlen=keep_records)
        self._tallies: dict[tuple[str, str], Tally] = {}
        self._lock = threading.Lock()

    def issued(self, card_uuid: str, card: IssuedCard) -> None:
        with self._lock:
            self._cards[card_uuid] = card
            while len(self._cards) > self._keep_cards:
                self._cards.popitem(last=False)

    def add(self, service: str, item: Feedback, caller: str) -> FeedbackRecord:
        with self._lock:
            card = self._cards.get(item.card)
            if card is not None and card.service != service:
                card = None  # feedback sent to another service than the one that issued it
            kind = card.kind if card is not None else UNKNOWN_CARD
            accepted = tuple(
                card.suggestions.get(s, UNKNOWN_CARD) if card else UNKNOWN_CARD
                for s in item.accepted_suggestions
            )
            reason: str | None = None
            if item.override_reason is not None:
                offered = card is not None and item.override_reason in card.reasons
                # bounded: only reasons we offered are counted by name, any other as "other"
                reason = item.override_reason[1] if offered else OTHER_REASON
            record = FeedbackRecord(
                received_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                caller=caller,
                service=service,
                card_kind=kind,
                outcome=item.outcome,
                outcome_timestamp=item.outcome_timestamp,
                accepted=accepted,
                override_reason=reason,
            )
            self._records.append(record)
            tally = self._tallies.setdefault((service, kind), Tally(service, kind))
            if item.outcome == "accepted":
                tally.accepted += 1
                tally.suggestions.update(accepted)
            else:
                tally.overridden += 1
                tally.with_comment += item.has_comment
                if reason is not None:
                    tally.reasons[reason] += 1
            return record

    def tallies(self) -> list[Tally]:
        with self._lock:
            return [
                Tally(
                    t.service,
                    t.card_kind,
                    t.accepted,
                    t.overridden,
                    t.with_comment,
                    Counter(t.suggestions),
                    Counter(t.reasons),
                )
                for _, t in sorted(self._tallies.items())
            ]

    def records(self) -> list[FeedbackRecord]:
        with self._lock:
            return list(self._records)
