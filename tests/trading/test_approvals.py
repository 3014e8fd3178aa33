from __future__ import annotations

import pytest

from orchestrator.errors import ConfigError
from orchestrator.trading.approvals import parse_policy


@pytest.mark.parametrize(
    ("text", "notional", "waits"),
    [
        ("auto", 1e9, False),
        ("confirm_all", 1.0, True),
        ("confirm_above:1000", 1_000.0, False),
        ("confirm_above:1000", 1_000.01, True),
        ("CONFIRM_ABOVE:0", 0.5, True),
    ],
)
def test_policy_decides_what_waits_for_a_person(text: str, notional: float, waits: bool) -> None:
    assert parse_policy(text).needs_confirmation(notional) is waits


@pytest.mark.parametrize("text", ["", "sometimes", "confirm_above:", "confirm_above:-5"])
def test_a_bad_policy_is_a_clear_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="auto, confirm_all or confirm_above"):
        parse_policy(text)
