"""Send rate control: a token bucket under the number's throughput, and per-recipient backoff.

Both take ``clock`` (and the bucket ``sleep``) as parameters so tests can run them on a
fake clock; both are thread-safe (the outbound worker sends from several threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``.

    ``pause_for(seconds)`` stops every acquisition for a while (the number's throughput limit,
    Cloud API 130429, was hit); afterwards the bucket starts empty, so sending resumes at ``rate``.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = float(rate)
        self.capacity = float(capacity if capacity is not None else max(1.0, rate / 10))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> float:
        """Take a token if one is there (returns 0.0), else return the seconds to wait."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now
            self._refill()
            if self._tokens >= 1.0 - 1e-9:  # tolerance: float rounding must not spin on a 1e-15 s wait
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken; ``False`` if ``stop`` was set meanwhile."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return True
            if stop is not None and stop.is_set():
                return False
            self._sleep(min(wait, 0.5) if stop is not None else wait)  # a long pause still sees ``stop``

    def pause_for(self, seconds: float) -> float:
        """No token for ``seconds`` (extends a running pause, never shortens it); returns the pause left."""
        with self._lock:
            until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self._paused_until = until
            self._tokens = 0.0
            self._last = until  # no tokens accumulate during the pause: no burst right after it
            return until - self._clock()

    def paused_for(self) -> float:
        """Seconds left in a pause (0.0 when not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


class RecipientBackoff:
    """Per-recipient exponential backoff (Cloud API 131056, pair rate limit).

    ``penalize`` after a pair-rate error; ``wait_time`` tells how long that recipient must
    wait; ``clear`` after a successful send.
    """

    def __init__(self, base: float = 1.0, cap: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.base = base
        self.cap = cap
        self._clock = clock
        self._state: dict[str, tuple[int, float]] = {}  # recipient -> (strikes, not_before)
        self._lock = threading.Lock()

    def penalize(self, recipient: str, retry_after: float | None = None) -> float:
        with self._lock:
            strikes = self._state.get(recipient, (0, 0.0))[0] + 1
            delay = min(self.cap, self.base * 2 ** (strikes - 1))
            if retry_after:
                delay = max(delay, retry_after)
            self._state[recipient] = (strikes, self._clock() + delay)
            return delay

    def hold(self, recipient: str, seconds: float) -> None:
        """Make ``recipient`` wait ``seconds`` without a strike (e.g. its WhatsApp Web session is down)."""
        with self._lock:
            strikes = self._state.get(recipient, (0, 0.0))[0]
            self._state[recipient] = (strikes, self._clock() + seconds)

    def wait_time(self, recipient: str) -> float:
        with self._lock:
            state = self._state.get(recipient)
            return max(0.0, state[1] - self._clock()) if state else 0.0

    def clear(self, recipient: str) -> None:
        with self._lock:
            self._state.pop(recipient, None)

    def __len__(self) -> int:
        return len(self._state)


class RecipientPacer:
    """At least ``interval`` seconds between two messages to one recipient (the WhatsApp Web provider).

    Bursts to one chat are what gets an unofficial client's number banned; messages to different
    recipients are not held up by each other's pace.  Recipients not written to for ``interval`` are
    forgotten, so memory stays bounded by the recipients of the last ``interval`` seconds.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic):
        self.interval = max(0.0, float(interval))
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_time(self, recipient: str) -> float:
        """Seconds to wait before the next message to ``recipient`` may go (0: now)."""
        with self._lock:
            last = self._last.get(recipient)
            return 0.0 if last is None else max(0.0, last + self.interval - self._clock())

    def sent(self, recipient: str) -> None:
        with self._lock:
            now = self._clock()
            self._last[recipient] = now
            if len(self._last) > 1024:
                self._last = {r: t for r, t in self._last.items() if now - t < self.interval}

    def __len__(self) -> int:
        return len(self._last)
