"""Write a finished run to its folder: report.md, report.html, equity.png, trades.csv,
equity.csv and metrics.json. The Markdown and HTML say the same things from one set of rows."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")  # files only, never a window (servers and CI have no display)
import matplotlib.pyplot as plt  # noqa: E402

from orchestrator.backtest.metrics import CurveMetrics, drawdown_series  # noqa: E402
from orchestrator.backtest.result import BacktestResult, BacktestRun  # noqa: E402

FILES = ("report.md", "report.html", "equity.png", "trades.csv", "equity.csv", "metrics.json")
TRADE_COLUMNS = ("date", "symbol", "side", "qty", "price", "fees", "reason")

_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Total return", "total_return", "pct"),
    ("Annualised return", "annualised_return", "pct"),
    ("Volatility (annualised)", "volatility", "share"),
    ("Sharpe (rf 0 %)", "sharpe", "num"),
    ("Sortino (rf 0 %)", "sortino", "num"),
    ("Max drawdown", "max_drawdown", "pct"),
    ("Calmar", "calmar", "num"),
)

_HTML = jinja2.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px}
th{background:#f3f3f3}td.n{text-align:right}.warn{background:#fff4e5;padding:8px;margin:4px 0}
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ setup }}</p>
{% for w in warnings %}<div class="warn">&#9888; {{ w }}</div>{% endfor %}
<h2>Performance</h2>
<table><tr>{% for h in perf_head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in perf_rows %}<tr><td>{{ row[0] }}</td>{% for c in row[1:] %}<td class="n">{{ c }}</td>
{% endfor %}</tr>{% endfor %}</table>
<p>{{ verdict }}</p>
<img src="equity.png" alt="equity curve and drawdown" style="max-width:100%">
{% for section, rows in sections %}<h2>{{ section }}</h2><table>
{% for k, v in rows %}<tr><th>{{ k }}</th><td class="n">{{ v }}</td></tr>{% endfor %}</table>
{% endfor %}
<h2>Method</h2><p>{{ method }}</p>
</body></html>
""",
    autoescape=True,
)


def write_report(run: BacktestRun, out_dir: Path) -> list[Path]:
    """Write every output file into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = run.result
    (out_dir / "metrics.json").write_text(
        json.dumps(result.model_dump(mode="json"), indent=2) + "\n"
    )
    _write_trades(run, out_dir / "trades.csv")
    run.equity.to_csv(out_dir / "equity.csv", float_format="%.4f")
    _plot(run, out_dir / "equity.png")
    parts = _parts(result)
    (out_dir / "report.md").write_text(_markdown(parts))
    (out_dir / "report.html").write_text(_HTML.render(**parts))
    return [out_dir / name for name in FILES]


def _write_trades(run: BacktestRun, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRADE_COLUMNS)
        for trade in run.trades:
            row = asdict(trade)
            writer.writerow(
                [row["date"], row["symbol"], row["side"], f"{row['quantity']:g}",
                 f"{row['price']:.4f}", f"{row['fee']:.2f}", row["reason"]]
            )  # fmt: skip


def _plot(run: BacktestRun, path: Path) -> None:
    equity = run.equity["equity"]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(equity.index, equity / equity.iloc[0], label="strategy", linewidth=1.6)
    for name, levels in run.benchmark_levels.items():
        top.plot(levels.index, levels, label=name, linewidth=1.0, alpha=0.8)
    top.set_ylabel("growth of 1")
    top.set_title(f"Backtest {run.result.id}: equity vs buy-and-hold")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    drawdown = drawdown_series(equity) * 100
    bottom.fill_between(drawdown.index, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "pct":
        return f"{value * 100:+.2f} %"
    return f"{value * 100:.2f} %" if kind == "share" else f"{value:.2f}"


def _parts(result: BacktestResult) -> dict[str, object]:
    columns: list[tuple[str, CurveMetrics | None]] = [("Strategy", result.strategy)]
    columns += [(b.name, b.metrics) for b in result.benchmarks]
    perf_rows = [
        [label] + [_fmt(getattr(m, key), kind) if m else "n/a" for _, m in columns]
        for label, key, kind in _ROWS
    ]
    trading = result.trading
    sections = [
        (
            "Trading",
            [
                (
                    "Trades (fills)",
                    f"{trading.trades} ({trading.buys} buys, {trading.sells} sells)",
                ),
                (
                    "Win rate (closing sells)",
                    _fmt(trading.win_rate, "share") + f" of {trading.closed_trades}",
                ),
                ("Realised P&L", f"{trading.realised_pnl:,.2f}"),
                ("Fees", f"{trading.fees:,.2f}"),
                ("Turnover (per year, x equity)", f"{trading.turnover:.2f}"),
                ("Average exposure", _fmt(trading.exposure, "share")),
                ("Orders by status", _counts(result.orders)),
                ("Cycles by status", _counts(result.cycles)),
                ("Cycles by market regime", _counts(result.regimes)),
            ],
        ),
        (
            "LLM",
            [
                ("Engine", result.llm.engine),
                ("Calls to the model", str(result.llm.calls)),
                ("Served from the replay cache", str(result.llm.replay_hits)),
                ("Tokens", f"{result.llm.tokens:,}"),
                ("Cost (USD)", f"{result.llm.cost_usd:.4f}"),
            ],
        ),
        (
            "Run",
            [
                ("Sessions (rebalanced)", f"{result.sessions} ({result.rebalance_sessions})"),
                ("Wall time", f"{result.seconds:.1f} s"),
                ("Speed", f"{result.sessions_per_second:.2f} sessions/s"),
            ],
        ),
    ]
    notes = [f"{b.name}: {b.note}" for b in result.benchmarks if b.note]
    setup = (
        f"{result.first_session} to {result.last_session}, {len(result.tickers)} tickers "
        f"({', '.join(result.tickers[:20])}{', ...' if len(result.tickers) > 20 else ''}), "
        f"{result.rebalance} rebalance, engine {result.engine}, adaptive weights "
        f"{'on' if result.adaptive else 'off'}, data {result.data}, starting cash "
        f"{result.starting_cash:,.0f}."
    )
    method = (
        "run_cycle (the live cycle) replayed at each rebalance session's close with a fixed "
        "clock; the provider answers only what was known then. Market orders fill at the next "
        f"session's open with {result.slippage_bps:g} bps slippage and "
        f"{result.commission_per_order:g} per fill; approvals automatic, every order through the "
        "risk manager. Benchmarks are bought at the first session's close and held, no fees. "
        "Sharpe/Sortino use a 0 % risk-free rate and 252 sessions a year. " + " ".join(notes)
    )
    return {
        "title": f"Backtest {result.id}",
        "setup": setup,
        "warnings": result.warnings,
        "perf_head": ["Metric"] + [name for name, _ in columns],
        "perf_rows": perf_rows,
        "verdict": verdict(result),
        "sections": sections,
        "method": method,
    }


def verdict(result: BacktestResult) -> str:
    """One plain paragraph on what the numbers mean against each benchmark."""
    strategy = result.strategy
    sentences = []
    for bench in result.benchmarks:
        if bench.metrics is None:
            continue
        gap = (strategy.total_return - bench.metrics.total_return) * 100
        word = "beat" if gap > 0 else "lagged"
        risk = ""
        if strategy.sharpe is not None and bench.metrics.sharpe is not None:
            better = "better" if strategy.sharpe > bench.metrics.sharpe else "worse"
            risk = (
                f"; risk-adjusted it did {better} (Sharpe {strategy.sharpe:.2f} vs "
                f"{bench.metrics.sharpe:.2f}), with max drawdown "
                f"{strategy.max_drawdown * 100:.1f} % vs {bench.metrics.max_drawdown * 100:.1f} %"
            )
        sentences.append(f"The strategy {word} {bench.name} by {abs(gap):.1f} points{risk}.")
    if result.trading.exposure < 0.5:
        sentences.append(
            f"It held on average {result.trading.exposure * 100:.0f} % of equity in positions, "
            "so much of its return (and risk) difference comes from sitting in cash."
        )
    return " ".join(sentences) or "No benchmark was available for comparison."


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _markdown(parts: dict[str, object]) -> str:
    lines = [f"# {parts['title']}", "", str(parts["setup"]), ""]
    for warning in parts["warnings"]:  # type: ignore[attr-defined]
        lines.append(f"> **Warning:** {warning}")
        lines.append("")
    head: list[str] = parts["perf_head"]  # type: ignore[assignment]
    lines += ["## Performance", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for row in parts["perf_rows"]:  # type: ignore[attr-defined]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", str(parts["verdict"]), "", "![equity and drawdown](equity.png)", ""]
    for section, rows in parts["sections"]:  # type: ignore[attr-defined]
        lines += [f"## {section}", "", "| | |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in rows]
        lines.append("")
    lines += ["## Method", "", str(parts["method"]), ""]
    return "\n".join(lines)
