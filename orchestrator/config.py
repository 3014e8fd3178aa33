"""Settings from environment variables and `.env` (pydantic-settings).

Every field's environment variable is its name in upper case (`max_position_pct` ->
`MAX_POSITION_PCT`). `load_settings()` turns a validation failure into a `ConfigError` that names
the variable, the bad value and what was expected, so a typo fails at start instead of mid-cycle.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestrator.errors import ConfigError

LLM_TASKS = ("sentiment", "forecast", "decision", "chat", "reflection")

# The bundled sample's tickers (StockNet large caps, 2014-2015); the screener's default universe.
DEFAULT_UNIVERSE = "AAPL,MSFT,AMZN,GOOG,FB,JPM,XOM,JNJ,WMT,BAC,INTC,CSCO,PFE,KO,DIS"

CommaList = Annotated[list[str], NoDecode]
CommaIntList = Annotated[list[int], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Effective configuration. Units are in the names; money is in the account currency."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    # --- storage and paths -------------------------------------------------------------------
    var_dir: Path = Field(Path("./var"), description="Where the database, Qdrant and reports live")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means SQLite at VAR_DIR/fingpt.db (WAL mode)"
    )
    redis_url: str | None = Field(None, description="Redis URL; enables the Redis Streams bus")

    # --- LLM ---------------------------------------------------------------------------------
    openai_api_key: SecretStr | None = Field(None, description="Key for the OpenAI-compatible API")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint base URL")
    llm_model: str = Field("gpt-4o-mini", description="Default model for every task")
    llm_model_sentiment: str | None = Field(None, description="sentiment model; else LLM_MODEL")
    llm_model_forecast: str | None = Field(None, description="forecast model; else LLM_MODEL")
    llm_model_decision: str | None = Field(None, description="decision model; else LLM_MODEL")
    llm_model_chat: str | None = Field(None, description="chat model; else LLM_MODEL")
    llm_model_reflection: str | None = Field(None, description="reflection model; else LLM_MODEL")
    llm_base_url_sentiment: str | None = Field(
        None, description="Endpoint for sentiment; unset: OPENAI_BASE_URL"
    )
    llm_base_url_forecast: str | None = Field(
        None, description="Endpoint for forecast; unset: OPENAI_BASE_URL"
    )
    llm_base_url_decision: str | None = Field(
        None, description="Endpoint for decision; unset: OPENAI_BASE_URL"
    )
    llm_base_url_chat: str | None = Field(
        None, description="Endpoint for chat; unset: OPENAI_BASE_URL"
    )
    llm_base_url_reflection: str | None = Field(
        None, description="Endpoint for reflection; unset: OPENAI_BASE_URL"
    )
    llm_api_key_sentiment: SecretStr | None = Field(
        None, description="API key for sentiment; unset: OPENAI_API_KEY"
    )
    llm_api_key_forecast: SecretStr | None = Field(
        None, description="API key for forecast; unset: OPENAI_API_KEY"
    )
    llm_api_key_decision: SecretStr | None = Field(
        None, description="API key for decision; unset: OPENAI_API_KEY"
    )
    llm_api_key_chat: SecretStr | None = Field(
        None, description="API key for chat; unset: OPENAI_API_KEY"
    )
    llm_api_key_reflection: SecretStr | None = Field(
        None, description="API key for reflection; unset: OPENAI_API_KEY"
    )
    llm_cycle_token_budget: int = Field(
        400_000, ge=1_000, description="Hard token budget per cycle"
    )
    llm_chat_turn_token_budget: int = Field(
        30_000, ge=1_000, description="Hard token budget for one chat question"
    )
    llm_cache: Literal["off", "record", "replay"] = Field(
        "record", description="off | record (store answers) | replay (answer repeats from store)"
    )
    llm_max_retries: int = Field(3, ge=0, le=10, description="Retries on 429/5xx/timeouts")
    llm_timeout_seconds: float = Field(60.0, gt=0, description="Per-request timeout")
    llm_http_client: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="HTTP client under the openai SDK (aiohttp uses less CPU per call when a "
        "cycle has many calls in flight)",
    )
    llm_max_agent_steps: int = Field(8, ge=1, le=50, description="Tool rounds per agent run")
    llm_context_tokens: int = Field(
        16_000, ge=2_000, description="Chat memory is trimmed to fit this many tokens"
    )
    llm_prices_json: str = Field(
        "", description='Price table override, JSON {"model": [usd_per_1M_in, usd_per_1M_out]}'
    )

    # --- Telegram ------------------------------------------------------------------------------
    telegram_bot_token: SecretStr | None = Field(None, description="Bot token; unset: no bot")
    telegram_base_url: str | None = Field(None, description="Bot API base URL (local server/test)")
    telegram_allowed_chat_ids: CommaIntList = Field(
        default_factory=list, description="Chats that may use the bot; empty means nobody"
    )
    telegram_admin_user_ids: CommaIntList = Field(
        default_factory=list, description="Users who may approve trades and change settings"
    )
    telegram_webhook_url: str | None = Field(None, description="Use a webhook instead of polling")
    telegram_webhook_port: int = Field(
        8443, description="Local port the webhook server listens on (behind TELEGRAM_WEBHOOK_URL)"
    )
    telegram_http_client: Literal["aiohttp", "httpx"] = Field(
        "aiohttp", description="HTTP client of the bot's Bot API calls (aiohttp uses less CPU)"
    )
    alert_levels: str = Field(
        "", description="Per alert type on/silent/off, e.g. 'cycle.summary=silent,order.filled=on'"
    )

    # --- broker --------------------------------------------------------------------------------
    broker: Literal["sim", "alpaca"] = Field("sim", description="Simulated broker or Alpaca")
    trading_mode: Literal["paper", "live"] = Field(
        "paper", description="live also needs ALPACA_PAPER=false"
    )
    alpaca_api_key: SecretStr | None = Field(None, description="Alpaca API key id")
    alpaca_secret_key: SecretStr | None = Field(None, description="Alpaca API secret")
    alpaca_paper: bool = Field(True, description="Alpaca paper account unless false")
    alpaca_base_url: str | None = Field(None, description="Alpaca trading API base URL override")
    alpaca_data_base_url: str | None = Field(None, description="Alpaca data API base URL override")
    alpaca_data_feed: Literal["iex", "sip"] = Field("iex", description="Alpaca market data feed")
    alpaca_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Per-request timeout of Alpaca trading API calls"
    )
    sim_starting_cash: float = Field(100_000.0, gt=0, description="SimBroker opening cash")
    sim_slippage_bps: float = Field(5.0, ge=0, description="SimBroker slippage per fill, bps")
    sim_commission_per_order: float = Field(1.0, ge=0, description="SimBroker fee per fill")

    # --- data ----------------------------------------------------------------------------------
    data_provider: Literal["yfinance", "alpaca", "csv", "offline"] = Field(
        "yfinance", description="Where market data comes from"
    )
    data_dir: Path | None = Field(
        None, description="Folder of <TICKER>.csv(.gz) for DATA_PROVIDER=csv"
    )
    universe: CommaList = Field(
        default_factory=lambda: DEFAULT_UNIVERSE.split(","),
        description="Tickers the screener considers: a comma list, or @path/to/file",
    )
    max_candidates: int = Field(10, ge=1, le=500, description="Candidates kept by the screener")
    min_price: float = Field(5.0, ge=0, description="Screener: minimum last close")
    min_avg_dollar_volume: float = Field(
        5_000_000.0, ge=0, description="Screener: minimum 20-day average dollar volume"
    )
    max_concurrency: int = Field(8, ge=1, le=128, description="Candidates analysed at once")
    analysis_workers: bool = Field(
        False, description="Analyse candidates on `fingpt worker` processes (needs REDIS_URL)"
    )

    # --- RAG -----------------------------------------------------------------------------------
    qdrant_url: str | None = Field(None, description="Qdrant server URL; unset: local storage")
    qdrant_path: Path | None = Field(
        None, description="Local Qdrant storage; default VAR_DIR/qdrant"
    )
    qdrant_api_key: SecretStr | None = Field(None, description="Qdrant server API key")
    embed_provider: Literal["fastembed", "openai"] = Field(
        "fastembed", description="Local fastembed model, or an OpenAI-compatible endpoint"
    )
    embed_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2", description="Embedding model name"
    )
    embed_model_path: Path | None = Field(None, description="Local copy of the embedding model")
    embed_int8: bool = Field(
        True, description="fastembed: int8-quantised copy under VAR_DIR/models (faster ingest)"
    )
    embed_idle_seconds: float = Field(
        120.0,
        ge=0,
        description="fastembed: unload the model after this many seconds unused (~100 MB; "
        "reloads in ~0.5 s); 0 keeps it loaded",
    )

    # --- schedule and approvals ----------------------------------------------------------------
    cycle_cron: str = Field(
        "*/30 9-15 * * mon-fri", description="Cycle schedule (crontab, exchange time zone)"
    )
    market_calendar: str = Field("XNYS", description="exchange-calendars code")
    approval_policy: str = Field(
        "confirm_all", description="auto | confirm_all | confirm_above:<notional>"
    )
    approval_timeout: int = Field(30, ge=1, le=24 * 60, description="Minutes before expiry")

    # --- risk limits (conservative defaults) ---------------------------------------------------
    max_position_pct: float = Field(10.0, gt=0, le=100, description="Max weight of one position")
    max_order_notional: float = Field(10_000.0, gt=0, description="Max value of one order")
    max_gross_exposure_pct: float = Field(80.0, gt=0, le=400, description="Max gross exposure")
    max_daily_loss_pct: float = Field(3.0, gt=0, le=100, description="Halt entries past this loss")
    max_open_positions: int = Field(10, ge=1, description="Max number of positions")
    max_limit_deviation_pct: float = Field(
        5.0, gt=0, description="Limit price at most this far from the market"
    )
    allowed_symbols: CommaList = Field(default_factory=list, description="Empty: any symbol")
    blocked_symbols: CommaList = Field(default_factory=list, description="Never traded")
    trading_hours_only: bool = Field(True, description="Refuse orders while the market is closed")
    allow_shorting: bool = Field(False, description="Allow sells beyond the position held")

    # --- adaptation ----------------------------------------------------------------------------
    adaptive_weights: bool = Field(
        True, description="Re-estimate signal weights from past outcomes (bounded, shrunk)"
    )
    weights_window_days: int = Field(
        120, ge=10, le=3650, description="Outcomes window for the signal weights, days"
    )
    regime_scaling: bool = Field(
        True, description="Shrink exposure and position limits in risk-off and crisis regimes"
    )
    # Trading area (regime-aware risk): factors in [0, 1] per regime label, applied by the risk
    # manager to MAX_POSITION_PCT and MAX_GROSS_EXPOSURE_PCT; a missing label means 1.0.
    regime_exposure_scale: str = Field(
        "risk_on:1.0,neutral:1.0,risk_off:0.6,crisis:0.3",
        description="Per regime, the factor on max position weight and gross exposure (0-1)",
    )
    # Trading area: how often AlpacaBroker polls open orders for fills in the background.
    alpaca_poll_seconds: float = Field(
        5.0, ge=0, le=3600, description="Alpaca fill polling interval; 0: only at each cycle"
    )

    @field_validator("regime_exposure_scale")
    @classmethod
    def _regime_exposure_scale(cls, value: str) -> str:
        parse_regime_scale(value)  # raises ValueError naming the bad entry
        return value

    # --- ops -----------------------------------------------------------------------------------
    metrics_port: int = Field(9108, ge=0, le=65535, description="Prometheus /metrics; 0 disables")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log verbosity"
    )
    log_json: bool = Field(False, description="JSON logs (for Loki) instead of console logs")
    worker_handlers: CommaList = Field(
        default_factory=list,
        description="Modules `fingpt worker` imports to register job handlers (comma list)",
    )

    @field_validator(
        "universe",
        "allowed_symbols",
        "blocked_symbols",
        "telegram_allowed_chat_ids",
        "telegram_admin_user_ids",
        "worker_handlers",
        mode="before",
    )
    @classmethod
    def _comma_lists(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("universe", "allowed_symbols", "blocked_symbols")
    @classmethod
    def _upper_symbols(cls, value: list[str]) -> list[str]:
        if len(value) == 1 and value[0].startswith("@"):
            path = Path(value[0][1:])
            if not path.is_file():
                raise ValueError(f"universe file {path} does not exist")
            value = _split_commas(path.read_text().replace("\n", ","))
        return [symbol.upper() for symbol in value]

    @field_validator("approval_policy")
    @classmethod
    def _approval_policy(cls, value: str) -> str:
        if value in ("auto", "confirm_all"):
            return value
        if value.startswith("confirm_above:"):
            try:
                notional = float(value.split(":", 1)[1])
            except ValueError:
                notional = -1.0
            if notional >= 0:
                return value
        raise ValueError("expected auto, confirm_all or confirm_above:<notional>")

    @field_validator("llm_prices_json")
    @classmethod
    def _price_table(cls, value: str) -> str:
        # Checked here so a typo fails at start, not at the first LLM call of a cycle.
        if not value.strip():
            return value
        try:
            table = json.loads(value)
            ok = isinstance(table, dict) and all(
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(p, int | float) and p >= 0 for p in pair)
                for pair in table.values()
            )
        except ValueError:
            ok = False
        if not ok:
            raise ValueError('expected JSON {"model": [usd_per_1M_in, usd_per_1M_out], ...}')
        return value

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'fingpt.db'}"
        if self.qdrant_path is None:
            self.qdrant_path = self.var_dir / "qdrant"
        return self

    # --- derived views -----------------------------------------------------------------------
    @property
    def llm_enabled(self) -> bool:
        """An LLM endpoint is configured; otherwise the offline rules engine answers."""
        return self.openai_api_key is not None or self.openai_base_url is not None

    @property
    def live_trading(self) -> bool:
        """Live money needs both explicit settings."""
        return self.trading_mode == "live" and not self.alpaca_paper

    def model_for(self, task: str) -> str:
        """The model configured for an LLM task, falling back to LLM_MODEL."""
        return getattr(self, f"llm_model_{task}", None) or self.llm_model

    def masked(self) -> dict[str, str]:
        """Every effective setting as text, secrets replaced by '********' (or 'unset')."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = "********"
            elif value is None:
                text = "unset"
            elif isinstance(value, list):
                text = ",".join(str(item) for item in value) or "(empty)"
            elif name in ("database_url", "redis_url", "qdrant_url"):
                text = _mask_url_password(str(value))
            else:
                text = str(value)
            shown[name.upper()] = text
        return shown


def _mask_url_password(url: str) -> str:
    """Hide a password embedded in a URL (postgresql://user:secret@host/db)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}" if ":" in credentials else url


# Trading area: the REGIME_EXPOSURE_SCALE format, read by the risk manager too.
def parse_regime_scale(text: str) -> tuple[tuple[str, float], ...]:
    """ "risk_off:0.6,crisis:0.3" -> (("risk_off", 0.6), ("crisis", 0.3)).

    Raises `ValueError` naming the bad entry. A factor must lie in [0, 1]: a regime may only
    shrink the configured limits, never raise them.
    """
    pairs: list[tuple[str, float]] = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        label, sep, factor_text = entry.partition(":")
        label = label.strip().lower()
        try:
            factor = float(factor_text) if sep and label else float("nan")
        except ValueError:
            factor = float("nan")
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"{entry!r}: expected <regime>:<factor between 0 and 1>")
        pairs.append((label, factor))
    return tuple(pairs)


def _is_secret(field_name: str) -> bool:
    """A SecretStr setting: its value is never echoed, not even in an error."""
    field = Settings.model_fields.get(field_name)
    return field is not None and "SecretStr" in str(field.annotation)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and `.env`; raise `ConfigError` naming what is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            value = error.get("input")
            shown = "********" if _is_secret(name.lower()) else repr(value)
            problems.append(f"{name}={shown}: {error['msg']}")
        raise ConfigError("Invalid setting " + "; ".join(problems)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call `get_settings.cache_clear()`."""
    return load_settings()
