"""The root Typer application and the helpers every command module shares.

Command modules in this package register on `app` (top-level commands) or add a sub-`Typer`.
Errors are mapped once, in `orchestrator.cli.main`.
"""

from __future__ import annotations

import asyncio
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
