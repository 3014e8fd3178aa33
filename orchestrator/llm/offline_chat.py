"""Rules that let the offline engine chat: plain requests -> tool calls -> a formatted answer.

Turn one (the last message is the user's): read the intent and the tickers, and ask for the
matching tools, one call per ticker (they run in parallel like a model's). Turn two (tool results
follow the user's message): format those results. Anything not understood gets the help text.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from orchestrator.llm.base import ENABLE_LLM_HINT, OFFLINE_LABEL, ToolCallRequest
from orchestrator.tools.registry import strip_untrusted


@dataclass(frozen=True)
class Intent:
    name: str
    pattern: re.Pattern[str]
    tools: tuple[str, ...]  # first one that is available wins
    needs_symbol: bool = True


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# Order matters: the first matching intent wins ("news on AAPL price" is a news request).
INTENTS = (
    Intent("help", _rx(r"^\s*/?(help|start|\?)\s*$|what can you do|\bcommands?\b"), (), False),
    Intent(
        "portfolio",
        _rx(r"portfolio|positions?\b|holdings|my account|\bcash\b|p&l|\bpnl\b|equity"),
        ("get_portfolio", "portfolio", "get_positions", "get_account"),
        False,
    ),
    Intent("news", _rx(r"\bnews\b|headlines?|what happened"), ("get_news",)),
    Intent(
        "forecast",
        _rx(r"forecast|predict|outlook|next week|will \S+ (go|rise|fall)"),
        ("get_forecast", "forecast"),
    ),
    Intent(
        "sentiment",
        _rx(r"sentiment|\bmood\b"),
        ("analyze_sentiment", "get_sentiment", "sentiment"),
    ),
    Intent(
        "selection",
        _rx(r"what (should|to) (i )?buy|which stocks|\bscreen|\bpicks?\b|candidates"),
        ("select_stocks",),
        False,
    ),
    Intent(
        "fundamentals",
        _rx(r"fundamental|\bp/?e\b|valuation|market cap|\beps\b|dividend|\bbeta\b"),
        ("get_fundamentals",),
    ),
    Intent(
        "profile",
        _rx(r"profile|what does \S+ do|\bsector\b|industry|company|who is"),
        ("get_company_profile",),
    ),
    Intent(
        "history",
        _rx(r"history|chart|trend|performance|last \d+ days|past (week|month|year)"),
        ("get_price_history",),
    ),
    Intent("price", _rx(r"price|quote|trading at|worth|how much|\bcost\b"), ("get_quote",)),
)

# Upper-case words that are not tickers in questions people type.
_NOT_TICKERS = {
    "I", "A", "AN", "THE", "IS", "OF", "ON", "FOR", "AND", "OR", "ME", "MY", "WHAT", "HOW",
    "PE", "EPS", "US", "USD", "AI", "LLM", "OK", "PNL", "CEO", "ETF", "IPO", "TO", "IN", "AT",
    "NEWS", "PRICE", "HELP",
}  # fmt: skip
_WORD = re.compile(r"\$?[A-Za-z][A-Za-z.]{0,5}\b")

HELP_TEXT = (
    "I can answer plain requests such as:\n"
    "- price of AAPL\n- news on TSLA\n- how is my portfolio\n- forecast for MSFT\n"
    "- sentiment of AMZN\n- fundamentals of KO\n- profile of JNJ\n- price history of XOM\n"
    "- which stocks look interesting"
)


def extract_symbols(text: str, known: set[str]) -> list[str]:
    """Tickers in `text`: $TSLA, upper-case words that look like tickers, or known ones in any
    case. Keeps order, drops duplicates."""
    found: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        bare = word.lstrip("$").rstrip(".")
        upper = bare.upper()
        if word.startswith("$") or upper in known or (bare.isupper() and upper not in _NOT_TICKERS):
            if upper not in found and 1 <= len(upper) <= 6:
                found.append(upper)
    return found


def _footer() -> str:
    return f"\n\n— {OFFLINE_LABEL}. {ENABLE_LLM_HINT}"


def _arguments_for(tool: dict[str, Any], symbol: str | None) -> str:
    """Arguments for a tool from its schema: the ticker where it takes one, null elsewhere
    (strict schemas list every property; null means "use the default")."""
    properties = tool["function"].get("parameters", {}).get("properties", {})
    args: dict[str, Any] = {}
    for name in properties:
        if name == "symbol":
            args[name] = symbol
        elif name in ("symbols", "tickers"):
            args[name] = [symbol] if symbol else []
        elif name == "ticker":
            args[name] = symbol
        else:
            args[name] = None
    return json.dumps(args)


def respond(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], known: set[str]
) -> tuple[str | None, list[ToolCallRequest]]:
    """The offline engine's reply to a conversation: (text, []) or (None, tool calls)."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if last_user < 0:
        return HELP_TEXT + _footer(), []
    if any(m.get("role") == "tool" for m in messages[last_user + 1 :]):
        return format_results(messages[last_user + 1 :]) + _footer(), []

    text = str(messages[last_user].get("content") or "")
    by_name = {t["function"]["name"]: t for t in tools if t.get("type") == "function"}
    symbols = extract_symbols(text, known)
    intent = next((i for i in INTENTS if i.pattern.search(text)), None)
    if intent is None and symbols:
        intent = next(i for i in INTENTS if i.name == "price")
    if intent is None or intent.name == "help":
        return HELP_TEXT + _footer(), []
    tool_name = next((name for name in intent.tools if name in by_name), None)
    if tool_name is None:
        return (
            f"The {intent.name} tool is not available here, so I cannot answer that offline."
            + _footer(),
            [],
        )
    if intent.needs_symbol and not symbols:
        return f"Which ticker? For example: {intent.name} of AAPL." + _footer(), []
    targets: list[str | None] = list(symbols[:5]) if intent.needs_symbol else [None]
    calls = [
        ToolCallRequest(
            id=f"call_{uuid.uuid4().hex[:12]}",
            name=tool_name,
            arguments=_arguments_for(by_name[tool_name], symbol),
        )
        for symbol in targets
    ]
    return None, calls


def format_results(after_question: list[dict[str, Any]]) -> str:
    """Readable text from the tool calls and results that followed the question."""
    names: dict[str, str] = {}
    for message in after_question:
        for call in message.get("tool_calls") or ():
            names[call["id"]] = call["function"]["name"]
    parts = []
    for message in after_question:
        if message.get("role") != "tool":
            continue
        name = names.get(message.get("tool_call_id", ""), "tool")
        parts.append(format_result(name, str(message.get("content") or "")))
    return "\n\n".join(parts) or "No results."


def format_result(tool_name: str, content: str) -> str:
    if content.startswith("error:"):
        return f"{tool_name}: {content[len('error:') :].strip()}"
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return strip_untrusted(content)
    if tool_name == "get_quote" and isinstance(data, dict) and "price" in data:
        when = str(data.get("timestamp", ""))[:16].replace("T", " ")
        return f"{data.get('symbol', '')}: {data['price']:,.2f}" + (
            f" (as of {when})" if when else ""
        )
    if tool_name == "get_news" and isinstance(data, dict) and "items" in data:
        items = data["items"]
        if not items:
            return f"No news for {data.get('symbol', 'that ticker')} up to now."
        lines = [f"News for {data.get('symbol', '')}:"]
        for item in items:
            headline = strip_untrusted(str(item.get("headline", "")))
            day = str(item.get("published_at", ""))[:10]
            source = item.get("source", "")
            lines.append(f"- {day} {headline}" + (f" ({source})" if source else ""))
        return "\n".join(lines)
    return _generic(tool_name, data)


def _generic(title: str, data: Any, indent: str = "") -> str:
    if isinstance(data, dict):
        lines = [f"{indent}{title}:"] if title else []
        for key, value in data.items():
            if isinstance(value, dict | list):
                lines.append(_generic(str(key), value, indent + "  "))
            else:
                lines.append(f"{indent}  {key}: {_scalar(value)}")
        return "\n".join(lines)
    if isinstance(data, list):
        lines = [f"{indent}{title}:"] if title else []
        for item in data[:20]:
            if isinstance(item, dict):
                # One line per item: its plain values (nested detail would wrap into a wall).
                flat = [(k, v) for k, v in item.items() if not isinstance(v, dict | list)]
                lines.append(indent + "  - " + ", ".join(f"{k}: {_scalar(v)}" for k, v in flat))
            else:
                lines.append(f"{indent}  - {_scalar(item)}")
        return "\n".join(lines)
    return f"{indent}{title}: {_scalar(data)}"


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return strip_untrusted(str(value))
