"""The /chart picture: closing price, volume, the forecast band and our trades, as a PNG.

Drawn on a bare `Figure` with the Agg canvas (no pyplot, no global state, no display), so it
is safe to render from a worker thread while the bot keeps serving other chats.
"""

from __future__ import annotations

import io
from datetime import timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from orchestrator.errors import DataError
from orchestrator.service.views import ChartData

# The forecast band is drawn over the forecaster's horizon, in calendar days after the last bar.
FORECAST_HORIZON_DAYS = 7
# 1000 x 600 px: readable on a phone, and a photo Telegram does not need to recompress.
SIZE_INCHES = (10, 6)
DPI = 100


def render_chart(data: ChartData) -> bytes:
    """A PNG of `data`.

    Raises `DataError` when there are no prices to draw (the face shows that text).
    """
    if not data.dates or len(data.dates) != len(data.close):
        raise DataError(f"No price history to chart for {data.symbol}.")
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(fig)
    price_ax, volume_ax = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}
    )
    price_ax.plot(data.dates, data.close, color="#1f77b4", linewidth=1.4, label="close")

    if data.forecast_low is not None and data.forecast_high is not None:
        start = data.dates[-1]
        end = start + timedelta(days=FORECAST_HORIZON_DAYS)
        last = data.close[-1]
        # A cone from today's close to the band at the horizon: uncertainty grows with time.
        price_ax.fill_between(
            [start, end],
            [last, data.forecast_low],
            [last, data.forecast_high],
            color="#ff7f0e",
            alpha=0.25,
            label=f"forecast {data.forecast_low:,.2f}–{data.forecast_high:,.2f}",
        )

    for side, marker, color in (("buy", "^", "#2ca02c"), ("sell", "v", "#d62728")):
        trades = [
            t
            for t in data.trades
            if t.side == side and t.submitted_at is not None and (t.avg_fill_price or t.limit_price)
        ]
        if trades:
            price_ax.scatter(
                [t.submitted_at.date() for t in trades if t.submitted_at],
                [t.avg_fill_price or t.limit_price for t in trades],
                marker=marker,
                color=color,
                s=80,
                zorder=3,
                label=f"our {side}s",
            )

    price_ax.set_title(f"{data.symbol}: last close {data.close[-1]:,.2f}")
    price_ax.set_ylabel("price")
    price_ax.grid(alpha=0.3)
    price_ax.legend(loc="upper left", fontsize="small")

    if len(data.volume) == len(data.dates):
        volume_ax.bar(data.dates, data.volume, color="#7f7f7f", width=1.0)
    volume_ax.set_ylabel("volume")
    volume_ax.grid(alpha=0.3)
    fig.autofmt_xdate()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
