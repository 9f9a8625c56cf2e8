import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.config import KubernetesSettings
from app.kube.convert import sandbox_from_pod
from app.kube.ownership import CREATED_AT_ANNOTATION, MANAGED_POD_SELECTOR
from app.models import (
    BadUserInput,
    ConfigMapVolume,
    EnvVar,
    Label,
    ResourceAmounts,
    ResourceRequirements,
    RestartPolicy,
    SandboxSpec,
    ScratchVolume,
)
from app.sandboxes.label_selector import compile_label_selector
from app.sandboxes.manifest import build_pod_manifest, generate_pod_name, resolve_resources

SETTINGS = KubernetesSettings()
CREATED_AT = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)


def build(spec: SandboxSpec, settings: KubernetesSettings = SETTINGS) -> dict[str, Any]:
    return build_pod_manifest(spec, settings, name="kata-sandbox-0a1b2c3d", created_at=CREATED_AT)


def container_of(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_minimal_pod() -> None:
    pod = build(SandboxSpec("busybox:1.36"))
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {
        "name": "kata-sandbox-0a1b2c3d",
        "namespace": "sandbox-containers",
        "labels": {"app": "kata-sandbox", "runtime": "kata", "managed-by": "kata-sandbox-api"},
        "annotations": {CREATED_AT_ANNOTATION: "2024-05-01T10:00:00.250000Z"},
    }
    spec = pod["spec"]
    assert spec["runtimeClassName"] == "kata-qemu"
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert "volumes" not in spec
    container = container_of(pod)
    assert container["name"] == "sandbox"
    assert container["image"] == "busybox:1.36"
    assert "command" not in container
    assert "args" not in container
    assert "env" not in container
    assert "volumeMounts" not in container
    assert container["resources"] == {
        "requests": {"memory": "256Mi", "cpu": "250m"},
        "limits": {"memory": "512Mi", "cpu": "500m"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    json.dumps(pod)  # JSON-ready: no enums, tuples or datetimes left


def test_full_spec() -> None:
    spec = SandboxSpec(
        "ghcr.io/org/tool:v1",
        command=("/bin/sh", "-c"),
        args=("echo $GREETING",),
        env=(EnvVar("GREETING", "hello"), EnvVar("EMPTY", "")),
        labels=(Label("team", "infra"), Label("example.com/tier", "web")),
        resources=ResourceRequirements(
            requests=ResourceAmounts(memory_mi=1024, cpu_millicores=500),
            limits=ResourceAmounts(memory_mi=2048, cpu_millicores=1000),
        ),
        restart_policy=RestartPolicy.ON_FAILURE,
        scratch=ScratchVolume("/scratch", size_limit_mi=2048),
        config_maps=(ConfigMapVolume("app.config", "/etc/app"), ConfigMapVolume("extra", "/extra")),
    )
    pod = build(spec)
    assert pod["metadata"]["labels"] == {
        "team": "infra",
        "example.com/tier": "web",
        "app": "kata-sandbox",
        "runtime": "kata",
        "managed-by": "kata-sandbox-api",
    }
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["spec"]["volumes"] == [
        {"name": "scratch", "emptyDir": {"sizeLimit": "2048Mi"}},
        {"name": "config-0", "configMap": {"name": "app.config"}},
        {"name": "config-1", "configMap": {"name": "extra"}},
    ]
    container = container_of(pod)
    assert container["command"] == ["/bin/sh", "-c"]
    assert container["args"] == ["echo $GREETING"]
    assert container["env"] == [
        {"name": "GREETING", "value": "hello"},
        {"name": "EMPTY", "value": ""},
    ]
    assert container["volumeMounts"] == [
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "config-0", "mountPath": "/etc/app", "readOnly": True},
        {"name": "config-1", "mountPath": "/extra", "readOnly": True},
    ]
    assert container["resources"] == {
        "requests": {"memory": "1024Mi", "cpu": "500m"},
        "limits": {"memory": "2048Mi", "cpu": "1000m"},
    }


def test_scratch_size_defaults_from_settings() -> None:
    pod = build(SandboxSpec("busybox", scratch=ScratchVolume("/tmp/work")))
    assert pod["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "1024Mi"}}]


def test_settings_flow_into_the_pod() -> None:
    settings = KubernetesSettings(
        target_namespace="elsewhere", runtime_class_name="kata-clh", pod_name_prefix="x"
    )
    pod = build(SandboxSpec("busybox"), settings)
    assert pod["metadata"]["namespace"] == "elsewhere"
    assert pod["spec"]["runtimeClassName"] == "kata-clh"


@pytest.mark.parametrize(
    ("requests", "limits", "expected_requests", "expected_limits"),
    [
        # Nothing given: both defaults.
        ((None, None), (None, None), (256, 250), (512, 500)),
        # A limit below the default request lowers the request to the limit.
        ((None, None), (128, 100), (128, 100), (128, 100)),
        # A limit above the default request keeps the default request.
        ((None, None), (1024, 1000), (256, 250), (1024, 1000)),
        # A request above the default limit raises the limit to the request.
        ((1024, 1000), (None, None), (1024, 1000), (1024, 1000)),
        # A request below the default limit keeps the default limit.
        ((64, 50), (None, None), (64, 50), (512, 500)),
        # Memory and CPU resolve independently.
        ((None, 1000), (128, None), (128, 1000), (128, 1000)),
        ((300, 300), (400, 400), (300, 300), (400, 400)),
    ],
)
def test_resource_resolution(
    requests: tuple[int | None, int | None],
    limits: tuple[int | None, int | None],
    expected_requests: tuple[int, int],
    expected_limits: tuple[int, int],
) -> None:
    asked = ResourceRequirements(
        requests=ResourceAmounts(memory_mi=requests[0], cpu_millicores=requests[1]),
        limits=ResourceAmounts(memory_mi=limits[0], cpu_millicores=limits[1]),
    )
    resolved = resolve_resources(asked, SETTINGS)
    assert (resolved.requests.memory_mi, resolved.requests.cpu_millicores) == expected_requests
    assert (resolved.limits.memory_mi, resolved.limits.cpu_millicores) == expected_limits
    assert resolved.overhead is None


def test_invalid_spec_is_refused_before_building() -> None:
    with pytest.raises(BadUserInput) as caught:
        build(SandboxSpec("busybox", labels=(Label("managed-by", "me"),)))
    assert caught.value.field == "input.labels[0].key"


def test_created_at_is_written_in_utc() -> None:
    local = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    pod = build_pod_manifest(SandboxSpec("busybox"), SETTINGS, name="n-1", created_at=local)
    assert pod["metadata"]["annotations"][CREATED_AT_ANNOTATION] == "2024-05-01T10:00:00.000000Z"


def test_naive_created_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_pod_manifest(
            SandboxSpec("busybox"), SETTINGS, name="n-1", created_at=datetime(2024, 5, 1)
        )


@pytest.mark.parametrize("name", ["", "Upper-1", "a_b", "x" * 64, "-a"])
def test_invalid_pod_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        build_pod_manifest(SandboxSpec("busybox"), SETTINGS, name=name, created_at=CREATED_AT)


def test_generated_names() -> None:
    name = generate_pod_name("kata-sandbox")
    assert re.fullmatch(r"kata-sandbox-[0-9a-f]{8}", name)
    assert len({generate_pod_name("kata-sandbox") for _ in range(20)}) > 1


def test_generated_name_uses_the_injected_source() -> None:
    calls: list[int] = []

    def fixed(nbytes: int) -> str:
        calls.append(nbytes)
        return "deadbeef"

    assert generate_pod_name("p", token_hex=fixed) == "p-deadbeef"
    assert calls == [4]


def test_generated_name_of_the_longest_prefix_is_a_label() -> None:
    prefix = "a" * 54
    assert len(generate_pod_name(prefix)) == 63


def test_a_bad_injected_source_is_caught() -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        generate_pod_name("p", token_hex=lambda _: "NOT-HEX!")


def test_managed_selector_matches_our_pods_only() -> None:
    pod = build(SandboxSpec("busybox", labels=(Label("team", "x"),)))
    selector = compile_label_selector(MANAGED_POD_SELECTOR)
    assert selector.matches(pod["metadata"]["labels"])
    assert not selector.matches({"app": "kata-sandbox"})
    assert not selector.matches({"app": "other", "managed-by": "kata-sandbox-api"})


def test_round_trip_through_the_converter() -> None:
    """The converter reads back what the builder wrote (before any status exists)."""
    spec = SandboxSpec(
        "busybox:1.36",
        labels=(Label("team", "infra"),),
        resources=ResourceRequirements(limits=ResourceAmounts(memory_mi=1024)),
        restart_policy=RestartPolicy.ALWAYS,
    )
    pod = build(spec)
    sandbox = sandbox_from_pod(pod)
    assert sandbox.name == "kata-sandbox-0a1b2c3d"
    assert sandbox.namespace == "sandbox-containers"
    assert sandbox.image == "busybox:1.36"
    assert sandbox.created_at == CREATED_AT
    assert sandbox.restart_policy is RestartPolicy.ALWAYS
    assert sandbox.runtime_class_name == "kata-qemu"
    assert sandbox.labels_as_dict()["team"] == "infra"
    assert sandbox.resources.requests == ResourceAmounts(memory_mi=256, cpu_millicores=250)
    assert sandbox.resources.limits == ResourceAmounts(memory_mi=1024, cpu_millicores=500)
    assert [c.name for c in sandbox.containers] == ["sandbox"]


def test_baseline_pod_security() -> None:
    """The fields Pod Security "baseline" looks at are absent or at their safe values."""
    pod = build(
        SandboxSpec(
            "busybox",
            scratch=ScratchVolume("/s"),
            config_maps=(ConfigMapVolume("c", "/c"),),
        )
    )
    spec = pod["spec"]
    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        assert spec.get(host_field, False) is False
    for volume in spec["volumes"]:
        assert "hostPath" not in volume
    container = container_of(pod)
    security = container["securityContext"]
    assert security["privileged"] is False
    assert "add" not in security["capabilities"]
    assert "ports" not in container
    assert spec["securityContext"]["seccompProfile"]["type"] != "Unconfined"
    assert "appArmorProfile" not in security
    assert "seLinuxOptions" not in security
