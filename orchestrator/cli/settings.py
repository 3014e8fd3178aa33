"""`fingpt config show` and `fingpt db upgrade`."""

from __future__ import annotations

import typer
from rich.table import Table

from orchestrator.cli.app import app, console
from orchestrator.service import system

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")


@config_app.command("show")
def config_show() -> None:
    """Print every effective setting; secrets are masked."""
    table = Table("setting", "value", title="Effective settings")
    for name, value in system.settings_view().items():
        table.add_row(name, value)
    console.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (also done automatically at start)."""
    url = system.upgrade_database()
    console.print(f"Database is up to date: {url}")
