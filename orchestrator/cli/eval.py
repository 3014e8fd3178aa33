"""`fingpt eval ...`: evaluation commands that check the analysis claims on anyone's data.

Other modules add their own evaluation commands to `eval_app` (for example `eval rag`).
"""

from __future__ import annotations

import typer

from orchestrator.cli.app import app

eval_app = typer.Typer(
    help="Evaluate sentiment, forecast, selection (and retrieval) on your own data.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")
