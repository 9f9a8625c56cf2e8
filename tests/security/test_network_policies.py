"""Sandbox NetworkPolicies: no ingress in the base; egress chosen by one of three components.

Each component is rendered on top of the base (as an operator's overlay would) and applied with
a server-side dry run, so the apiserver validates the policies as it would on k3s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster.cluster import MANIFESTS_DIR, SANDBOX_NAMESPACE, LocalCluster

pytestmark = pytest.mark.cluster

Object = dict[str, Any]
COMPONENTS = MANIFESTS_DIR / "components"
EGRESS = ("egress-deny-all", "egress-dns-only", "egress-open")


def render(cluster: LocalCluster, directory: Path) -> list[Object]:
    return [d for d in yaml.safe_load_all(cluster.kubectl("kustomize", str(directory))) if d]


def overlay(tmp_path: Path, component: str) -> Path:
    """An overlay of the base with ``component`` (kustomize wants relative paths)."""
    directory = tmp_path / component
    directory.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS_DIR / "base", directory)],
        "components": [os.path.relpath(COMPONENTS / component, directory)],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def sandbox_policies(objects: list[Object]) -> dict[str, Object]:
    return {
        o["metadata"]["name"]: o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == SANDBOX_NAMESPACE
    }


def test_base_denies_ingress_and_leaves_egress_to_a_component(cluster: LocalCluster) -> None:
    policies = sandbox_policies(render(cluster, MANIFESTS_DIR))
    assert policies == {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


@pytest.mark.parametrize("component", EGRESS)
def test_each_egress_component_applies_with_server_side_dry_run(
    cluster: LocalCluster, tmp_path: Path, component: str
) -> None:
    directory = overlay(tmp_path, component)
    objects = render(cluster, directory)
    rendered = cluster.kubectl("kustomize", str(directory))
    output = cluster.kubectl(
        "apply", "-f", "-", "--dry-run=server", "--validate=strict", stdin=rendered
    )
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == len(objects), output
    assert all(line.endswith("(server dry run)") for line in lines), output

    policies = sandbox_policies(objects)
    assert "default-deny-ingress" in policies  # ingress stays denied
    (name,) = set(policies) - {"default-deny-ingress"}
    spec = policies[name]
    assert spec["podSelector"] == {}  # every sandbox
    assert spec["policyTypes"] == ["Egress"]
    rules = spec.get("egress", [])
    if component == "egress-deny-all":
        assert rules == []
    elif component == "egress-dns-only":
        (rule,) = rules
        assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
        (peer,) = rule["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "kube-system"
        }
    else:
        (rule,) = rules
        assert "ports" not in rule
        blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in rule["to"]}
        assert "169.254.0.0/16" in blocks["0.0.0.0/0"]
        assert "fe80::/10" in blocks["::/0"]
