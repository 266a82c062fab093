"""Shared readers of Kubernetes object fields."""

from __future__ import annotations

import pytest

from netaudit.agent.gatherers.objects import (
    condition,
    image_tag,
    split_hostnames,
    timestamp,
    workload,
)


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("registry.k8s.io/external-dns/external-dns:v0.22.0", "v0.22.0"),
        ("mcr.microsoft.com/application-lb/images/alb-controller:1.7.9", "1.7.9"),
        ("localhost:5000/alb-controller:1.8.0@sha256:abc", "1.8.0"),
        ("localhost:5000/alb-controller", ""),
        ("nginx", ""),
    ],
)
def test_image_tag_ignores_registry_ports_and_digests(image: str, tag: str) -> None:
    assert image_tag(image) == tag


def test_rfc3339_times_become_timestamps_and_garbage_does_not() -> None:
    parsed = timestamp("2023-06-19T21:04:55Z")
    assert parsed is not None and parsed.ToJsonString() == "2023-06-19T21:04:55Z"
    assert timestamp("yesterday") is None
    assert timestamp(None) is None


def test_condition_keeps_every_field() -> None:
    message = condition(
        {
            "type": "Programmed",
            "status": "False",
            "reason": "AddressNotAssigned",
            "message": "no address",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-11-01T00:00:00Z",
        }
    )
    assert (message.type, message.status, message.reason, message.message) == (
        "Programmed",
        "False",
        "AddressNotAssigned",
        "no address",
    )
    assert message.observed_generation == 3
    assert message.HasField("last_transition_time")


def test_hostname_lists_split_on_commas() -> None:
    assert split_hostnames(" a.example.com,b.example.com ,, ") == ["a.example.com", "b.example.com"]


def test_workload_images_include_init_containers_once_and_args_follow_command() -> None:
    deployment = {
        "metadata": {"namespace": "kube-system", "name": "azure-cns"},
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {
                            "name": "cni-installer",
                            "image": "mcr.microsoft.com/containernetworking/azure-cns:v1",
                        }
                    ],
                    "containers": [
                        {
                            "name": "cns-container",
                            "image": "mcr.microsoft.com/containernetworking/azure-cns:v1",
                            "command": ["/azure-cns"],
                            "args": ["-c", "tcp://$(CNSIpAddress):$(CNSPort)"],
                        }
                    ],
                }
            }
        },
    }
    message = workload(deployment, "DaemonSet")
    assert list(message.images) == ["mcr.microsoft.com/containernetworking/azure-cns:v1"]
    assert list(message.args) == ["/azure-cns", "-c", "tcp://$(CNSIpAddress):$(CNSPort)"]
    assert message.desired_replicas == 0  # no status yet
