"""Every view model rendered as Telegram HTML, and long HTML split to fit a message.

Only this module turns numbers into text, so the Telegram face and the console chat show the
same thing. Everything that came from outside (news, rationales, LLM answers) is escaped: a
headline containing `<b>` is shown, not obeyed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from orchestrator.service.views import (
    AnalysisView,
    AnswerView,
    ApprovalOutcome,
    ApprovalView,
    CostView,
    CycleSummary,
    ForecastView,
    LessonView,
    NewsView,
    OrderView,
    PerformanceView,
    PnlView,
    PortfolioView,
    RiskView,
    StatusView,
    WeightsView,
)

# Telegram rejects a message above 4096 characters (UTF-16 code units, after entity parsing);
# counting the raw HTML with its tags is the safe side of that.
MESSAGE_LIMIT = 4096
# Photo captions have their own, smaller limit.
CAPTION_LIMIT = 1024


def money(value: float) -> str:
    return f"${value:,.2f}"


def pct(value: float | None, *, signed: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}%" if signed else f"{value:.2f}%"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def qty(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}".rstrip("0")


def _title(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def _lines(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p is not None)


# --- status and account ----------------------------------------------------------------------


def format_status(s: StatusView) -> str:
    trading = "live money" if not s.paper else "paper"
    state = "⛔ kill switch ON" if s.kill_switch else ("⏸ paused" if s.paused else "▶️ running")
    return _lines(
        _title("Status"),
        f"Mode: <b>{escape(s.mode)}</b> ({trading}), broker <b>{escape(s.broker)}</b>",
        f"Trading: {state}",
        f"Halted: {escape(s.halted_reason)}" if s.halted_reason else None,
        f"LLM: {escape(s.llm)} · data: {escape(s.data_provider)}",
        f"Last cycle: {when(s.last_cycle_at)}"
        + (f" ({escape(s.last_cycle_status)})" if s.last_cycle_status else ""),
        # None when no scheduler runs in this process (the bot alone): not the same as "never".
        f"Next cycle: {when(s.next_cycle_at) if s.next_cycle_at else 'not scheduled here'}",
        f"Pending approvals: {s.pending_approvals}",
        f"Regime: {escape(s.regime)}" if s.regime else None,
    )


def format_portfolio(p: PortfolioView) -> str:
    head = _lines(
        _title(f"Portfolio at {when(p.as_of)}"),
        f"Equity {money(p.equity)} · cash {money(p.cash)} · "
        f"gross exposure {pct(p.gross_exposure_pct, signed=False)}",
    )
    return head + "\n\n" + format_positions(p)


def format_positions(p: PortfolioView) -> str:
    if not p.positions:
        return "No open positions."
    rows = [
        f"<b>{escape(x.symbol)}</b> {qty(x.quantity)} @ {money(x.avg_price)} → "
        f"{money(x.market_price)} = {money(x.market_value)} "
        f"({money(x.unrealized_pl)}, {pct(x.unrealized_pl_pct)}; "
        f"{pct(x.weight_pct, signed=False)} of equity)"
        for x in p.positions
    ]
    return _lines(_title(f"Positions ({len(rows)})"), *rows)


def format_order(o: OrderView) -> str:
    price = f" limit {money(o.limit_price)}" if o.limit_price is not None else ""
    fill = (
        f", filled {qty(o.filled_quantity)} @ {money(o.avg_fill_price)}"
        if o.avg_fill_price is not None and o.filled_quantity
        else ""
    )
    reason = f" — {escape(o.reason)}" if o.reason else ""
    return (
        f"{escape(o.side.upper())} {qty(o.quantity)} <b>{escape(o.symbol)}</b> "
        f"{escape(o.order_type)}{price}: {escape(o.status)}{fill}{reason}"
    )


def format_orders(orders: Sequence[OrderView]) -> str:
    if not orders:
        return "No orders yet."
    rows = [f"{when(o.submitted_at)} {format_order(o)}" for o in orders]
    return _lines(_title(f"Last {len(rows)} orders"), *rows)


def format_pnl(p: PnlView) -> str:
    return _lines(
        _title(f"P&L over {p.days} days"),
        f"{money(p.start_equity)} → {money(p.end_equity)}: "
        f"<b>{money(p.change)}</b> ({pct(p.change_pct)})",
        *(f"{pt.day.isoformat()}  {money(pt.equity)}" for pt in p.points[-10:]),
    )


def format_performance(p: PerformanceView) -> str:
    by_signal = ", ".join(f"{escape(k)} {v:.0f}%" for k, v in sorted(p.hit_rate_by_signal.items()))
    return _lines(
        _title("Performance"),
        f"Total return {pct(p.total_return_pct)}, max drawdown {pct(p.max_drawdown_pct)}",
        f"Trades {p.trades}; decisions evaluated {p.decisions_evaluated}; "
        f"hit rate {pct(p.hit_rate_pct, signed=False)}",
        f"By signal: {by_signal}" if by_signal else None,
    )


# --- research --------------------------------------------------------------------------------


def format_forecast(f: ForecastView) -> str:
    return _lines(
        _title(f"Forecast {f.symbol}"),
        f"P(up) {f.prob_up:.0%}, expected {pct(f.expected_return_pct)} ({escape(f.bin)})",
        f"Model: {escape(f.model)} · as of {when(f.as_of)}",
        f"\n{escape(f.llm_summary)}" if f.llm_summary else None,
    )


def format_analysis(a: AnalysisView) -> str:
    signals = ", ".join(f"{escape(k)} {v:+.3f}" for k, v in a.signals.items())
    parts = [
        _title(f"{a.symbol} at {money(a.last_price)}"),
        f"As of {when(a.as_of)}",
        f"Signals: {signals}" if signals else "Signals: none",
    ]
    if a.sentiment:
        s = a.sentiment
        parts.append(
            f"Sentiment: {escape(s.label)} ({s.score:+.2f}, {s.n_items} items, {escape(s.engine)})"
        )
    if a.forecast:
        f = a.forecast
        parts.append(
            f"Forecast: P(up) {f.prob_up:.0%}, expected {pct(f.expected_return_pct)} "
            f"({escape(f.model)})"
        )
    if a.highlights:
        parts.append("<b>Highlights</b>")
        for h in a.highlights:
            day = f" {h.published_at.date().isoformat()}" if h.published_at else ""
            parts.append(
                f"• <i>{escape(h.title)}</i> ({escape(h.source)}{day}): {escape(h.excerpt)}"
            )
    parts.extend(f"⚠️ {escape(n)}" for n in a.notes)
    return _lines(*parts)


def format_news(symbol: str, items: Sequence[NewsView]) -> str:
    if not items:
        return f"No recent news for {escape(symbol)}."
    rows = []
    for n in items:
        headline = escape(n.headline)
        if n.url.startswith(("http://", "https://")):
            headline = f'<a href="{escape(n.url, quote=True)}">{headline}</a>'
        source = f" — {escape(n.source)}" if n.source else ""
        rows.append(f"{n.published_at.date().isoformat()} {headline}{source}")
    return _lines(_title(f"News {symbol}"), *rows)


def format_chart_caption(symbol: str, days: int) -> str:
    return f"<b>{escape(symbol)}</b>: {days} days of price and volume, forecast band, our trades"


# --- approvals -------------------------------------------------------------------------------


def format_approval(a: ApprovalView) -> str:
    """The proposal a person is asked to approve: every number they need to decide."""
    clamps = [f"✂️ {escape(c.limit)}: {qty(c.before)} → {qty(c.after)}" for c in a.clamps]
    return _lines(
        _title(f"Trade proposal #{a.id}"),
        f"{escape(a.side.upper())} {qty(a.quantity)} <b>{escape(a.symbol)}</b> "
        f"@ {money(a.price)} = {money(a.notional)}",
        f"Confidence {a.confidence:.0%} · risk verdict <b>{escape(a.verdict)}</b>",
        *clamps,
        *(f"• {escape(r)}" for r in a.reasons),
        f"<i>{escape(a.rationale)}</i>" if a.rationale else None,
        f"Expires {when(a.expires_at)}",
    )


def format_approval_status(status: str, detail: str = "") -> str:
    """The line appended to a proposal once it is decided, failed or expired."""
    marks = {"approved": "✅", "executed": "✅", "rejected": "❌", "expired": "⌛", "failed": "⚠️"}
    line = f"{marks.get(status, 'ℹ️')} <b>{escape(status.capitalize())}</b>"
    return f"{line}: {escape(detail)}" if detail else line


def format_approval_outcome(o: ApprovalOutcome, by: str = "") -> str:
    who = f" by {escape(by)}" if by else ""
    return (
        format_approval(o.approval)
        + "\n\n"
        + format_approval_status(o.approval.status, o.message)
        + who
    )


def format_pending(items: Sequence[ApprovalView]) -> str:
    if not items:
        return "Nothing is waiting for approval."
    return "\n\n".join(format_approval(a) for a in items)


# --- cycles, risk, cost, lessons -------------------------------------------------------------


def format_cycle(c: CycleSummary) -> str:
    head = f"Cycle #{c.cycle_id} {escape(c.status)} at {when(c.as_of)} in {c.seconds:.1f}s"
    detail = (
        f"{len(c.candidates)} candidates, {c.proposals} proposals "
        f"({c.approved} approved, {c.resized} resized, {c.blocked} blocked), "
        f"{c.pending_approvals} awaiting approval, {c.orders} orders; "
        f"{c.llm_calls} LLM calls, {c.tokens:,} tokens, {money(c.cost_usd)}"
    )
    error = f"\n⚠️ {escape(c.error)}" if c.error else ""
    return f"<b>{head}</b>\n{detail}{error}"


def format_history(cycles: Sequence[CycleSummary]) -> str:
    if not cycles:
        return "No cycles have run yet."
    return "\n\n".join(format_cycle(c) for c in cycles)


def format_risk(r: RiskView) -> str:
    limits = [f"{escape(k)}: <code>{escape(v)}</code>" for k, v in sorted(r.limits.items())]
    day = (
        f"Today {pct(r.day_pl_pct)} from {money(r.day_start_equity)}"
        if r.day_start_equity is not None
        else None
    )
    return _lines(
        _title("Risk"),
        f"Kill switch {'ON' if r.kill_switch else 'off'}; trading {'paused' if r.paused else 'on'}",
        f"Halted: {escape(r.halted_reason)}" if r.halted_reason else None,
        day,
        *limits,
    )


def format_settings(values: dict[str, str]) -> str:
    rows = [f"<code>{escape(k)}</code> = {escape(v)}" for k, v in sorted(values.items())]
    return _lines(_title("Settings"), *rows)


def format_cost(c: CostView) -> str:
    tasks = ", ".join(f"{escape(k)} {money(v)}" for k, v in sorted(c.by_task.items()))
    cycles = [
        f"#{x.cycle_id}: {x.tokens:,} tokens, {money(x.cost_usd)}, {x.llm_calls} calls"
        for x in c.per_cycle
    ]
    return _lines(
        _title("LLM cost today"),
        f"{c.today_tokens:,} tokens in {c.today_calls} calls: <b>{money(c.today_cost_usd)}</b>",
        f"By task: {tasks}" if tasks else None,
        "<b>Per cycle</b>" if cycles else None,
        *cycles,
    )


def format_lessons(items: Sequence[LessonView]) -> str:
    if not items:
        return "No lessons recorded yet."
    rows = [
        f"{x.created_at.date().isoformat()} {escape(x.symbol or 'all')}: {escape(x.text)}"
        for x in items
    ]
    return _lines(_title("Lessons"), *rows)


def format_weights(items: Sequence[WeightsView]) -> str:
    rows = [
        f"{x.since.date().isoformat() if x.since else 'defaults'}: "
        + ", ".join(f"{escape(k)} {v:.2f}" for k, v in x.weights.items())
        + (f"\n  <i>{escape(x.reason)}</i>" if x.since and x.reason else "")
        for x in items
    ]
    return _lines(_title("Signal weights"), *rows)


def format_answer(a: AnswerView) -> str:
    tools = f" · tools: {escape(', '.join(a.tools_used))}" if a.tools_used else ""
    return f"{escape(a.text)}\n\n<i>— {escape(a.engine)}{tools}</i>"


def format_help(commands: Iterable[tuple[str, str, str, bool]]) -> str:
    """Help from (name, usage, description, admin-only) rows of the command table."""
    rows = [
        f"/{name}{(' ' + escape(usage)) if usage else ''} — {escape(text)}{' 🔒' if admin else ''}"
        for name, usage, text, admin in commands
    ]
    return _lines(
        _title("Commands"),
        *rows,
        "\nAnything else you write is answered by the assistant. 🔒 = admins only.",
    )


# --- splitting -------------------------------------------------------------------------------

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _track(state: list[tuple[str, str]], piece: str) -> list[tuple[str, str]]:
    """The tags still open after `piece`, given those open before it."""
    state = list(state)
    for match in _TAG.finditer(piece):
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            state.append((name, match.group(0)))
        elif state and state[-1][0] == name:
            state.pop()
    return state


def _closers(state: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(state))


def _pieces(text: str, size: int) -> list[str]:
    """Lines of `text`; a line longer than `size` is cut at spaces outside tags and entities."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        while _units(line) > size:
            cut = _safe_cut(line, size)
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _safe_cut(line: str, size: int) -> int:
    # Characters before `size` units (an approximation for astral characters is fine: the
    # final check in `split_html` counts units exactly and `size` leaves room).
    limit = min(len(line), size)
    inside = [False] * (len(line) + 1)
    for pattern in (_TAG, re.compile(r"&[#a-zA-Z0-9]+;")):
        for m in pattern.finditer(line):
            for i in range(m.start() + 1, m.end()):
                inside[i] = True
    spaces = [i + 1 for i in range(limit) if line[i] == " " and not inside[i + 1]]
    if spaces and spaces[-1] > limit // 2:
        return spaces[-1]
    cut = limit
    while cut > 1 and inside[cut]:
        cut -= 1
    return cut


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML into messages of at most `limit` units, on line boundaries where possible.

    A tag open across a split (a `<pre>` block, say) is closed at the end of one part and
    opened again at the start of the next, so every part is valid HTML on its own. A single
    line longer than a message is cut at a space, never inside a tag or an entity.
    """
    text = text.strip()
    if _units(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    state: list[tuple[str, str]] = []
    current = ""
    # Room for closing and reopening the (few, short) tags we generate.
    for piece in _pieces(text, limit // 2):
        after = _track(state, piece)
        if current and _units(current + piece + _closers(after)) > limit:
            parts.append((current.rstrip("\n") + _closers(state)).strip())
            current = "".join(tag for _, tag in state)
        current += piece
        state = after
    if current.strip():
        parts.append((current + _closers(state)).strip())
    return [p for p in parts if p]
