"""pipeline.settings: CG_-prefixed environment variables, defaults and validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.settings import ENV_PREFIX, Settings, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CG_* variable from the caller's shell (or the Makefile) leaks into these tests."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    get_settings.cache_clear()


def test_defaults_point_at_the_local_servers() -> None:
    s = Settings()
    assert s.mode == "development"
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.redis_url == "redis://127.0.0.1:16379/0"
    assert s.kafka_url == "kafka://127.0.0.1:19092"
    assert s.shop_timezone == "Europe/London"
    assert s.topic_partitions >= 1 and s.topic_replication == 1
    assert s.admin_token is None


def test_reads_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_KAFKA_BOOTSTRAP", "10.0.0.1:9092,10.0.0.2:9092")
    monkeypatch.setenv("CG_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("CG_SHOP_TIMEZONE", "America/New_York")
    monkeypatch.setenv("CG_DATA_DIR", "/srv/state")
    monkeypatch.setenv("cg_currency", "EUR")  # case-insensitive like pydantic-settings
    s = Settings()
    assert s.kafka_url == "kafka://10.0.0.1:9092,kafka://10.0.0.2:9092"
    assert s.topic_partitions == 12
    assert s.shop_timezone == "America/New_York"
    assert s.data_dir == Path("/srv/state")
    assert s.currency == "EUR"


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "elsewhere:9092")
    monkeypatch.setenv("MODE", "production")
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.mode == "development"


def test_unknown_timezone_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_SHOP_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings()


def test_production_requires_an_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_MODE", "production")
    with pytest.raises(ValidationError, match="CG_ADMIN_TOKEN"):
        Settings()
    monkeypatch.setenv("CG_ADMIN_TOKEN", "x" * 40)
    assert Settings().mode == "production"


@pytest.mark.parametrize("token", ["s3cret", "x", "a" * 31, " " + "a" * 40])
def test_production_refuses_a_weak_admin_token(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("CG_MODE", "production")
    monkeypatch.setenv("CG_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match=r"too weak for CG_MODE=production.*at least 32"):
        Settings()


def test_the_cli_says_why_without_echoing_the_refused_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    monkeypatch.setenv("CG_MODE", "production")
    monkeypatch.setenv("CG_ADMIN_TOKEN", "secretsecretsecret123")
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "too weak for CG_MODE=production" in err and "at least 32" in err
    assert "secretsecretsecret123" not in err


def test_development_takes_any_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_ADMIN_TOKEN", "x")
    assert Settings().admin_token == "x"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CG_MODE", "staging"),
        ("CG_TOPIC_PARTITIONS", "0"),
        ("CG_TOPIC_PARTITIONS", "many"),
        ("CG_WEB_PORT", "70000"),
        ("CG_CURRENCY", "euro"),
        ("CG_REDIS_PREFIX", "has space"),
        ("CG_RETENTION_DAYS", "0"),
    ],
)
def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().mode = "production"  # type: ignore[misc]


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("CG_APP_ID", "changed")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().app_id == "changed"


def test_settings_survive_the_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """as_env hands settings to another process (worker, exporter): it must read them back as they were."""
    original = Settings(gc_thresholds=(1234, 5, 6), uvloop=False, profile_cache_size=7, app_id="trip")
    for name in list(os.environ):
        if name.startswith("CG_"):
            monkeypatch.delenv(name)
    for name, value in original.as_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_the_advertised_url_is_the_bind_address_unless_that_binds_everything() -> None:
    import socket

    assert Settings(web_host="127.0.0.1", web_port=7000).advertised_url == "http://127.0.0.1:7000"
    assert Settings(web_host="0.0.0.0", web_port=7000).advertised_url == f"http://{socket.gethostname()}:7000"
    assert Settings(web_host="::1", web_port=7000).advertised_url == "http://[::1]:7000"
    told = Settings(web_host="0.0.0.0", web_advertised_url="http://worker-2.workers:6066/")
    assert told.advertised_url == "http://worker-2.workers:6066"
