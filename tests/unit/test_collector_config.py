"""Configuration precedence and one-line validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from netaudit.collector.config import CONFIG_ENV, load_settings
from netaudit.collector.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    for name in ("NETAUDIT_INGEST__PORT", "NETAUDIT_STATE_DIR", "NETAUDIT_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_put_the_store_in_the_state_dir(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert settings.store_url == f"sqlite:///{tmp_path.resolve() / 'netaudit.db'}"
    assert settings.ingest.port == 50051
    assert settings.azure.use_managed_identity is False


def test_flags_beat_environment_beats_file_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: 7000\n  host: 0.0.0.0\nlog_level: debug\n")
    assert load_settings(config).ingest.port == 7000
    monkeypatch.setenv("NETAUDIT_INGEST__PORT", "7100")
    settings = load_settings(config)
    assert settings.ingest.port == 7100
    assert settings.ingest.host == "0.0.0.0"
    assert settings.log_level == "DEBUG"
    monkeypatch.setenv("NETAUDIT_LOG_LEVEL", "warning")
    assert load_settings(config, log_level="error").log_level == "ERROR"


def test_every_problem_is_reported_at_once_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("ingest:\n  port: 99999\nlog_level: loud\nunknown_key: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "\n" not in message
    assert "ingest.port" in message
    assert "log_level" in message
    assert "unknown_key" in message


@pytest.mark.parametrize(
    ("content", "why"),
    [("- just\n- a list\n", "mapping at the top level"), ("a: [unclosed\n", "not valid YAML")],
)
def test_malformed_config_file_names_the_file(tmp_path: Path, content: str, why: str) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=why):
        load_settings(config)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_visibility_timeout_must_outlast_the_task_time_limit(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("broker:\n  task_time_limit_seconds: 60\n  visibility_timeout_seconds: 60\n")
    with pytest.raises(ConfigError, match="visibility_timeout_seconds must exceed"):
        load_settings(config)
    assert load_settings().broker.effective_visibility_timeout == 600


def test_rule_settings_from_the_file_and_their_mistakes_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        "rules:\n  report_max_age_seconds: 600\n  CNI-002: {high: 0.95, medium: 0.85}\n"
        "  KUB-001: {enabled: false}\n  NPL-001: {scope: {clusters: ['prod-*']}}\n"
    )
    rules = load_settings(config).rules
    assert rules.report_max_age_seconds == 600
    assert rules.per_rule["CNI-002"].thresholds == {"high": 0.95, "medium": 0.85}
    assert not rules.enabled("KUB-001")
    config.write_text("rules:\n  CNI-999: {enabled: false}\n  CNI-002: {hgh: 0.9}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "\n" not in message
    assert "unknown rule ids CNI-999" in message
    assert "CNI-002 has no threshold hgh" in message


def test_ingest_transport_mistakes_are_reported_together_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        "ingest:\n  insecure: true\n  tls_cert_file: server.pem\n"
        "  tls_client_ca_file: ca.pem\n  health_port: 50051\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "\n" not in message
    assert "ingest.tls_cert_file and ingest.tls_key_file go together" in message
    assert "ingest.insecure (plaintext) excludes the ingest.tls_* files" in message
    assert "ingest.health_port must differ from ingest.port" in message


def test_the_insecure_flag_joins_the_ingest_section_of_the_file(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: 7000\n  health_port: 7001\n")
    settings = load_settings(config, ingest={"insecure": True})
    assert settings.ingest.insecure
    assert (settings.ingest.port, settings.ingest.health_port) == (7000, 7001)
    assert not load_settings(config).ingest.insecure
