"""Agent settings: precedence, validation one line per problem, HOST:PORT parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netaudit.agent.config import (
    COLLECTOR_ENV_KEYS,
    AgentSettings,
    load_settings,
    parse_host_port,
    require_for_run,
)
from netaudit.agent.errors import ConfigError

ARM_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/"
    "providers/Microsoft.ContainerService/managedClusters/aks1"
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_flags_win_over_environment_which_wins_over_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NETAUDIT_COLLECTOR__ADDRESS", "collector.netaudit:50051")
    monkeypatch.setenv("NETAUDIT_COLLECTOR__ACK_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("NETAUDIT_GATHER__INTERVAL_SECONDS", "60")
    settings = load_settings({"collector": {"address": "127.0.0.1:6000"}})
    assert settings.collector.address == "127.0.0.1:6000"  # flag
    assert settings.collector.ack_timeout_seconds == 5  # environment, same group as the flag
    assert settings.gather.interval_seconds == 60  # environment
    assert settings.spool.max_bytes == 256 * 1024 * 1024  # default


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "collector": {"address": "no-port"},
                "cluster": {"id": "aks1"},
                "gather": {"interval_seconds": 0},
            }
        )
    found = problems(caught)
    assert len(found) == 3
    assert found[0].startswith("cluster.id: must be /subscriptions/")
    assert found[1] == "collector.address: 'no-port' is not HOST:PORT"
    assert found[2].startswith("gather.interval_seconds: Input should be greater than")


def test_run_needs_a_collector_and_a_cluster_id() -> None:
    with pytest.raises(ConfigError, match=r"--collector HOST:PORT .* and --cluster-id"):
        require_for_run(load_settings())
    require_for_run(
        load_settings({"collector": {"address": "127.0.0.1:1"}, "cluster": {"id": ARM_ID}})
    )


def test_cluster_id_is_matched_case_insensitively_and_names_the_cluster() -> None:
    settings = load_settings({"cluster": {"id": ARM_ID}})
    assert settings.cluster.display_name() == "aks1"


def test_probe_names_are_the_defaults_plus_extras_without_duplicates() -> None:
    settings = load_settings(
        {
            "dns": {
                "extra_probe_names": [
                    "aks1-abc.privatelink.westeurope.azmk8s.io",
                    "kubernetes.default.svc.cluster.local",
                ]
            }
        }
    )
    assert settings.dns.all_names() == [
        "kubernetes.default.svc.cluster.local",
        "aks1-abc.privatelink.westeurope.azmk8s.io",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:53", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("collector.netaudit:50051", ("collector.netaudit", 50051)),
    ],
)
def test_host_port_parses(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":53", "host:0", "host:70000", "::1:53", "a b:1"])
def test_malformed_host_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_host_port(text)


def test_a_client_certificate_needs_its_key_and_turns_tls_on(tmp_path: Path) -> None:
    cert, key, ca = (tmp_path / name for name in ("client.pem", "client-key.pem", "ca.pem"))
    for pem in (cert, key, ca):
        pem.write_text("PEM\n")
    with pytest.raises(ConfigError, match="tls_client_cert and tls_client_key go together"):
        load_settings({"collector": {"tls_client_cert": cert}})
    settings = load_settings({"collector": {"tls_client_cert": cert, "tls_client_key": key}})
    assert settings.collector.uses_tls
    assert not load_settings({}).collector.uses_tls
    assert load_settings({"collector": {"tls_root_cert": ca}}).collector.uses_tls


def test_certificate_key_and_token_files_must_exist_and_be_files(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("PEM\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "collector": {
                    "tls_root_cert": tmp_path / "ca.pem",
                    "tls_client_cert": tmp_path / "client.pem",
                    "tls_client_key": tmp_path,
                    "token_file": tmp_path / "token",
                }
            }
        )
    assert problems(caught) == [
        f"collector.tls_client_cert: {tmp_path / 'client.pem'} does not exist",
        f"collector.tls_client_key: {tmp_path} is not a file",
        f"collector.token_file: {tmp_path / 'token'} does not exist",
    ]


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "NETAUDIT_COLLECTOR__ADRESS",
            "unknown key collector.adress (from NETAUDIT_COLLECTOR__ADRESS) — did you mean "
            "NETAUDIT_COLLECTOR__ADDRESS?",
        ),
        (
            "NETAUDIT_GATHER__INTERVAL",
            "unknown key gather.interval (from NETAUDIT_GATHER__INTERVAL) — did you mean "
            "NETAUDIT_GATHER__INTERVAL_SECONDS?",
        ),
        (
            "NETAUDIT_CLUSTERS__ID",
            "unknown key clusters (from NETAUDIT_CLUSTERS__ID) — did you mean NETAUDIT_CLUSTER?",
        ),
    ],
)
def test_an_unknown_variable_names_the_nearest_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.setenv(variable, "5")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert problems(caught) == [expected]


def test_the_collectors_variables_are_left_to_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NETAUDIT_INGEST__PORT", "6000")
    monkeypatch.setenv("NETAUDIT_CONFIG", "netaudit.yaml")
    monkeypatch.setenv("NETAUDIT_STATE_DIR", "/var/lib/netaudit")
    assert load_settings().collector.address == ""


def test_the_collectors_sections_are_the_ones_the_agent_leaves_alone() -> None:
    from netaudit.collector.config import Settings

    collector = set(Settings.model_fields) - set(AgentSettings.model_fields)
    assert collector | {"config"} == COLLECTOR_ENV_KEYS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a.example,b.example", ["a.example", "b.example"]),
        ("a.example", ["a.example"]),
        ('["a.example", "b.example"]', ["a.example", "b.example"]),
    ],
)
def test_lists_from_the_environment_are_json_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("NETAUDIT_DNS__EXTRA_PROBE_NAMES", value)
    assert load_settings().dns.extra_probe_names == expected
