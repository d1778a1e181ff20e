"""Failed sign-ins counted per key (a username, a client address) in a sliding window.

When a key has `limit` failures within `window_s` seconds, further attempts are refused until the
oldest failure leaves the window; the password is not even checked then, so guessing stops and
costs us nothing. Kept in memory, per server process, and bounded: the keys touched least
recently are forgotten first when there are too many (an attacker inventing usernames cannot
exhaust memory).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_S = 300.0
MAX_KEYS = 50_000


class FailureLimiter:
    def __init__(
        self,
        limit: int,
        window_s: float = WINDOW_S,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again; None when it may try now."""
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[-self.limit] + self.window_s - now))

    def failed(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(key, now) or deque()
            times.append(now)
            while len(times) > self.limit:
                times.popleft()  # the window only ever needs the last `limit` failures
            self._failures[key] = times
            self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
