"""``manifests/`` and its dev overlay: valid for the apiserver, and what an operator expects.

The apiserver judges validity: each rendering is applied with ``--dry-run=server`` to the local
control plane (which ``tests/conftest.py`` started with ``manifests/`` applied), so schemas,
admission and field validation (``--validate=strict``) are Kubernetes' own. The API server's pod
template is also dry-run as a Pod in its namespace, where Pod Security "restricted" is enforced.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.cluster import (
    MANIFESTS_DIR,
    SANDBOX_NAMESPACE,
    SERVICE_ACCOUNT,
    SERVICE_NAMESPACE,
    ClusterError,
    LocalCluster,
)

pytestmark = pytest.mark.cluster

DEV_OVERLAY = MANIFESTS_DIR / "overlays" / "dev"
APP_LABELS = {"app.kubernetes.io/name": "kata-sandbox-api"}
CLUSTER_SCOPED_ALLOWED = {"Namespace", "RuntimeClass"}

Object = dict[str, Any]


def render(cluster: LocalCluster, path: Path) -> list[Object]:
    documents = yaml.safe_load_all(cluster.kubectl("kustomize", str(path)))
    return [document for document in documents if document]


def find(objects: list[Object], kind: str, name: str | None = None) -> Object:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"{kind} {name or ''}: {len(matches)} found"
    return matches[0]


def identities(objects: list[Object]) -> set[tuple[str, str, str]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}


def pod_spec(objects: list[Object]) -> Object:
    spec: Object = find(objects, "Deployment", "kata-sandbox-api")["spec"]["template"]["spec"]
    return spec


def api_container(objects: list[Object]) -> Object:
    (container,) = pod_spec(objects)["containers"]
    assert container["name"] == "api"
    result: Object = container
    return result


def dry_run_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def base(cluster: LocalCluster) -> list[Object]:
    return render(cluster, MANIFESTS_DIR)


@pytest.fixture(scope="module")
def dev(cluster: LocalCluster) -> list[Object]:
    return render(cluster, DEV_OVERLAY)


# -- valid for the apiserver ---------------------------------------------------------------------


def test_base_applies_with_server_side_dry_run(cluster: LocalCluster, base: list[Object]) -> None:
    output = cluster.kubectl(
        "apply", "-k", str(MANIFESTS_DIR), "--dry-run=server", "--validate=strict"
    )
    lines = dry_run_lines(output)
    assert len(lines) == len(base), output
    assert all(line.endswith("(server dry run)") for line in lines), output


def test_dev_overlay_applies_with_server_side_dry_run(
    cluster: LocalCluster, dev: list[Object]
) -> None:
    rendered = cluster.kubectl("kustomize", str(DEV_OVERLAY))
    output = cluster.kubectl(
        "apply", "-f", "-", "--dry-run=server", "--validate=strict", stdin=rendered
    )
    lines = dry_run_lines(output)
    assert len(lines) == len(dev), output
    assert all(line.endswith("(server dry run)") for line in lines), output


def _as_pod(objects: list[Object], name: str) -> Object:
    template = find(objects, "Deployment", "kata-sandbox-api")["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": SERVICE_NAMESPACE, **template["metadata"]},
        "spec": copy.deepcopy(template["spec"]),
    }


@pytest.mark.parametrize("overlay", ["base", "dev"])
def test_pod_meets_the_restricted_pod_security_its_namespace_enforces(
    cluster: LocalCluster, request: pytest.FixtureRequest, overlay: str
) -> None:
    objects: list[Object] = request.getfixturevalue(overlay)
    pod = _as_pod(objects, f"dry-run-{overlay}")
    output = cluster.kubectl(
        "create", "-f", "-", "--dry-run=server", "--validate=strict", stdin=json.dumps(pod)
    )
    assert "(server dry run)" in output


def test_dry_run_does_enforce_pod_security(cluster: LocalCluster, base: list[Object]) -> None:
    """The check above can fail: the same pod, less one restricted setting, is refused."""
    pod = _as_pod(base, "dry-run-weakened")
    del pod["spec"]["containers"][0]["securityContext"]["capabilities"]
    with pytest.raises(ClusterError, match="violates PodSecurity"):
        cluster.kubectl("create", "-f", "-", "--dry-run=server", stdin=json.dumps(pod))


# -- what the base holds -------------------------------------------------------------------------


def test_nothing_cluster_scoped_but_namespaces_and_the_runtime_class(base: list[Object]) -> None:
    kinds = {o["kind"] for o in base if "namespace" not in o["metadata"]}
    assert kinds <= CLUSTER_SCOPED_ALLOWED
    assert not [o for o in base if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    names = {o["metadata"]["name"] for o in base if o["kind"] == "Namespace"}
    assert names == {SANDBOX_NAMESPACE, SERVICE_NAMESPACE}
    assert find(base, "RuntimeClass")["metadata"]["name"] == "kata-qemu"


def test_rbac_grants_the_service_account_only_the_sandbox_namespace(base: list[Object]) -> None:
    account = find(base, "ServiceAccount", SERVICE_ACCOUNT)
    assert account["metadata"]["namespace"] == SERVICE_NAMESPACE
    role = find(base, "Role", SERVICE_ACCOUNT)
    binding = find(base, "RoleBinding", SERVICE_ACCOUNT)
    assert role["metadata"]["namespace"] == SANDBOX_NAMESPACE
    assert binding["metadata"]["namespace"] == SANDBOX_NAMESPACE
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": SERVICE_NAMESPACE}
    ]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources
    assert pod_spec(base)["serviceAccountName"] == SERVICE_ACCOUNT


def test_deployment_runs_two_replicas_spread_and_rolled_without_downtime(
    base: list[Object],
) -> None:
    deployment = find(base, "Deployment", "kata-sandbox-api")
    assert deployment["metadata"]["namespace"] == SERVICE_NAMESPACE
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == APP_LABELS
    assert spec["template"]["metadata"]["labels"].items() >= APP_LABELS.items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (spread,) = pod_spec(base)["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"


def test_probes_readiness_on_readyz_and_liveness_on_healthz(base: list[Object]) -> None:
    container = api_container(base)
    port_names = {port["name"] for port in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    liveness = container["livenessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz"
    assert liveness["path"] == "/healthz"
    assert {readiness["port"], liveness["port"]} <= port_names | {
        p["containerPort"] for p in container["ports"]
    }


def test_resources_requested_and_limited(base: list[Object]) -> None:
    resources = api_container(base)["resources"]
    for section in ("requests", "limits"):
        assert set(resources[section]) == {"cpu", "memory"}


def test_security_context_is_restricted(base: list[Object]) -> None:
    pod_security = pod_spec(base)["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = api_container(base)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in security["capabilities"]
    assert security.get("privileged", False) is False
    # A read-only root needs somewhere to write temporary files.
    mounts = {m["mountPath"]: m["name"] for m in api_container(base)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(base)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def _env(container: Object) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def _mounted_volume(objects: list[Object], file_path: str) -> tuple[Object, Object]:
    """The volume mount holding ``file_path`` and its volume."""
    container = api_container(objects)
    directory = str(Path(file_path).parent)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == mount["name"]]
    return mount, volume


def test_settings_come_from_the_generated_config_map(base: list[Object]) -> None:
    path = _env(api_container(base))["APPSETTINGS_PATH"]
    mount, volume = _mounted_volume(base, path)
    assert mount["readOnly"] is True
    config_maps = [o for o in base if o["kind"] == "ConfigMap"]
    (config_map,) = config_maps
    # The generated, hash-suffixed name, so a settings change rolls the pods.
    assert config_map["metadata"]["name"].startswith("kata-sandbox-api-settings-")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    settings = json.loads(config_map["data"][Path(path).name])
    assert settings["Kubernetes"]["TargetNamespace"] == SANDBOX_NAMESPACE
    assert settings["Kubernetes"]["RuntimeClassName"] == find(base, "RuntimeClass")["handler"]


def test_api_tokens_come_from_an_optional_secret_file(base: list[Object]) -> None:
    path = _env(api_container(base))["API_TOKENS_PATH"]
    mount, volume = _mounted_volume(base, path)
    assert mount["readOnly"] is True
    secret = volume["secret"]
    assert secret["secretName"] == "kata-sandbox-api-tokens"
    assert secret["optional"] is True, "the pods start before the operator creates the Secret"
    assert secret["items"] == [{"key": "tokens.json", "path": Path(path).name}]
    # The files are root-owned; the process reads them through their group, which fsGroup sets.
    assert secret["defaultMode"] & 0o040
    assert (
        pod_spec(base)["securityContext"]["fsGroup"]
        == pod_spec(base)["securityContext"]["runAsGroup"]
    )
    # The Secret is the operator's: no token is shipped in the manifests.
    assert not [o for o in base if o["kind"] == "Secret"]


def test_pod_disruption_budget_keeps_one_replica(base: list[Object]) -> None:
    budget = find(base, "PodDisruptionBudget", "kata-sandbox-api")
    assert budget["metadata"]["namespace"] == SERVICE_NAMESPACE
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == APP_LABELS


def test_service_selects_the_pods_and_targets_the_http_port(base: list[Object]) -> None:
    service = find(base, "Service", "kata-sandbox-api")
    assert service["metadata"]["namespace"] == SERVICE_NAMESPACE
    assert service["spec"]["selector"] == APP_LABELS
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in api_container(base)["ports"]}


# -- the dev overlay -----------------------------------------------------------------------------


def test_dev_overlay_has_the_same_objects(base: list[Object], dev: list[Object]) -> None:
    assert identities(dev) == identities(base)


def test_dev_overlay_runs_one_replica_of_a_local_image(dev: list[Object]) -> None:
    assert find(dev, "Deployment", "kata-sandbox-api")["spec"]["replicas"] == 1
    container = api_container(dev)
    assert container["image"] == "kata-sandbox-api:dev"
    assert container["imagePullPolicy"] == "Never"
    assert _env(container)["Server__LogLevel"] == "DEBUG"


def test_dev_overlay_budget_lets_a_drain_evict_its_one_replica(dev: list[Object]) -> None:
    budget = find(dev, "PodDisruptionBudget", "kata-sandbox-api")["spec"]
    assert "minAvailable" not in budget
    assert budget["maxUnavailable"] == 1


def test_dev_overlay_keeps_probes_security_and_settings(
    base: list[Object], dev: list[Object]
) -> None:
    def without(container: Object, *keys: str) -> Object:
        kept = {k: v for k, v in container.items() if k not in keys}
        kept["env"] = [e for e in container.get("env", []) if e["name"] != "Server__LogLevel"]
        return kept

    changed = ("image", "imagePullPolicy")
    assert without(api_container(dev), *changed) == without(api_container(base), *changed)
    dev_pod = {k: v for k, v in pod_spec(dev).items() if k != "containers"}
    base_pod = {k: v for k, v in pod_spec(base).items() if k != "containers"}
    assert dev_pod == base_pod


def test_base_does_not_depend_on_the_overlay() -> None:
    def resources(directory: Path) -> Iterator[str]:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        yield from kustomization.get("resources", [])

    for directory in (MANIFESTS_DIR, MANIFESTS_DIR / "base"):
        for resource in resources(directory):
            assert "overlays" not in Path(resource).parts, f"{directory}: {resource}"
