"""The README stays true: its quick start is `make demo` then `make test`, and its configuration
table lists every setting with what it does."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_begins_with_make_demo_then_make_test() -> None:
    commands = re.findall(r"^(make \w+)", README.read_text(), flags=re.MULTILINE)
    assert commands[:2] == ["make demo", "make test"]


def test_every_setting_is_in_the_configuration_table_with_a_description() -> None:
    rows = {
        match.group(1): match.group(2).strip()
        for match in re.finditer(
            r"^\| `([A-Z0-9_]+)` \| `[^`]*` \| (.*) \|$", README.read_text(), flags=re.MULTILINE
        )
    }
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in rows]
    undescribed = [name for name, text in rows.items() if not text]
    assert missing == [], f"run scripts/settings_table.py and paste it into README.md: {missing}"
    assert undescribed == [], f"describe these settings in orchestrator/config.py: {undescribed}"
