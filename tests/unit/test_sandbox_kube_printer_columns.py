"""CRD printer columns in sandbox Tables: JSONPath and cell types as the API server has them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from netaudit.sandbox.kube_jsonpath import JsonPathError, find_results, text_of
from netaudit.sandbox.kube_resources import ResourceType, resource_types_from_crd
from netaudit.sandbox.kube_tables import human_duration, table

GATEWAY: dict[str, Any] = {
    "metadata": {"name": "gw", "namespace": "infra", "creationTimestamp": "2020-01-01T00:00:00Z"},
    "spec": {"gatewayClassName": "azure-alb-external", "hostnames": ["a.example.com", "b.io"]},
    "status": {
        "addresses": [{"type": "IPAddress", "value": "10.1.0.4"}, {"value": "10.1.0.5"}],
        "conditions": [
            {"type": "Accepted", "status": "True"},
            {"type": "Programmed", "status": "False", "reason": "Invalid"},
        ],
        "replicas": 3,
        "ratio": 0.25,
        "ready": True,
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".spec.gatewayClassName", ["azure-alb-external"]),
        ("{.spec.gatewayClassName}", ["azure-alb-external"]),
        (".status.addresses[*].value", ["10.1.0.4", "10.1.0.5"]),
        (".status.addresses[1].value", ["10.1.0.5"]),
        (".status.addresses[-1].value", ["10.1.0.5"]),
        (".status.addresses[7].value", []),
        ('.status.conditions[?(@.type=="Programmed")].status', ["False"]),
        (".status.conditions[?(@.type=='Accepted')].status", ["True"]),
        ('.status.conditions[?(@.type!="Accepted")].reason', ["Invalid"]),
        ('.status.conditions[?(@.type=="Missing")].status', []),
        (".status.addresses[?(@.type)].value", ["10.1.0.4"]),
        (".spec.hostnames", [["a.example.com", "b.io"]]),
        (".spec.absent.deeper", []),
        (".metadata.name.too.deep", []),
    ],
)
def test_jsonpath_selects_what_client_go_selects(path: str, expected: list[Any]) -> None:
    assert find_results(GATEWAY, path) == expected


@pytest.mark.parametrize("path", [".a..b", ".a[?(@.b > 1)]", "a.b", ".a[1:2]"])
def test_jsonpath_outside_the_printer_column_subset_is_an_error(path: str) -> None:
    with pytest.raises(JsonPathError):
        find_results(GATEWAY, path)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (["a.example.com"], '["a.example.com"]'),
        ({"b": 1, "a": 2}, '{"a":2,"b":1}'),
        (True, "true"),
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
    ],
)
def test_values_print_as_client_go_prints_them(value: Any, text: str) -> None:
    assert text_of(value) == text


def crd_resource(columns: list[dict[str, Any]] | None) -> ResourceType:
    version: dict[str, Any] = {"name": "v1", "served": True}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    resource = resource_types_from_crd(
        {
            "spec": {
                "group": "gateway.networking.k8s.io",
                "names": {"plural": "gateways", "kind": "Gateway", "shortNames": ["gtw"]},
                "scope": "Namespaced",
                "versions": [version],
            }
        }
    )
    assert resource is not None
    return resource


def column(name: str, kind: str, path: str, priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path, "priority": priority}


@pytest.mark.parametrize(
    ("kind", "path", "cell"),
    [
        ("string", ".spec.gatewayClassName", "azure-alb-external"),
        ("string", ".status.addresses[*].value", "10.1.0.4"),
        ("string", '.status.conditions[?(@.type=="Programmed")].status', "False"),
        ("string", ".spec.hostnames", '["a.example.com","b.io"]'),
        ("string", ".status.replicas", "3"),
        ("string", ".spec.missing", None),
        ("integer", ".status.replicas", 3),
        ("integer", ".status.ratio", 0),
        ("integer", ".spec.gatewayClassName", None),
        ("number", ".status.ratio", 0.25),
        ("number", ".status.replicas", 3.0),
        ("boolean", ".status.ready", True),
        ("boolean", ".status.replicas", None),
        ("date", ".spec.gatewayClassName", "<invalid>"),
        ("date", ".status.replicas", None),
        ("string", ".a[?(@.b > 1)]", None),
    ],
)
def test_printer_column_cells_are_typed_as_the_api_server_types_them(
    kind: str, path: str, cell: Any
) -> None:
    resource = crd_resource([column("Column", kind, path)])
    body = table(resource, "v1", [GATEWAY], {})
    assert body["rows"][0]["cells"] == ["gw", cell]


def test_gateway_table_has_the_bundle_columns_with_priorities() -> None:
    resource = crd_resource(
        [
            column("Class", "string", ".spec.gatewayClassName"),
            column("Address", "string", ".status.addresses[*].value"),
            column("Programmed", "string", '.status.conditions[?(@.type=="Programmed")].status'),
            column("Age", "date", ".metadata.creationTimestamp"),
            column("Description", "string", ".spec.description", priority=1),
        ]
    )
    body = table(resource, "v1", [GATEWAY], {})
    definitions = [(d["name"], d["type"], d["priority"]) for d in body["columnDefinitions"]]
    assert definitions == [
        ("Name", "string", 0),
        ("Class", "string", 0),
        ("Address", "string", 0),
        ("Programmed", "string", 0),
        ("Age", "date", 0),
        ("Description", "string", 1),
    ]
    cells = body["rows"][0]["cells"]
    assert cells[:4] == ["gw", "azure-alb-external", "10.1.0.4", "False"]
    assert re.fullmatch(r"\d+y(\d+d)?", cells[4]) and cells[5] is None


def test_only_a_crd_without_columns_gets_the_default_age_column() -> None:
    without = table(crd_resource(None), "v1", [GATEWAY], {})
    assert [d["name"] for d in without["columnDefinitions"]] == ["Name", "Age"]
    with_columns = table(crd_resource([column("Class", "string", ".spec.x")]), "v1", [GATEWAY], {})
    assert [d["name"] for d in with_columns["columnDefinitions"]] == ["Name", "Class"]


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (330, "5m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (8 * 3600 + 59, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (8 * 86400, "8d"),
        (63 * 86400 + 7 * 3600, "63d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (760 * 86400, "2y30d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_ages_print_as_kubectl_prints_them(seconds: int, printed: str) -> None:
    assert human_duration(seconds) == printed
