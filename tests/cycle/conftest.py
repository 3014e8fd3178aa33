"""A runtime over the bundled sample: offline data, offline engine unless a test sets an LLM,
SimBroker, a temporary SQLite database and an in-process bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import Settings, load_settings
from orchestrator.runtime import Runtime, build_runtime
from orchestrator.service.facade import demo_clock
from tests.fakes.openai_server import close_openai_clients, fake_openai, fake_openai_factory  # noqa: F401

# Six liquid names keep a whole cycle to a second or two.
UNIVERSE = "AAPL,MSFT,JPM,XOM,KO,INTC"
# The quantitative forecaster saves its models under VAR_DIR; sharing one VAR_DIR across these
# tests trains each model once per run instead of once per test (databases stay per test).
_SHARED_VAR: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def shared_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _SHARED_VAR.append(tmp_path_factory.mktemp("cycle-var"))
    return _SHARED_VAR[-1]


def sample_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": _SHARED_VAR[-1],
        "database_url": f"sqlite:///{Path.cwd() / 'cycle.db'}",
        "data_provider": "offline",
        "universe": UNIVERSE,
        "max_candidates": 4,
        "approval_policy": "auto",
        "metrics_port": 0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
async def make_runtime() -> AsyncIterator[Callable[..., Any]]:
    runtimes: list[Runtime] = []

    async def make(settings: Settings | None = None, **options: Any) -> Runtime:
        runtime = await build_runtime(
            settings or sample_settings(),
            clock=options.pop("clock", None) or demo_clock(),
            **options,
        )
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        await runtime.close()
