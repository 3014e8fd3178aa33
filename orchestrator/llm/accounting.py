"""Token counting and cost.

Token counts come from the API's `usage`. When an endpoint sends none (some local servers), and for
budget estimates before a call, tokens are counted locally: with tiktoken when its encoding file is
already in tiktoken's local cache (`TIKTOKEN_CACHE_DIR`), else with a documented estimate of
one token per 4 characters (OpenAI's rule of thumb for English; good to ~15% on prompts like ours).
tiktoken downloads encodings from the internet on first use; that is never attempted here, because
a blocked download can hang a run. Counting never raises.

Prices are USD per million tokens (input, output), matched on the longest model-name prefix so
dated snapshots ("gpt-4o-mini-2024-07-18") find their family. `LLM_PRICES_JSON` overrides or adds
entries: `{"my-model": [0.2, 0.8]}`. Unknown models (local servers) cost 0.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import tempfile
from typing import Any

from orchestrator.errors import ConfigError

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4.0
# Per-message framing tokens in the chat format (role, separators), as in OpenAI's cookbook.
TOKENS_PER_MESSAGE = 4

# USD per 1M tokens (input, output), list prices of the OpenAI API in 2025.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def _tiktoken_cached(encoding_name: str) -> bool:
    """Whether tiktoken would find this encoding on disk (same cache rule as tiktoken.load)."""
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if cache_dir is None:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    url = _ENCODING_URLS[encoding_name]
    return os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest()))


@functools.lru_cache(maxsize=4)
def _encoding(model: str) -> Any | None:
    name = (
        "cl100k_base"
        if model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4"
        else "o200k_base"
    )
    if not _tiktoken_cached(name):
        log.debug("tiktoken encoding %s not cached; estimating tokens from characters", name)
        return None
    try:
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception:  # a corrupt cache must not break accounting
        log.warning("tiktoken encoding %s failed to load; estimating tokens", name, exc_info=True)
        return None


def count_text_tokens(text: str, model: str = "gpt-4o-mini") -> int:
    if not text:
        return 0
    encoding = _encoding(model)
    if encoding is not None:
        return len(encoding.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_message_tokens(
    messages: list[dict[str, Any]], model: str = "gpt-4o-mini", tools: list[Any] | None = None
) -> int:
    """Prompt tokens of a chat request (messages plus tool schemas), counted locally."""
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += TOKENS_PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += count_text_tokens(content, model)
        elif content is not None:
            total += count_text_tokens(json.dumps(content), model)
        for call in message.get("tool_calls") or ():
            function = call.get("function", {})
            total += count_text_tokens(function.get("name", "") + function.get("arguments", ""))
    if tools:
        total += count_text_tokens(json.dumps(tools, separators=(",", ":")), model)
    return total


class PriceTable:
    """USD per 1M tokens per model family; see the module docstring."""

    def __init__(self, overrides_json: str = "") -> None:
        self.prices = dict(DEFAULT_PRICES)
        if overrides_json.strip():
            try:
                overrides = json.loads(overrides_json)
                for model, pair in overrides.items():
                    price_in, price_out = (float(pair[0]), float(pair[1]))
                    self.prices[str(model)] = (price_in, price_out)
            except (ValueError, TypeError, IndexError, AttributeError) as exc:
                raise ConfigError(
                    'Invalid setting LLM_PRICES_JSON: expected {"model": [usd_per_1M_in, '
                    f"usd_per_1M_out]}}: {exc}"
                ) from exc
        # Longest prefix first, so "gpt-4o-mini" wins over "gpt-4o".
        self._ordered = sorted(self.prices, key=len, reverse=True)

    def price_for(self, model: str) -> tuple[float, float] | None:
        if model in self.prices:
            return self.prices[model]
        bare = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" on routers
        return next((self.prices[p] for p in self._ordered if bare.startswith(p)), None)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price_for(model)
        if price is None:
            return 0.0
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
