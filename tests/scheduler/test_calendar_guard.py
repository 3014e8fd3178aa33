"""The calendar guard and next-run computation, on fixed moments (no sleeping)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestrator.domain import EXCHANGE_TZ
from orchestrator.errors import ConfigError
from orchestrator.scheduler import (
    calendar_zone,
    cycle_trigger,
    is_session_day,
    latest_fire_time,
    market_calendar,
    market_open_at,
    next_allowed_fire_time,
)

NYSE = market_calendar("XNYS")
EVERY_30_MIN = cycle_trigger("*/30 9-15 * * mon-fri", calendar_zone(NYSE))


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=EXCHANGE_TZ)


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (ny(2015, 12, 25, 10, 0), False),  # Christmas, a Friday
        (ny(2025, 7, 4, 10, 0), False),  # Independence Day, a Friday
        (ny(2015, 11, 30, 9, 30), True),  # the open minute trades
        (ny(2015, 11, 30, 15, 30), True),
        (ny(2015, 11, 30, 16, 0), False),  # the close minute does not
        (ny(2015, 11, 30, 9, 0), False),  # pre-open
        (ny(2015, 11, 27, 12, 30), True),  # day after Thanksgiving: closes 13:00
        (ny(2015, 11, 27, 13, 0), False),
        (ny(2015, 11, 27, 14, 30), False),
        (ny(2015, 11, 28, 11, 0), False),  # a Saturday
    ],
)
def test_market_open_at_knows_holidays_and_early_closes(moment: datetime, open_: bool) -> None:
    assert market_open_at(NYSE, moment) is open_


def test_session_days() -> None:
    assert not is_session_day(NYSE, ny(2015, 12, 25).date())
    assert is_session_day(NYSE, ny(2015, 12, 24).date())  # an early close is still a session
    assert not is_session_day(NYSE, ny(1990, 1, 2).date())  # outside the calendar: closed


def test_next_cycle_skips_the_early_close_afternoon_and_the_holiday() -> None:
    # Christmas Eve 2015 closes at 13:00; Christmas is a holiday; then the weekend.
    after = ny(2015, 12, 24, 13, 5)
    assert next_allowed_fire_time(EVERY_30_MIN, NYSE, after) == ny(2015, 12, 28, 9, 30)
    # 3 July 2025 closes at 13:00, 4 July is a holiday (Friday).
    after = ny(2025, 7, 3, 12, 45)
    assert next_allowed_fire_time(EVERY_30_MIN, NYSE, after) == ny(2025, 7, 7, 9, 30)
    # Inside a normal session the next half hour is next.
    assert next_allowed_fire_time(EVERY_30_MIN, NYSE, ny(2015, 11, 30, 10, 1)) == ny(
        2015, 11, 30, 10, 30
    )


def test_latest_fire_time_names_the_slot_of_a_late_run() -> None:
    slot = latest_fire_time(EVERY_30_MIN, ny(2015, 11, 30, 10, 2, 30), timedelta(minutes=6))
    assert slot == ny(2015, 11, 30, 10, 0)


def test_bad_settings_fail_with_the_setting_name() -> None:
    with pytest.raises(ConfigError, match="CYCLE_CRON"):
        cycle_trigger("every half hour", calendar_zone(NYSE))
    with pytest.raises(ConfigError, match="MARKET_CALENDAR"):
        market_calendar("NOPE")
