"""`fingpt` command line. Every command calls `orchestrator.service`; this package only formats."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

from orchestrator.cli.app import app, err_console
from orchestrator.errors import UserFacingError

# Each module here registers its commands on `app` when imported; adding one needs no edit here.
for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name != "app" and not _module.name.startswith("_"):
        importlib.import_module(f"orchestrator.cli.{_module.name}")


def main() -> None:
    """Console entry point: run the app, turning known errors into one line and exit code 1."""
    try:
        app()
    except UserFacingError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        logging.getLogger("orchestrator").debug("unexpected error", exc_info=True)
        err_console.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {exc}", highlight=False
        )
        raise SystemExit(2) from None
