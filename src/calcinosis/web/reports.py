"""Recent assessments kept in memory so a web page or a CDS card link can show them again.

Bounded (least recently stored go first) and keyed by unguessable random ids, so a link reveals
nothing about the patient and the store cannot grow without limit. The registry issue replaces
this with stored cases; until then a restart forgets every report.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from calcinosis.core.assessment import Assessment


@dataclass(frozen=True)
class StoredReport:
    id: str
    assessment: Assessment
    source: str
    """What produced it, for the page header: "upload", "form", "api", "cds:patient-view"."""


class ReportStore:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, StoredReport] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, assessment: Assessment, source: str) -> StoredReport:
        report = StoredReport(secrets.token_urlsafe(16), assessment, source)
        with self._lock:
            self._items[report.id] = report
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return report

    def get(self, report_id: str) -> StoredReport | None:
        with self._lock:
            return self._items.get(report_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
