"""The project's exception hierarchy.

    FinGPTError                      root; never shown to a user as is
     +-- UserFacingError             its text is safe to show in a chat or terminal
     |    +-- ConfigError            a setting is missing or invalid
     |    +-- DataError              unreadable market data (unknown ticker, empty range, bad file)
     |    |    +-- ProviderError     the provider itself failed (network, rate limit, API error)
     |    +-- NotFoundError          something asked for by id does not exist
     |    +-- PermissionDenied       the caller may not do this
     |    +-- TradingError           an order or approval cannot proceed (halted, expired, refused)
     |    +-- BudgetExceeded         an LLM token budget ran out; the run stopped cleanly
     +-- LLMError                    an LLM call failed after retries (tasks abstain on it)

Each face (CLI, Telegram, console) maps these in one place: `UserFacingError` text is shown,
anything else becomes a short "something failed" with the details in the log.
"""

from __future__ import annotations


class FinGPTError(Exception):
    """Root of every error this project raises on purpose."""


class UserFacingError(FinGPTError):
    """An error whose message says what went wrong and what to do, fit for any face."""


class ConfigError(UserFacingError):
    """A setting is missing or has an invalid value."""


class DataError(UserFacingError):
    """Market data could not be read: unknown ticker, empty range, malformed file."""


class ProviderError(DataError):
    """The data provider itself failed: network, rate limit, or an API error."""


class NotFoundError(UserFacingError):
    """An object asked for by id does not exist."""


class PermissionDenied(UserFacingError):
    """The caller is not allowed to do this."""


class TradingError(UserFacingError):
    """An order or approval cannot proceed (kill switch, expiry, broker refusal)."""


class BudgetExceeded(UserFacingError):
    """A token budget was reached; the run stopped before doing anything half-way."""


class LLMError(FinGPTError):
    """An LLM call failed after its retries; the task that made it abstains."""
