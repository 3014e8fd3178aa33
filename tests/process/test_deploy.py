"""The deploy files (they cannot run here): each one refers to real commands, files and metrics."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram
from typer.testing import CliRunner

from orchestrator import monitoring
from orchestrator.cli import app
from orchestrator.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Variables docker-compose itself reads from .env (not settings of the app).
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_whole_stack_with_real_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "app",
        "worker",
        "postgres",
        "redis",
        "qdrant",
        "prometheus",
        "grafana",
        "loki",
        "promtail",
    } <= set(services)
    runner = CliRunner()
    for name in ("app", "worker", "migrate"):
        command = services[name]["command"]
        # The image's entrypoint is `fingpt`: the same command must be runnable by hand.
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"{name}: fingpt {' '.join(command)}: {result.output}"
    app_env = services["app"]["environment"]
    assert (
        app_env["DATABASE_URL"].startswith("postgresql://")
        and "@postgres:" in app_env["DATABASE_URL"]
    )
    assert app_env["REDIS_URL"] == "redis://redis:6379/0"
    assert services["worker"]["environment"]["REDIS_URL"] == app_env["REDIS_URL"]
    # Every value the app gets from compose is a setting it actually reads.
    for name in app_env:
        assert name.lower() in Settings.model_fields, name
    # The app gets longer than its own shutdown grace before compose kills it.
    grace = float(
        services["app"]["command"][services["app"]["command"].index("--grace-seconds") + 1]
    )
    assert float(services["app"]["stop_grace_period"].rstrip("s")) > grace


def test_every_file_compose_mounts_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    dockerfile = ROOT / compose["services"]["app"]["build"]["dockerfile"]
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_prometheus_scrapes_the_port_the_app_serves(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    port = compose["services"]["app"]["environment"]["METRICS_PORT"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["fingpt-app"]["static_configs"][0]["targets"] == [f"app:{port}"]
    assert jobs["fingpt-worker"]["dns_sd_configs"][0]["port"] == int(port)


def exported_metric_names() -> set[str]:
    names = set()
    for value in vars(monitoring).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names.update(f"{value._name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def test_the_dashboard_is_current_and_queries_only_exported_metrics() -> None:
    generator = runpy.run_path(str(DEPLOY / "grafana" / "make_dashboard.py"))
    written = (DEPLOY / "grafana" / "dashboards" / "fingpt.json").read_text()
    assert written == generator["render"](), "run deploy/grafana/make_dashboard.py"

    dashboard = json.loads(written)
    exported = exported_metric_names()
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for wanted in (
        "cycles",
        "cycle duration",
        "step durations",
        "llm calls",
        "llm tokens",
        "llm cost",
        "tool calls and errors",
        "orders",
        "risk blocks",
        "equity",
        "positions",
        "chat messages",
        "market regime",
        "logs",
    ):
        assert wanted in titles, wanted
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["type"] != "prometheus":
                continue
            used = set(re.findall(r"\b(?:fingpt|process)_[a-z_]+", target["expr"]))
            assert used, target["expr"]
            unknown = {n for n in used if n.startswith("fingpt_")} - exported
            assert not unknown, f"{panel['title']}: {unknown}"
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    assert {s["uid"] for s in sources["datasources"]} == {"prometheus", "loki"}


def test_log_shipping_reads_the_fields_our_json_logs_carry() -> None:
    promtail = yaml.safe_load((DEPLOY / "promtail" / "promtail.yml").read_text())
    stages = promtail["scrape_configs"][0]["pipeline_stages"]
    fields = next(s["json"]["expressions"] for s in stages if "json" in s)
    assert {"level", "logger", "timestamp", "cycle_id", "ticker"} <= set(fields.values())
    assert promtail["clients"][0]["url"].startswith("http://loki:3100/")
    loki = yaml.safe_load((DEPLOY / "loki" / "loki.yml").read_text())
    assert loki["limits_config"]["allow_structured_metadata"] is True


def env_example_names() -> list[str]:
    names = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s?([A-Z][A-Z0-9_]+)=", line)
        if match:
            names.append(match.group(1))
    return names


def test_env_example_names_real_settings_and_its_values_are_safe() -> None:
    names = env_example_names()
    unknown = [n for n in names if n.lower() not in Settings.model_fields and n not in COMPOSE_ONLY]
    assert not unknown, f".env.example lists unknown settings: {unknown}"
    for needed in (
        "DATABASE_URL",
        "REDIS_URL",
        "OPENAI_API_KEY",
        "TELEGRAM_BOT_TOKEN",
        "BROKER",
        "TRADING_MODE",
        "ALPACA_PAPER",
        "CYCLE_CRON",
        "MARKET_CALENDAR",
        "APPROVAL_POLICY",
        "MAX_DAILY_LOSS_PCT",
        "METRICS_PORT",
        "LOG_JSON",
    ):
        assert needed in names, needed

    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.broker == "sim" and not settings.live_trading
    assert settings.approval_policy == "confirm_all"
    assert settings.openai_api_key is None and settings.telegram_bot_token is None
    assert settings.allow_shorting is False and settings.trading_hours_only is True
