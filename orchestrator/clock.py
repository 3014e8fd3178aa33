"""The `Clock` seam: live code reads the wall clock, backtests and the demo a fixed moment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time. Contract: always tz-aware, never goes backwards within one run."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands at a moment until moved; used by backtests and the offline demo."""

    def __init__(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._moment = moment

    def now(self) -> datetime:
        return self._moment

    def advance_to(self, moment: datetime) -> None:
        if moment < self._moment:
            raise ValueError("a clock never goes backwards")
        self._moment = moment
