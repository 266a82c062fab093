"""Agent settings: precedence, validation in one line, HOST:PORT parsing."""

from __future__ import annotations

import pytest

from netaudit.agent.config import load_settings, parse_host_port, require_for_run
from netaudit.agent.errors import ConfigError

ARM_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/"
    "providers/Microsoft.ContainerService/managedClusters/aks1"
)


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


def test_every_problem_is_reported_at_once_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "collector": {"address": "no-port"},
                "cluster": {"id": "aks1"},
                "gather": {"interval_seconds": 0},
            }
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "collector.address: 'no-port' is not HOST:PORT" in message
    assert "cluster.id: must be /subscriptions/" in message
    assert "gather.interval_seconds" in message


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


def test_a_client_certificate_needs_its_key_and_turns_tls_on() -> None:
    with pytest.raises(ConfigError, match="tls_client_cert and tls_client_key go together"):
        load_settings({"collector": {"tls_client_cert": "client.pem"}})
    settings = load_settings(
        {"collector": {"tls_client_cert": "client.pem", "tls_client_key": "client-key.pem"}}
    )
    assert settings.collector.uses_tls
    assert not load_settings({}).collector.uses_tls
    assert load_settings({"collector": {"tls_root_cert": "ca.pem"}}).collector.uses_tls
