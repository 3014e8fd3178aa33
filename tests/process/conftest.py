"""Settings for the service-process tests: the bundled sample, offline engine, SimBroker.

The quantitative forecaster keeps its trained models under VAR_DIR; one VAR_DIR per test session
trains them once instead of once per test (each test still has its own database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Settings, load_settings

# Six liquid names of the sample; two candidates keep each cycle short (the process wiring,
# not the cycle, is under test here).
UNIVERSE = "AAPL,MSFT,JPM,XOM,KO,INTC"
_VAR: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def process_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _VAR.append(tmp_path_factory.mktemp("process-var"))
    return _VAR[-1]


def var_dir() -> Path:
    return _VAR[-1]


def process_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": var_dir(),
        "database_url": f"sqlite:///{Path.cwd() / 'process.db'}",
        "data_provider": "offline",
        "universe": UNIVERSE,
        "max_candidates": 2,
        "approval_policy": "auto",
        "metrics_port": 0,
    }
    values.update(overrides)
    return load_settings(**values)
