"""`python -m bot`: run the Telegram bot alone (the same as `fingpt bot`)."""

from __future__ import annotations

from orchestrator.cli import main

if __name__ == "__main__":
    import sys

    sys.argv = ["fingpt", "bot", *sys.argv[1:]]
    main()
