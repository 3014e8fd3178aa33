"""No look-ahead, proven on the real pipeline: `run_cycle` replayed by the backtester over a few
sample tickers with the offline engine.

1. Full data vs the same data truncated at day D: identical candidates, signals, proposals,
   verdicts, orders and equity to D.
2. A large move and a news item planted on D+1, and news published after D's close, change
   nothing up to D, do change D+1 (so the test can fail), and that news first reaches the
   cycle at D+1's close.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from orchestrator.backtest import BacktestConfig, BacktestRun, run_backtest
from orchestrator.config import Settings
from orchestrator.data.csv_provider import CsvMarketData
from orchestrator.domain import EXCHANGE_TZ, NewsItem, session_close
from orchestrator.store.db import create_db_engine, session_scope
from orchestrator.store.trading import OrderRow
from tests.backtest.folders import TICKERS, sample_folder

# 2015: the sample then has more than a year of history, which the quant forecaster needs.
START = date(2015, 6, 1)
D = date(2015, 6, 26)  # the 20th
NEXT = date(2015, 6, 29)  # D + 1 session


def _settings(root: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=root / "var",
        database_url=f"sqlite:///{root / 'var' / 'ledger.db'}",
        max_candidates=len(TICKERS),
        adaptive_weights=True,  # weight updates are part of what must not look ahead
    )


async def _backtest(root: Path, folder: Path, *, end: date, market: Any = None) -> BacktestRun:
    config = BacktestConfig(
        start=START,
        end=end,
        tickers=list(TICKERS),
        provider="csv",
        data_dir=folder,
        out_dir=root / "out",
    )
    return await run_backtest(config, _settings(root), market_data=market)


def _decisions(run: BacktestRun, until: date) -> list[tuple[Any, ...]]:
    seen = []
    for record in run.records:
        if record.as_of.astimezone(EXCHANGE_TZ).date() > until:
            continue
        seen.append(
            (
                record.as_of,
                record.status,
                tuple(sorted(record.weights.items())),
                tuple(
                    (c.symbol, c.price, tuple(sorted(c.signals.items()))) for c in record.candidates
                ),
                tuple(
                    (p.symbol, p.side, p.quantity, p.target_weight, p.verdict, p.verdict_quantity)
                    for p in record.proposals
                ),
            )
        )
    return seen


def _orders(run: BacktestRun, until: date) -> list[tuple[Any, ...]]:
    engine = create_db_engine(f"sqlite:///{Path(run.result.out_dir) / 'backtest.db'}")
    limit = session_close(until)
    with session_scope(engine) as session:
        rows = session.exec(select(OrderRow).order_by(OrderRow.submitted_at)).all()
        orders = [
            (r.symbol, r.side, r.quantity, r.submitted_at) for r in rows if r.submitted_at <= limit
        ]
    engine.dispose()
    return orders


def _equity(run: BacktestRun, until: date) -> list[float]:
    return [round(v, 6) for d, v in run.equity["equity"].items() if d.date() <= until]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> BacktestRun:
    import asyncio

    root = tmp_path_factory.mktemp("full")
    # Full data (to the end of 2015) but only replayed to D+1: the data is what must not leak.
    return asyncio.run(_backtest(root, sample_folder(root / "data"), end=NEXT))


def test_the_window_trades(full_run: BacktestRun) -> None:
    # Without orders the comparisons below would prove little.
    assert full_run.result.sessions == 21
    assert len(_orders(full_run, D)) >= 2
    assert full_run.result.cycles == {"completed": 21}
    # The replayed post-close job scored outcomes and re-tuned the weights before D, so the
    # comparisons cover weight updates too.
    before_d = [r for r in full_run.records if r.as_of.astimezone(EXCHANGE_TZ).date() <= D]
    assert len({tuple(sorted(r.weights.items())) for r in before_d}) > 1


async def test_truncated_data_gives_identical_decisions_to_d(
    full_run: BacktestRun, tmp_path: Path
) -> None:
    cut = await _backtest(tmp_path, sample_folder(tmp_path / "data", last_day=D), end=D)
    assert cut.result.last_session == D
    assert _decisions(cut, D) == _decisions(full_run, D)
    assert _orders(cut, D) == _orders(full_run, D)
    assert _equity(cut, D) == _equity(full_run, D)


class NewsSpy(CsvMarketData):
    """The csv provider, remembering which news ids each call returned and at what `as_of`."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.seen: list[tuple[datetime, set[str]]] = []

    def get_news(
        self,
        symbols: Sequence[str],
        *,
        as_of: datetime,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NewsItem]:
        items = super().get_news(symbols, as_of=as_of, since=since, limit=limit)
        self.seen.append((as_of, {item.id for item in items}))
        return items


async def test_planted_move_and_news_change_nothing_before_they_are_public(
    full_run: BacktestRun, tmp_path: Path
) -> None:
    noon = datetime.combine(NEXT, datetime.min.time(), tzinfo=EXCHANGE_TZ) + timedelta(hours=12)
    after_close = session_close(D) + timedelta(minutes=90)
    folder = sample_folder(
        tmp_path / "data",
        move=("JPM", NEXT, 1.6),
        news=[
            ("planted-1", "JPM", noon, "JPM soars 60 % on a takeover bid, analysts say buy"),
            ("late-1", "MSFT", after_close, "MSFT guidance cut, shares fall after hours"),
        ],
    )
    spy = NewsSpy(folder)
    planted = await _backtest(tmp_path, folder, end=NEXT, market=spy)
    assert _decisions(planted, D) == _decisions(full_run, D)
    assert _orders(planted, D) == _orders(full_run, D)
    assert _equity(planted, D) == _equity(full_run, D)
    # From D+1 on the plant is visible: the test could have failed.
    assert _decisions(planted, NEXT) != _decisions(full_run, NEXT)
    # News after D's close is first seen by the cycle at D+1's close, and never earlier.
    close_d, close_next = (session_close(day).astimezone(UTC) for day in (D, NEXT))
    assert any(as_of == close_d for as_of, _ in spy.seen)
    assert min(as_of for as_of, ids in spy.seen if "late-1" in ids) == close_next
    assert min(as_of for as_of, ids in spy.seen if "planted-1" in ids) == close_next
