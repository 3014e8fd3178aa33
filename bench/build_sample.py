"""Rebuild the bundled offline sample (orchestrator/sample_data/) from ../shared/data/stocknet.

    .venv/bin/python bench/build_sample.py [--source ../shared/data/stocknet]

Writes, for the 15 tickers of `DEFAULT_UNIVERSE`:
- `<TICKER>.csv.gz`: StockNet's Yahoo-layout prices, 2014-01-01 to 2015-12-31, rows unchanged;
- `news.csv.gz`: their tweets as dated news items (`id,symbols,published_at,headline,source`),
  an exact repeat of a text kept once at its earliest time with the union of its tickers;
- `profiles.csv`: name and sector from StockNet's StockTable;
- `LICENSE-STOCKNET.md`: the StockNet MIT licence and credit.
The output is deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
from pathlib import Path

import pandas as pd

from orchestrator.config import DEFAULT_UNIVERSE

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "orchestrator" / "sample_data"
FIRST, LAST = "2014-01-01", "2015-12-31"
# StockTable's sector names, spelled as StockNet spells them, with its one typo fixed.
_SECTOR_FIXES = {"Basic Matierials": "Basic Materials"}

LICENSE_TEXT = """# StockNet data: licence and credit

The prices, tweets and company table in this folder are a subset (15 tickers, 2014-2015) of the
StockNet data set:

> Yumo Xu and Shay B. Cohen. 2018. *Stock Movement Prediction from Tweets and Historical Prices.*
> In Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics
> (ACL 2018), pages 1970-1979. https://github.com/yumoxu/stocknet-dataset

Tweets were turned into dated news items (text as headline, source "twitter"); prices are the
data set's Yahoo Finance files, unchanged. Rebuild with `python bench/build_sample.py`.

## Licence (MIT)

{license}
"""


def _gzip_csv(frame: pd.DataFrame, path: Path) -> None:
    # mtime=0 keeps the gzip header, and so the file, identical across runs.
    text = frame.to_csv(index=False, lineterminator="\n").encode()
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(text)


def build_prices(source: Path, tickers: list[str], output: Path = OUTPUT) -> None:
    for ticker in tickers:
        frame = pd.read_csv(source / "prices" / f"{ticker}.csv", dtype=str)
        frame = frame[(frame["Date"] >= FIRST) & (frame["Date"] <= LAST)]
        _gzip_csv(frame, output / f"{ticker}.csv.gz")


def build_news(source: Path, tickers: list[str], output: Path = OUTPUT) -> int:
    tweets = pd.read_csv(source / "tweets.csv.gz", dtype=str)
    tweets = tweets[tweets["ticker"].isin(tickers)].copy()
    tweets["published_at"] = pd.to_datetime(
        tweets["created_at"], format="%a %b %d %H:%M:%S %z %Y", utc=True
    )
    tweets["text"] = tweets["text"].str.strip()
    tweets = tweets[tweets["text"] != ""]
    symbols = tweets.groupby("text")["ticker"].agg(lambda s: " ".join(sorted(set(s))))
    first = tweets.sort_values(["published_at", "ticker"]).drop_duplicates("text", keep="first")
    news = pd.DataFrame(
        {
            "id": [
                "stocknet-" + hashlib.sha1(f"{t}|{p.isoformat()}".encode()).hexdigest()[:12]
                for t, p in zip(first["text"], first["published_at"], strict=True)
            ],
            "symbols": first["text"].map(symbols).to_numpy(),
            "published_at": first["published_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(),
            "headline": first["text"].to_numpy(),
            "source": "twitter",
        }
    ).sort_values(["published_at", "id"])
    _gzip_csv(news, output / "news.csv.gz")
    return len(news)


def build_profiles(source: Path, tickers: list[str]) -> None:
    table = pd.read_csv(source / "StockTable", sep="\t", dtype=str)
    table["symbol"] = table["Symbol"].str.lstrip("$").str.strip()
    table = table[table["symbol"].isin(tickers)]
    profiles = pd.DataFrame(
        {
            "symbol": table["symbol"],
            "name": table["Company"].map(lambda n: re.sub(r"\s+", " ", n).strip()),
            "sector": table["Sector"].str.strip().replace(_SECTOR_FIXES),
        }
    ).sort_values("symbol")
    missing = sorted(set(tickers) - set(profiles["symbol"]))
    if missing:
        raise SystemExit(f"StockTable lacks {missing}")
    buffer = io.StringIO()
    profiles.to_csv(buffer, index=False, lineterminator="\n")
    (OUTPUT / "profiles.csv").write_text(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/data/stocknet")
    source = parser.parse_args().source
    tickers = DEFAULT_UNIVERSE.split(",")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    build_prices(source, tickers)
    count = build_news(source, tickers)
    build_profiles(source, tickers)
    license_text = (source / "LICENSE").read_text().strip()
    (OUTPUT / "LICENSE-STOCKNET.md").write_text(LICENSE_TEXT.format(license=license_text))
    size = sum(p.stat().st_size for p in OUTPUT.iterdir() if p.is_file())
    print(f"wrote {len(tickers)} price files, {count} news items to {OUTPUT} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
