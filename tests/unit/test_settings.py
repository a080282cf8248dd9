"""The settings models: one default per field, exact variable names, errors naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agencies.config import AgencySettings, InvalidAgencySetting
from checks.config import ConfigError, EnvSettings, InvalidSetting, Settings
from web.settings import WebSettings
from workers.settings import WorkerSettings

MODELS: list[type[EnvSettings]] = [Settings, WorkerSettings, WebSettings, AgencySettings]
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("model", [Settings, WorkerSettings, WebSettings])
def test_an_empty_environment_gives_the_fields_defaults(model: type[EnvSettings]) -> None:
    assert model.from_env({}) == model()


@pytest.mark.parametrize("model", MODELS)
def test_every_variable_is_upper_case_prefixed_and_in_the_readme(
    model: type[EnvSettings],
) -> None:
    readme = README.read_text(encoding="utf-8")
    for variable in model.variables().values():
        assert variable.startswith("CHECKS_") and variable == variable.upper()
        assert f"`{variable}`" in readme, variable


def test_a_model_built_in_code_takes_only_what_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHECKS_LEASE_SECONDS", "7")
    monkeypatch.setenv("CHECKS_REDIS_FETCH_BATCH", "9")
    assert Settings(database_url="sqlite://").lease_seconds == 60
    assert Settings.from_env().lease_seconds == 7
    assert WorkerSettings(broker_url="redis://127.0.0.1:6379/0").fetch_batch == 4
    assert WorkerSettings.from_env().fetch_batch == 9


def test_names_are_read_exactly_and_blank_means_unset() -> None:
    settings = Settings.from_env(
        {"checks_lease_seconds": "7", "CHECKS_RETENTION_DAYS": "  ", "CHECKS_DATABASE_URL": " "}
    )
    assert settings.lease_seconds == 60 and settings.retention_days == 365
    assert settings.database_url.startswith("sqlite:///")


def test_variables_named_apart_from_their_fields_are_read_by_their_own_names() -> None:
    worker = WorkerSettings.from_env(
        {"CHECKS_BROKER_URL": "redis://h/0", "CHECKS_RETRY_MIN_BACKOFF_MS": "5"}
    )
    assert worker.min_backoff_ms == 5 and worker.notice_min_backoff_ms == 30_000
    web = WebSettings.from_env({"CHECKS_API_RATE_BURST": "2.5", "CHECKS_MAX_WAIT_SECONDS": "1"})
    assert web.rate_burst == 2 and web.max_wait_seconds == 60.0  # the latter is not a variable


def test_in_process_runs_back_off_in_seconds_unless_told_otherwise() -> None:
    stub = WorkerSettings.from_env({"CHECKS_RETRY_MAX_BACKOFF_MS": "7000"})
    assert (stub.min_backoff_ms, stub.max_backoff_ms) == (1_000, 7_000)
    assert (stub.notice_min_backoff_ms, stub.notice_max_backoff_ms) == (1_000, 7_000)


@pytest.mark.parametrize(
    ("model", "env", "error", "message"),
    [
        (
            Settings,
            {"CHECKS_LEASE_SECONDS": " 6s "},
            InvalidSetting,
            "CHECKS_LEASE_SECONDS must be a whole number, not '6s'",
        ),
        (
            Settings,
            {"CHECKS_NOTIFY_ALLOWED_ACTORS": " , "},
            InvalidSetting,
            "CHECKS_NOTIFY_ALLOWED_ACTORS is set but lists nothing",
        ),
        (
            Settings,
            {"CHECKS_REVIEW_SLA_HOURS": "-1"},
            ConfigError,
            "CHECKS_REVIEW_SLA_HOURS must be positive, not -1",
        ),
        (
            WorkerSettings,
            {"CHECKS_REDIS_HEARTBEAT_MS": "soon"},
            InvalidSetting,
            "CHECKS_REDIS_HEARTBEAT_MS must be a whole number",
        ),
        (
            WebSettings,
            {"CHECKS_API_RATE_PER_SECOND": "0"},
            ConfigError,
            "CHECKS_API_RATE_PER_SECOND must be positive, not '0'",
        ),
        (
            AgencySettings,
            {"CHECKS_SANDBOX_LATENCY_MS": "fast"},
            InvalidAgencySetting,
            "CHECKS_SANDBOX_LATENCY_MS: ",
        ),
    ],
)
def test_a_malformed_value_raises_the_rules_error_naming_the_variable(
    model: type[EnvSettings], env: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        model.from_env(env)
    assert str(raised.value).startswith(message)
