"""`fingpt bot`: run the Telegram bot (with the service it talks to) until Ctrl-C."""

from __future__ import annotations

from orchestrator.cli.app import app, run_async
from orchestrator.config import get_settings
from orchestrator.monitoring import configure_logging


@app.command("bot")
def bot() -> None:
    """Run the Telegram bot: long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set."""
    from bot.app import run_bot  # python-telegram-bot loads only for this command

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    run_async(run_bot(settings))
