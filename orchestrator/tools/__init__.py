"""The agent's tools: a typed registry (`registry.py`) and tool modules that register on it.

Every module in this package other than `registry` is a tool module (`market`, `trading`,
`analysis`, `knowledge`, ...); `default_registry()` imports them all, so adding one needs no edit
here. A tool module that fails to import is logged and skipped, so one broken area cannot take
the agent down.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

from orchestrator.tools.registry import (
    UNTRUSTED_NOTICE,
    ToolContext,
    ToolRegistry,
    ToolSpec,
    compact_json,
    default_registry,
    strict_json_schema,
    strip_untrusted,
    tool,
    untrusted,
)

__all__ = [
    "UNTRUSTED_NOTICE",
    "ToolContext",
    "ToolRegistry",
    "ToolSpec",
    "compact_json",
    "default_registry",
    "load_tool_modules",
    "strict_json_schema",
    "strip_untrusted",
    "tool",
    "untrusted",
]

log = logging.getLogger(__name__)
_NOT_TOOLS = {"registry"}
_loaded = False


def load_tool_modules() -> None:
    """Import every tool module of this package once."""
    global _loaded
    if _loaded:
        return
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name in _NOT_TOOLS or module.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"orchestrator.tools.{module.name}")
        except Exception:
            log.exception(
                "tool module orchestrator.tools.%s failed to import; skipped", module.name
            )
    _loaded = True
