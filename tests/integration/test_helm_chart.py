"""The Helm chart, offline: lint, render with the default and a production-like values file,
validate the objects against the Kubernetes 1.30 schemas, the alert rules through promtool,
every schema constraint refused, and what a platform team relies on asserted in the output
(hardened pods, the agent's egress policy, probes on the plaintext port, the agent's RBAC
equal to deploy/rbac). helm only lints and templates: it never reaches a cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI, REPO, require

CHART = REPO / "deploy" / "helm" / "aks-netaudit"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
BAD_VALUES = Path(__file__).with_name("helm_bad_values.yaml")
KUBERNETES_VERSION = "1.30.0"
CLUSTER_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod"
    "/providers/Microsoft.ContainerService/managedClusters/aks-prod-weu"
)
REQUIRED = {"agent": {"clusterId": CLUSTER_ID}}
"""The only value without a default: the defaults render with it alone."""
RELEASE, NAMESPACE = "netaudit", "netaudit-system"
FULLNAME = f"{RELEASE}-aks-netaudit"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "Certificate"}
COPIES = {
    REPO / "deploy" / "prometheus" / "netaudit-alerts.yaml": "prometheus",
    REPO / "deploy" / "rbac" / "agent-clusterrole.yaml": "rbac",
    **dict.fromkeys(sorted((REPO / "deploy" / "grafana").glob("*.json")), "grafana"),
}
CONSTRAINT_KEYWORDS = {"pattern", "minimum", "maximum", "minLength", "enum", "required", "not"}


def helm_binary() -> str:
    beside_python = Path(sys.executable).parent / "helm"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("helm")
    if found is None:
        require("helm")  # skips locally, fails under CI: `make helm-tools` installs it
    return found or "helm"


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = helm_binary()
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "no-kubeconfig"),  # nothing to reach, should helm ever try
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    return run


def values_args(tmp: Path, values: dict[str, Any], *files: Path) -> list[str]:
    required = tmp / "required.yaml"
    required.write_text(yaml.safe_dump(REQUIRED))
    override = tmp / f"values-{abs(hash(json.dumps(values, sort_keys=True)))}.yaml"
    override.write_text(yaml.safe_dump(values))
    return [arg for path in (required, *files, override) for arg in ("-f", str(path))]


def template(helm: Any, tmp: Path, values: dict[str, Any], *files: Path) -> list[dict[str, Any]]:
    rendered = helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--kube-version", KUBERNETES_VERSION, *values_args(tmp, values, *files),
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@pytest.fixture(scope="module")
def renders(helm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("renders")
    return {
        "default": template(helm, tmp, {}),
        "production": template(helm, tmp, {}, PRODUCTION_VALUES),
    }


VALUE_SETS = ["default", "production"]


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    """The one object of a kind named RELEASE-aks-netaudit-SUFFIX."""
    (found,) = [d for d in objects(docs, kind) if d["metadata"]["name"] == FULLNAME + suffix]
    return found


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


# --- lint and the chart's copies -----------------------------------------------------------


@pytest.mark.parametrize("files", [[], [PRODUCTION_VALUES]], ids=VALUE_SETS)
def test_helm_lint_strict_passes(helm: Any, tmp_path: Path, files: list[Path]) -> None:
    linted = helm("lint", "--strict", str(CHART), *values_args(tmp_path, {}, *files))
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_chart_ships_fresh_copies_of_rules_dashboards_and_rbac() -> None:
    for source, folder in COPIES.items():
        copy = CHART / "files" / folder / source.name
        assert copy.exists(), f"{copy} is missing: run make chart-copies"
        assert copy.read_bytes() == source.read_bytes(), f"{copy} is stale: run make chart-copies"
    shipped = {p for p in (CHART / "files").rglob("*") if p.is_file() and p.name != "README.md"}
    expected = {CHART / "files" / folder / source.name for source, folder in COPIES.items()}
    assert shipped == expected, f"copies without a source: {sorted(shipped - expected)}"


# --- the rendered objects against the schemas ----------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_objects_are_valid_kubernetes_1_30(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        if IN_CI:
            pytest.fail("kubernetes-validate is not installed (the dev extra has it)")
        pytest.skip("needs kubernetes-validate")
    for doc in renders[value_set]:
        if doc["kind"] in CRD_KINDS:
            continue  # no schema offline: checked below by promtool and structurally
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")


def test_the_prometheus_rule_spec_passes_promtool(
    renders: dict[str, list[dict]], tmp_path: Path
) -> None:
    require("promtool")
    (rule,) = objects(renders["production"], "PrometheusRule")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    source = yaml.safe_load((REPO / "deploy" / "prometheus" / "netaudit-alerts.yaml").read_text())
    assert rule["spec"] == source


def go_seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_the_service_monitor_scrapes_the_collectors_metrics_port(
    renders: dict[str, list[dict]],
) -> None:
    docs = renders["production"]
    (monitor,) = objects(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "endpoints", "jobLabel", "namespaceSelector"}
    service = named(docs, "Service", "-collector")
    selector = spec["selector"]["matchLabels"]
    assert selector and selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    config = collector_config(docs)
    assert port["port"] == config["metrics"]["port"] and endpoint["path"] == "/metrics"
    assert 0 < go_seconds(endpoint["scrapeTimeout"]) <= go_seconds(endpoint["interval"])


# --- values.schema.json: every constraint refuses a bad value ------------------------------


def schema_constraints(node: Any, pointer: str = "#") -> Iterator[str]:
    """JSON pointers of the schema's constraints (conditions of if/then count once, as then)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "if":
                continue
            here = f"{pointer}/{key}"
            if key in CONSTRAINT_KEYWORDS or key == "then":
                yield here
            if key not in {"then", "not"}:
                yield from schema_constraints(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from schema_constraints(value, f"{pointer}/{index}")


def closed_objects(
    schema: dict[str, Any], node: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Values paths of every object of the schema that refuses unknown keys."""
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    if node.get("additionalProperties") is False:
        yield path
    for name, child in node.get("properties", {}).items():
        yield from closed_objects(schema, child, (*path, name))


SCHEMA = json.loads((CHART / "values.schema.json").read_text())
BAD_CASES = yaml.safe_load(BAD_VALUES.read_text())
UNKNOWN_KEY_PATHS = list(closed_objects(SCHEMA, SCHEMA))


def with_unknown_keys(paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """Values with the key notAKey in every object at `paths` (helm reports each one)."""
    values: dict[str, Any] = {}
    for path in paths:
        node = values
        for name in path:
            node = node.setdefault(name, {})
        node["notAKey"] = 1
    return values


@pytest.fixture(scope="module")
def refusals(helm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bad values file rendered once, four at a time: its id -> helm's error (or '')."""
    tmp = tmp_path_factory.mktemp("bad-values")

    def render(case: dict[str, Any]) -> str:
        result = helm(
            "template", RELEASE, str(CHART), "--kube-version", KUBERNETES_VERSION,
            *values_args(tmp, case["values"]),
        )  # fmt: skip
        return result.stderr if result.returncode != 0 else ""

    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(render, BAD_CASES))
    return {case["constraint"]: error for case, error in zip(BAD_CASES, errors, strict=True)}


def test_every_schema_constraint_has_a_bad_values_file() -> None:
    covered = {case["constraint"] for case in BAD_CASES}
    missing = sorted(set(schema_constraints(SCHEMA)) - covered)
    assert not missing, f"add a case to {BAD_VALUES.name} for: {missing}"
    assert len(covered) == len(BAD_CASES), "two cases name the same constraint"


@pytest.mark.parametrize("case", [pytest.param(c, id=c["constraint"]) for c in BAD_CASES])
def test_each_bad_values_file_is_refused(refusals: dict[str, str], case: dict[str, Any]) -> None:
    error = refusals[case["constraint"]]
    assert error, f"helm accepted {case['values']}"
    assert "values don't meet the specifications of the schema" in error, error
    assert case["error"] in error, error


def test_every_object_of_the_schema_refuses_unknown_keys(helm: Any, tmp_path: Path) -> None:
    assert len(UNKNOWN_KEY_PATHS) > 30
    result = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBERNETES_VERSION,
        *values_args(tmp_path, with_unknown_keys(UNKNOWN_KEY_PATHS)),
    )  # fmt: skip
    assert result.returncode != 0
    refused = set(
        re.findall(r"at '([^']*)': additional properties 'notAKey' not allowed", result.stderr)
    )
    assert refused == {"/" + "/".join(path) if path else "" for path in UNKNOWN_KEY_PATHS}


def test_the_required_values_alone_render(helm: Any, tmp_path: Path) -> None:
    assert template(helm, tmp_path, {})  # the bad cases above differ from it by one value


# --- what the rendered objects promise -----------------------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_is_hardened_and_every_container_bounded(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    pods = list(pod_templates(renders[value_set]))
    assert len(pods) >= 5
    for name, pod in pods:
        pod_context = pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True, name
        assert pod_context["runAsUser"] > 0, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            where = f"{name} container {container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where


def egress_ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    return {(port["port"], port["protocol"]) for port in rule["ports"]}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_agent_may_reach_only_collector_api_server_dns_and_metrics_ports(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    docs = renders[value_set]
    policy = named(docs, "NetworkPolicy", "-agent")["spec"]
    agent = named(docs, "Deployment", "-agent")
    assert policy["podSelector"]["matchLabels"] == agent["spec"]["selector"]["matchLabels"]
    assert policy["policyTypes"] == ["Egress"]
    rules = policy["egress"]
    allowed = set().union(*(egress_ports(rule) for rule in rules))
    collector_port = collector_config(docs)["ingest"]["port"]
    assert allowed == {
        (collector_port, "TCP"),
        (443, "TCP"),
        (53, "UDP"),
        (53, "TCP"),
        (9153, "TCP"),
        (10092, "TCP"),
    }
    (to_collector,) = [r for r in rules if (collector_port, "TCP") in egress_ports(r)]
    collector = named(docs, "Deployment", "-collector")
    assert to_collector["to"] == [
        {"podSelector": {"matchLabels": collector["spec"]["selector"]["matchLabels"]}}
    ]
    to_coredns = next(r for r in rules if (9153, "TCP") in egress_ports(r))
    assert to_coredns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    if value_set == "production":  # API server and node CIDRs given: nothing else on 443/10092
        (to_api,) = [r for r in rules if (443, "TCP") in egress_ports(r)]
        assert to_api["to"] == [{"ipBlock": {"cidr": "20.50.1.10/32"}}]
        (to_cns,) = [r for r in rules if (10092, "TCP") in egress_ports(r)]
        assert to_cns["to"] == [{"ipBlock": {"cidr": "10.224.0.0/16"}}]


def collector_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = named(docs, "ConfigMap", "-collector")
    return yaml.safe_load(config_map["data"]["netaudit.yaml"])  # type: ignore[no-any-return]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_collector_probes_use_the_plaintext_health_port_and_ingest_speaks_tls(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    docs = renders[value_set]
    ingest = collector_config(docs)["ingest"]
    assert ingest["health_host"] == "0.0.0.0" and ingest["health_port"] != ingest["port"]
    (serve,) = named(docs, "Deployment", "-collector")["spec"]["template"]["spec"]["containers"]
    assert serve["args"] == ["serve"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert serve[probe]["grpc"] == {"port": ingest["health_port"]}, probe
    env = env_of(serve)
    assert env["NETAUDIT_INGEST__TLS_CERT_FILE"] and env["NETAUDIT_INGEST__TLS_KEY_FILE"]
    assert "--insecure" not in serve["args"] and not ingest.get("insecure")
    service_ports = {
        p["name"]: p["port"] for p in named(docs, "Service", "-collector")["spec"]["ports"]
    }
    assert service_ports["grpc"] == ingest["port"]
    assert service_ports["health"] == ingest["health_port"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_only_serve_mounts_the_ingest_key(renders: dict[str, list[dict]], value_set: str) -> None:
    for name, pod in pod_templates(renders[value_set]):
        for container in pod["containers"]:
            has_key = "NETAUDIT_INGEST__TLS_KEY_FILE" in env_of(container)
            assert has_key == (container["name"] == "serve"), f"{name}/{container['name']}"


def rbac_documents(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs if doc["kind"] in {"ClusterRole", "Role"}}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_agent_roles_equal_deploy_rbac(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    docs = renders[value_set]
    source = [d for d in yaml.safe_load_all(COPIES_SOURCE_RBAC.read_text()) if d]
    expected = rbac_documents(source)
    rendered = rbac_documents(docs)
    assert rendered.keys() == expected.keys() == {"ClusterRole", "Role"}
    for kind in rendered:
        assert rendered[kind]["rules"] == expected[kind]["rules"], kind
    assert rendered["Role"]["metadata"]["namespace"] == "kube-system"
    agent_account = named(docs, "ServiceAccount", "-agent")["metadata"]["name"]
    for binding in [*objects(docs, "ClusterRoleBinding"), *objects(docs, "RoleBinding")]:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": agent_account, "namespace": NAMESPACE}
        ]


COPIES_SOURCE_RBAC = REPO / "deploy" / "rbac" / "agent-clusterrole.yaml"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_objects_carry_the_recommended_labels_and_no_namespace_but_kube_systems_roles(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    for doc in renders[value_set]:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        labels = doc["metadata"]["labels"]
        for key in ("name", "instance", "version", "component", "part-of", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels, name
        if doc["kind"] in {"Role", "RoleBinding"}:
            assert doc["metadata"]["namespace"] == "kube-system", name
        else:
            assert "namespace" not in doc["metadata"], name


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_one_agent_and_one_beat_replaced_never_doubled(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    docs = renders[value_set]
    for suffix, args in (("-agent", ["run"]), ("-beat", ["beat"])):
        deployment = named(docs, "Deployment", suffix)
        assert deployment["spec"]["replicas"] == 1, suffix
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}, suffix
        assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == args
    worker = named(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][0] == "worker"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_migrations_run_in_a_hook_before_install_and_upgrade(
    renders: dict[str, list[dict]], value_set: str
) -> None:
    (job,) = objects(renders[value_set], "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["db", "upgrade"]
    # Before install nothing of the release exists: only the store Secret made beforehand.
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]
    assert "configMap" not in json.dumps(job["spec"]["template"]["spec"].get("volumes", []))
    assert env_of(container)["NETAUDIT_STORE__URL"]["secretKeyRef"]["name"]


def test_the_agent_spool_volume_is_sized_to_its_cap(renders: dict[str, list[dict]]) -> None:
    pod = named(renders["default"], "Deployment", "-agent")["spec"]["template"]["spec"]
    (agent,) = pod["containers"]
    cap_bytes = int(env_of(agent)["NETAUDIT_SPOOL__MAX_BYTES"])
    (spool,) = [v for v in pod["volumes"] if v["name"] == "spool"]
    size_mib = int(spool["emptyDir"]["sizeLimit"].removesuffix("Mi"))
    assert cap_bytes < size_mib * 2**20 <= cap_bytes + 64 * 2**20


def test_production_values_wire_workload_identity_and_client_certificates(
    renders: dict[str, list[dict]],
) -> None:
    docs = renders["production"]
    account = named(docs, "ServiceAccount", "-collector")["metadata"]
    assert account["annotations"]["azure.workload.identity/client-id"]
    for suffix in ("-collector", "-worker", "-beat"):
        labels = named(docs, "Deployment", suffix)["spec"]["template"]["metadata"]["labels"]
        assert labels["azure.workload.identity/use"] == "true", suffix
    certificate = named(docs, "Certificate", "-agent")["spec"]
    assert certificate["uris"] == ["https://management.azure.com" + production_cluster_id()]
    (agent,) = named(docs, "Deployment", "-agent")["spec"]["template"]["spec"]["containers"]
    env = env_of(agent)
    assert (
        "NETAUDIT_COLLECTOR__TLS_CLIENT_CERT" in env and "NETAUDIT_COLLECTOR__TOKEN_FILE" not in env
    )
    assert not [d for d in docs if d["metadata"]["name"].endswith("-redis")]


def production_cluster_id() -> str:
    return str(yaml.safe_load(PRODUCTION_VALUES.read_text())["agent"]["clusterId"])
