import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from app.kube.convert import (
    MalformedObjectError,
    sandbox_from_pod,
)
from app.kube.ownership import CREATED_AT_ANNOTATION
from app.models import (
    ContainerStateKind,
    Label,
    ResourceAmounts,
    RestartPolicy,
    SandboxPhase,
)


def running_pod() -> dict[str, Any]:
    """A pod as the apiserver returns it once running (quantities in canonical form)."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "kata-sandbox-0a1b2c3d",
            "namespace": "sandbox-containers",
            "uid": "5f0c6e2a-1111-2222-3333-444455556666",
            "resourceVersion": "12345",
            "creationTimestamp": "2024-05-01T10:00:01Z",
            "labels": {
                "managed-by": "kata-sandbox-api",
                "app": "kata-sandbox",
                "team": "infra",
                "runtime": "kata",
            },
            "annotations": {CREATED_AT_ANNOTATION: "2024-05-01T10:00:00.250000Z"},
        },
        "spec": {
            "containers": [
                {
                    "name": "sandbox",
                    "image": "busybox:1.36",
                    "resources": {
                        "limits": {"cpu": "1", "memory": "1Gi"},
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                    },
                }
            ],
            "restartPolicy": "Never",
            "nodeName": "kata-node-1",
            "runtimeClassName": "kata-qemu",
            "overhead": {"cpu": "250m", "memory": "160Mi"},
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastTransitionTime": "2024-05-01T10:00:02Z",
                },
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": "2024-05-01T10:00:09Z",
                },
            ],
            "hostIP": "10.0.0.5",
            "podIP": "10.244.1.7",
            "startTime": "2024-05-01T10:00:02Z",
            "containerStatuses": [
                {
                    "name": "sandbox",
                    "state": {"running": {"startedAt": "2024-05-01T10:00:08Z"}},
                    "ready": True,
                    "restartCount": 0,
                    "image": "docker.io/library/busybox:1.36",
                    "imageID": "docker.io/library/busybox@sha256:abc",
                }
            ],
            "qosClass": "Burstable",
        },
    }


def test_running_pod() -> None:
    sandbox = sandbox_from_pod(running_pod())
    assert sandbox.name == "kata-sandbox-0a1b2c3d"
    assert sandbox.namespace == "sandbox-containers"
    assert sandbox.uid == "5f0c6e2a-1111-2222-3333-444455556666"
    assert sandbox.resource_version == "12345"
    assert sandbox.image == "busybox:1.36"
    assert sandbox.phase is SandboxPhase.RUNNING
    assert sandbox.ready is True
    assert sandbox.terminating is False
    assert sandbox.deletion_timestamp is None
    assert sandbox.created_at == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert sandbox.start_time == datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC)
    assert sandbox.node_name == "kata-node-1"
    assert sandbox.pod_ip == "10.244.1.7"
    assert sandbox.host_ip == "10.0.0.5"
    assert sandbox.runtime_class_name == "kata-qemu"
    assert sandbox.restart_policy is RestartPolicy.NEVER
    assert sandbox.labels == (
        Label("app", "kata-sandbox"),
        Label("managed-by", "kata-sandbox-api"),
        Label("runtime", "kata"),
        Label("team", "infra"),
    )
    assert [a.key for a in sandbox.annotations] == [CREATED_AT_ANNOTATION]
    assert sandbox.resources.requests == ResourceAmounts(memory_mi=256, cpu_millicores=250)
    assert sandbox.resources.limits == ResourceAmounts(memory_mi=1024, cpu_millicores=1000)
    assert sandbox.resources.overhead == ResourceAmounts(memory_mi=160, cpu_millicores=250)
    (container,) = sandbox.containers
    assert container.name == "sandbox"
    assert container.image == "docker.io/library/busybox:1.36"
    assert container.ready is True
    assert container.state is ContainerStateKind.RUNNING
    assert str(container.state) == "running"
    assert container.started_at == datetime(2024, 5, 1, 10, 0, 8, tzinfo=UTC)
    assert (container.reason, container.exit_code, container.finished_at) == (None, None, None)
    assert [(c.type, c.status) for c in sandbox.conditions] == [
        ("PodScheduled", "True"),
        ("Ready", "True"),
    ]
    assert sandbox.conditions[1].last_transition_time == datetime(2024, 5, 1, 10, 0, 9, tzinfo=UTC)


def test_labels_are_sorted_whatever_the_input_order() -> None:
    pod = running_pod()
    pod["metadata"]["labels"] = dict(reversed(list(pod["metadata"]["labels"].items())))
    assert sandbox_from_pod(pod).labels == sandbox_from_pod(running_pod()).labels


def test_created_at_falls_back_to_creation_timestamp() -> None:
    pod = running_pod()
    del pod["metadata"]["annotations"]
    assert sandbox_from_pod(pod).created_at == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    pod["metadata"]["annotations"] = {CREATED_AT_ANNOTATION: "not a time"}
    assert sandbox_from_pod(pod).created_at == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)


def test_freshly_created_pod_without_status() -> None:
    pod = running_pod()
    del pod["status"]
    del pod["spec"]["nodeName"]
    del pod["spec"]["overhead"]
    sandbox = sandbox_from_pod(pod)
    assert sandbox.phase is SandboxPhase.PENDING
    assert sandbox.ready is False
    assert sandbox.node_name is None
    assert sandbox.pod_ip is None
    assert sandbox.conditions == ()
    assert sandbox.resources.overhead is None
    (container,) = sandbox.containers
    assert container.name == "sandbox"
    assert container.image == "busybox:1.36"
    assert container.state is ContainerStateKind.WAITING
    assert container.ready is False
    assert container.restart_count == 0


def test_overhead_fallback_only_when_the_pod_has_none() -> None:
    fallback = ResourceAmounts(memory_mi=1, cpu_millicores=2)
    assert sandbox_from_pod(running_pod(), overhead_fallback=fallback).resources.overhead == (
        ResourceAmounts(memory_mi=160, cpu_millicores=250)
    )
    pod = running_pod()
    del pod["spec"]["overhead"]
    assert sandbox_from_pod(pod, overhead_fallback=fallback).resources.overhead == fallback


def test_image_pull_failure() -> None:
    pod = running_pod()
    pod["status"]["phase"] = "Pending"
    pod["status"]["conditions"][1] = {
        "type": "Ready",
        "status": "False",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [sandbox]",
    }
    pod["status"]["containerStatuses"][0] = {
        "name": "sandbox",
        "state": {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": 'Back-off pulling image "nope:1"',
            }
        },
        "ready": False,
        "restartCount": 0,
        "image": "nope:1",
    }
    sandbox = sandbox_from_pod(pod)
    assert sandbox.phase is SandboxPhase.PENDING
    assert sandbox.ready is False
    assert sandbox.conditions[1].reason == "ContainersNotReady"
    (container,) = sandbox.containers
    assert container.state is ContainerStateKind.WAITING
    assert container.reason == "ImagePullBackOff"
    assert container.message == 'Back-off pulling image "nope:1"'


def test_terminated_container() -> None:
    pod = running_pod()
    pod["status"]["phase"] = "Failed"
    pod["status"]["containerStatuses"][0]["ready"] = False
    pod["status"]["containerStatuses"][0]["restartCount"] = 2
    pod["status"]["containerStatuses"][0]["state"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "message": "out of memory",
            "startedAt": "2024-05-01T10:00:08Z",
            "finishedAt": "2024-05-01T10:01:00Z",
        }
    }
    sandbox = sandbox_from_pod(pod)
    assert sandbox.phase is SandboxPhase.FAILED
    assert sandbox.phase.is_terminal
    (container,) = sandbox.containers
    assert container.state is ContainerStateKind.TERMINATED
    assert (container.exit_code, container.reason, container.message) == (
        137,
        "OOMKilled",
        "out of memory",
    )
    assert container.restart_count == 2
    assert container.finished_at == datetime(2024, 5, 1, 10, 1, tzinfo=UTC)


def test_terminating_pod() -> None:
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    sandbox = sandbox_from_pod(pod)
    assert sandbox.terminating is True
    assert sandbox.deletion_timestamp == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert sandbox.phase is SandboxPhase.RUNNING


def test_evicted_pod_reason_and_message() -> None:
    pod = running_pod()
    pod["status"].update(
        {"phase": "Failed", "reason": "Evicted", "message": "ephemeral storage exceeded"}
    )
    sandbox = sandbox_from_pod(pod)
    assert (sandbox.reason, sandbox.message) == ("Evicted", "ephemeral storage exceeded")


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Pending", SandboxPhase.PENDING),
        ("Running", SandboxPhase.RUNNING),
        ("Succeeded", SandboxPhase.SUCCEEDED),
        ("Failed", SandboxPhase.FAILED),
        ("Unknown", SandboxPhase.UNKNOWN),
        ("Hibernating", SandboxPhase.UNKNOWN),
        (None, SandboxPhase.PENDING),
    ],
)
def test_phase_mapping(phase: str | None, expected: SandboxPhase) -> None:
    pod = running_pod()
    if phase is None:
        del pod["status"]["phase"]
    else:
        pod["status"]["phase"] = phase
    assert sandbox_from_pod(pod).phase is expected


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("Always", RestartPolicy.ALWAYS),
        ("OnFailure", RestartPolicy.ON_FAILURE),
        (None, RestartPolicy.ALWAYS),
        ("Sometimes", None),
    ],
)
def test_restart_policy(policy: str | None, expected: RestartPolicy | None) -> None:
    pod = running_pod()
    if policy is None:
        del pod["spec"]["restartPolicy"]
    else:
        pod["spec"]["restartPolicy"] = policy
    assert sandbox_from_pod(pod).restart_policy is expected


@pytest.mark.parametrize(
    ("quantities", "expected"),
    [
        ({"memory": "536870912", "cpu": "0.5"}, ResourceAmounts(memory_mi=512, cpu_millicores=500)),
        ({"memory": "1G", "cpu": "1500m"}, ResourceAmounts(memory_mi=954, cpu_millicores=1500)),
        ({"memory": "2Gi"}, ResourceAmounts(memory_mi=2048)),
        ({}, ResourceAmounts()),
        ({"memory": "garbage", "cpu": 5}, ResourceAmounts()),
    ],
)
def test_resource_quantities(quantities: dict[str, Any], expected: ResourceAmounts) -> None:
    pod = running_pod()
    pod["spec"]["containers"][0]["resources"]["limits"] = quantities
    assert sandbox_from_pod(pod).resources.limits == expected


def test_sandbox_container_is_found_by_name() -> None:
    pod = running_pod()
    sidecar = {"name": "helper", "image": "helper:1"}
    pod["spec"]["containers"].insert(0, sidecar)
    sandbox = sandbox_from_pod(pod)
    assert sandbox.image == "busybox:1.36"
    assert [c.name for c in sandbox.containers] == ["helper", "sandbox"]
    assert sandbox.containers[0].state is ContainerStateKind.WAITING
    assert sandbox.containers[1].state is ContainerStateKind.RUNNING


def test_odd_fields_do_not_break_conversion() -> None:
    pod = running_pod()
    pod["status"]["conditions"] = "nonsense"
    pod["status"]["containerStatuses"] = [None, {"name": "sandbox", "state": {"weird": {}}}]
    pod["status"]["startTime"] = "yesterday"
    pod["spec"]["containers"][0]["resources"] = None
    sandbox = sandbox_from_pod(pod)
    assert sandbox.conditions == ()
    assert sandbox.ready is False
    assert sandbox.start_time is None
    assert sandbox.containers[0].state is ContainerStateKind.WAITING
    assert sandbox.resources.requests == ResourceAmounts()


@pytest.mark.parametrize("missing", ["name", "creationTimestamp"])
def test_malformed_pods_are_refused(missing: str) -> None:
    pod = running_pod()
    del pod["metadata"]["annotations"]
    del pod["metadata"][missing]
    with pytest.raises(MalformedObjectError):
        sandbox_from_pod(pod)


def test_conversion_does_not_mutate_the_input() -> None:
    pod = running_pod()
    before = copy.deepcopy(pod)
    sandbox_from_pod(pod)
    assert pod == before
