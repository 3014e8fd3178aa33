"""Token counting and cost.

Token counts come from the API's `usage`. When an endpoint sends none (some local servers), and for
budget estimates before a call, tokens are counted locally with tiktoken (o200k_base for current
OpenAI models, cl100k_base for gpt-4/gpt-3.5). tiktoken downloads its encoding files on first use;
that is never attempted here, because a blocked download can hang a run. The files are found on
disk instead: tiktoken's own cache (`TIKTOKEN_CACHE_DIR`), else the copy that the locked dependency
llama-index-core ships in `llama_index/core/_static/tiktoken_cache` (so a fresh install counts
exactly with no network). Only if neither has the file is the documented estimate of one token
per 4 characters used (OpenAI's rule of thumb for English). Counting never raises.

Prices are USD per million tokens (input, output), matched on the longest model-name prefix so
dated snapshots ("gpt-4o-mini-2024-07-18") find their family. `LLM_PRICES_JSON` overrides or adds
entries: `{"my-model": [0.2, 0.8]}`. Unknown models (local servers) cost 0.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
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

_LOAD_LOCK = threading.Lock()
_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


def _bundled_cache_dir() -> str | None:
    """llama-index-core's shipped tiktoken cache folder, found without importing llama_index."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "_static", "tiktoken_cache")
    return folder if os.path.isdir(folder) else None


def _cache_file(encoding_name: str, cache_dir: str) -> str:
    url = _ENCODING_URLS[encoding_name]
    return os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())


def _tiktoken_cache_dir(encoding_name: str) -> str | None:
    """A folder holding this encoding's file under tiktoken's cache naming, or None."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    candidates = [configured or os.path.join(tempfile.gettempdir(), "data-gym-cache")]
    candidates.append(_bundled_cache_dir() or "")
    for folder in candidates:
        if folder and os.path.exists(_cache_file(encoding_name, folder)):
            return folder
    return None


def encoding_name_for(model: str) -> str:
    bare = model.rsplit("/", 1)[-1]
    old = bare.startswith(("gpt-4-", "gpt-3.5")) or bare == "gpt-4"
    return "cl100k_base" if old else "o200k_base"


@functools.lru_cache(maxsize=4)
def _load_encoding(name: str) -> Any | None:
    folder = _tiktoken_cache_dir(name)
    if folder is None:
        log.debug("tiktoken encoding %s not on disk; estimating tokens from characters", name)
        return None
    try:
        import tiktoken
        from tiktoken_ext import openai_public

        with open(_cache_file(name, folder), "rb") as handle:
            data = handle.read()
        ranks = {
            base64.b64decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)
        }
        with _LOAD_LOCK:
            # The public constructor gives pat_str and special tokens; its loader is pointed at
            # the ranks read above for the duration, so it cannot reach for the network.
            original = openai_public.load_tiktoken_bpe
            openai_public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
            try:
                spec = getattr(openai_public, name)()
            finally:
                openai_public.load_tiktoken_bpe = original
        return tiktoken.Encoding(**spec)
    except Exception:  # a corrupt file must not break accounting
        log.warning("tiktoken encoding %s failed to load; estimating tokens", name, exc_info=True)
        return None


def _encoding(model: str) -> Any | None:
    return _load_encoding(encoding_name_for(model))


@functools.lru_cache(maxsize=512)
def count_text_tokens(text: str, model: str = "gpt-4o-mini") -> int:
    # Cached: a task's system prompt (instructions and answer schema) and the agent's tool
    # schemas are the same text on every call, and were counted again each time.
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
