"""The service layer: the one facade that the Telegram bot, the console chat and the CLI call.

Modules group functions by area (`system`, `data`, `llm`, `trading`, `knowledge`, `analysis`, ...).
They return typed view models, never bare dicts, and raise `UserFacingError` for anything a user
should read. No face holds trading logic or SQL.
"""
