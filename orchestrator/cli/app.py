"""The root Typer application and the helpers every command module shares.

Command modules in this package register on `app` (top-level commands) or add a sub-`Typer`.
Errors are mapped once, in `orchestrator.cli.main`.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

T = TypeVar("T")

app = typer.Typer(
    name="fingpt",
    help="FinGPT Orchestrator: an LLM trading assistant that asks before it acts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a service coroutine from a synchronous Typer command."""
    return asyncio.run(coroutine)


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def lazy_import(name: str) -> Any:
    """Module `name`, imported on first use: commands whose services load heavy libraries
    (Qdrant, fastembed, matplotlib) do not slow down every other `fingpt` command."""
    return _LazyModule(name)
