"""Configuration precedence and validation: every problem at once, one line each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netaudit.collector.config import CONFIG_ENV, Settings, load_settings
from netaudit.collector.config_sources import AGENT_ENV_KEYS
from netaudit.collector.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    for name in list(os.environ):
        if name.upper().startswith("NETAUDIT_"):
            monkeypatch.delenv(name)


def problems(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    """The problem lines of a ConfigError (its heading left out when there are several)."""
    lines = str(error.value).splitlines()
    if len(lines) == 1:
        return [lines[0].removeprefix("invalid configuration: ")]
    assert lines[0] == f"invalid configuration, {len(lines) - 1} problems:"
    return [line.strip() for line in lines[1:]]


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


def test_every_problem_is_reported_at_once_one_line_each(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("ingest:\n  port: 99999\nlog_level: loud\nunknown_key: 1\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    found = problems(raised)
    assert len(found) == 3
    assert found[0].startswith("log_level: must be DEBUG")
    assert found[1].startswith("ingest.port: Input should be less than or equal to 65535")
    assert found[2].startswith("unknown key unknown_key (valid keys at the top level: state_dir,")


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
    assert load_settings().broker.effective_visibility_timeout == 150


def test_by_default_a_killed_workers_task_is_back_well_within_the_scans_wait() -> None:
    settings = load_settings()
    broker = settings.broker
    back_after = broker.effective_visibility_timeout + broker.restore_interval
    assert back_after + broker.task_time_limit_seconds < settings.scan.deadline_seconds


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        ("scan: {deadline_seconds: 200}", r"scan.deadline_seconds \(200\) must exceed 280 s"),
        (
            "broker: {task_time_limit_seconds: 300}\nscan: {deadline_seconds: 600}",
            r"must exceed 640 s",
        ),
        (
            "broker: {task_time_limit_seconds: 5, visibility_timeout_seconds: 8}\n"
            "scan: {deadline_seconds: 14}",
            r"must exceed 14 s: .*\(9 s\)",
        ),
    ],
)
def test_a_scan_deadline_shorter_than_a_redelivery_is_refused(
    tmp_path: Path, yaml_text: str, problem: str
) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError, match=problem):
        load_settings(config)


@pytest.mark.parametrize(
    "yaml_text",
    [
        "scan: {deadline_seconds: 281}",
        "broker: {task_time_limit_seconds: 5, visibility_timeout_seconds: 8}\n"
        "scan: {deadline_seconds: 15}",
    ],
)
def test_a_scan_deadline_longer_than_a_redelivery_is_accepted(
    tmp_path: Path, yaml_text: str
) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(yaml_text + "\n")
    assert load_settings(config).scan.deadline_seconds > 0


def test_rule_settings_from_the_file_and_their_mistakes_one_line_each(tmp_path: Path) -> None:
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
    assert problems(raised) == [
        "rules: unknown rule ids CNI-999",
        "rules: CNI-002 has no threshold hgh (its thresholds: high, medium)",
    ]


def test_ingest_transport_mistakes_are_reported_together_one_line_each(tmp_path: Path) -> None:
    for name in ("server.pem", "ca.pem"):
        (tmp_path / name).write_text("PEM\n")
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        f"ingest:\n  insecure: true\n  tls_cert_file: {tmp_path / 'server.pem'}\n"
        f"  tls_client_ca_file: {tmp_path / 'ca.pem'}\n  health_port: 50051\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert problems(raised) == [
        "ingest.tls_cert_file and ingest.tls_key_file go together",
        "ingest.insecure (plaintext) excludes the ingest.tls_* files",
        "ingest.health_port must differ from ingest.port",
    ]


def test_the_insecure_flag_joins_the_ingest_section_of_the_file(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: 7000\n  health_port: 7001\n")
    settings = load_settings(config, ingest={"insecure": True})
    assert settings.ingest.insecure
    assert (settings.ingest.port, settings.ingest.health_port) == (7000, 7001)
    assert not load_settings(config).ingest.insecure


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "azure:\n  subscription: [sub1]\n",
            "unknown key azure.subscription — did you mean azure.subscriptions?",
        ),
        (
            "azure:\n  client_secert: x\n",
            "unknown key azure.client_secert — did you mean azure.client_secret?",
        ),
        ("ingest:\n  prot: 6000\n", "unknown key ingest.prot — did you mean ingest.port?"),
        ("sate_dir: x\n", "unknown key sate_dir — did you mean state_dir?"),
        (
            "rules:\n  NPL-005: {scope: {clusterz: [prod-*]}}\n",
            "unknown key rules.per_rule.NPL-005.scope.clusterz — did you mean "
            "rules.per_rule.NPL-005.scope.clusters?",
        ),
        (
            "metrics:\n  zzz: 1\n",
            "unknown key metrics.zzz (valid keys under metrics: host, port)",
        ),
    ],
)
def test_an_unknown_key_in_the_file_names_the_nearest_valid_one(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert problems(raised) == [expected]


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "NETAUDIT_INGEST__PROT",
            "unknown key ingest.prot (from NETAUDIT_INGEST__PROT) — did you mean "
            "NETAUDIT_INGEST__PORT?",
        ),
        (
            "NETAUDIT_STAT_DIR",
            "unknown key stat_dir (from NETAUDIT_STAT_DIR) — did you mean NETAUDIT_STATE_DIR?",
        ),
        (
            "NETAUDIT_AZURE__SUBSCRIPTION",
            "unknown key azure.subscription (from NETAUDIT_AZURE__SUBSCRIPTION) — did you mean "
            "NETAUDIT_AZURE__SUBSCRIPTIONS?",
        ),
    ],
)
def test_an_unknown_variable_is_refused_like_an_unknown_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.setenv(variable, "5")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert problems(raised) == [expected]


def test_the_agents_variables_are_left_to_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETAUDIT_COLLECTOR__ADDRESS", "collector:50051")
    monkeypatch.setenv("NETAUDIT_GATHER__INTERVAL_SECONDS", "60")
    assert load_settings().ingest.port == 50051


def test_the_agents_sections_are_the_ones_the_collector_leaves_alone() -> None:
    from netaudit.agent.config import AgentSettings

    shared = set(AgentSettings.model_fields) & set(Settings.model_fields)
    assert set(AgentSettings.model_fields) - shared == AGENT_ENV_KEYS


def test_problems_of_file_and_environment_are_reported_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("azure:\n  subscription: [a]\ningest:\n  port: 99999\n")
    monkeypatch.setenv("NETAUDIT_METRICS__PORT", "abc")
    monkeypatch.setenv("NETAUDIT_BROKER__QUEU", "q")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert [line.split(" ")[0:3] for line in problems(raised)] == [
        ["ingest.port:", "Input", "should"],
        ["metrics.port", "(from", "NETAUDIT_METRICS__PORT):"],
        ["unknown", "key", "broker.queu"],
        ["unknown", "key", "azure.subscription"],
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sub1,sub2", ["sub1", "sub2"]),
        (" sub1 , sub2 ,", ["sub1", "sub2"]),
        ("sub1", ["sub1"]),
        ('["sub1", "sub2"]', ["sub1", "sub2"]),
        ("00000000-0000-0000-0000-000000000001", ["00000000-0000-0000-0000-000000000001"]),
    ],
)
def test_lists_from_the_environment_are_json_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("NETAUDIT_AZURE__SUBSCRIPTIONS", value)
    monkeypatch.setenv("NETAUDIT_RULES__ON_PREMISES_CIDRS", "10.100.0.0/16,192.168.0.0/16")
    settings = load_settings()
    assert settings.azure.subscriptions == expected
    assert settings.rules.on_premises_cidrs == ["10.100.0.0/16", "192.168.0.0/16"]


def test_a_malformed_json_list_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETAUDIT_AZURE__SUBSCRIPTIONS", '["sub1",')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert problems(raised) == [
        "azure.subscriptions (from NETAUDIT_AZURE__SUBSCRIPTIONS): Input should be a valid list"
    ]


@pytest.mark.parametrize(
    ("broker", "problem"),
    [
        (
            {"url": "amqp://guest:guest@127.0.0.1:5672//"},
            "broker.result_backend is required when broker.url is not Redis (amqp://…): only a "
            "Redis broker doubles as the result backend; set a redis:// or db+… URL",
        ),
        ({"url": "amqp://127.0.0.1//", "result_backend": "redis://127.0.0.1:6379/1"}, None),
        ({"url": "redis://127.0.0.1:6379/0"}, None),
        ({"url": "rediss://:pw@cache.example:6380/0"}, None),
    ],
)
def test_a_broker_that_is_not_redis_needs_a_result_backend(
    broker: dict[str, str], problem: str | None
) -> None:
    if problem is None:
        assert load_settings(broker=broker).broker.url == broker["url"]
        return
    with pytest.raises(ConfigError) as raised:
        load_settings(broker=broker)
    assert problems(raised) == [problem]


def test_files_named_in_the_config_must_exist_and_be_files(tmp_path: Path) -> None:
    (tmp_path / "server.pem").write_text("PEM\n")
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        f"ingest:\n  tls_cert_file: {tmp_path / 'server.pem'}\n"
        f"  tls_key_file: {tmp_path / 'server-key.pem'}\n"
        f"  tls_client_ca_file: {tmp_path}\n"
        f"azure:\n  client_secret_file: {tmp_path / 'secret'}\n"
        f"  ca_bundle: {tmp_path / 'ca.pem'}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert problems(raised) == [
        f"ingest.tls_key_file: {tmp_path / 'server-key.pem'} does not exist",
        f"ingest.tls_client_ca_file: {tmp_path} is not a file",
        f"azure.client_secret_file: {tmp_path / 'secret'} does not exist",
        f"azure.ca_bundle: {tmp_path / 'ca.pem'} does not exist",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    key = tmp_path / "secret"
    key.write_text("s3cret\n")
    key.chmod(0)
    with pytest.raises(ConfigError, match=r"azure.client_secret_file: .* is not readable"):
        load_settings(azure={"client_secret_file": key})


def test_secrets_are_masked_in_the_repr_of_the_settings() -> None:
    settings = load_settings(
        store={"url": "postgresql+psycopg://netaudit:db-pw@db.example/netaudit"},
        broker={
            "url": "amqp://netaudit:broker-pw@mq.example//",
            "result_backend": "redis://:backend-pw@cache.example:6379/1",
        },
        azure={"tenant_id": "t", "client_id": "c", "client_secret": "client-pw"},
    )
    shown = repr(settings)
    for secret in ("db-pw", "broker-pw", "backend-pw", "client-pw"):
        assert secret not in shown
    assert "amqp://netaudit:****@mq.example//" in shown
    assert "postgresql+psycopg://netaudit:****@db.example/netaudit" in shown


def test_a_config_file_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^config file {tmp_path} cannot be read: Is a dir"):
        load_settings(tmp_path)


def test_invalid_yaml_is_described_on_one_line(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: [1\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "\n" not in str(raised.value)
    assert "line 3, column 1" in str(raised.value)
