"""Raw pods and events as the apiserver sends them, at each step of a Kata pod's life.

Shapes and messages are copied from the local control plane (kube-scheduler and kwok playing the
kubelet) and, for what it cannot produce, from a real kubelet and containerd. They go through the
real converters (``sandbox_from_pod``, ``event_from_k8s``) so the derivations see what they will
see in production.
"""

from __future__ import annotations

import copy
from typing import Any

from app.kube.convert import event_from_k8s, sandbox_from_pod
from app.models import Sandbox, SandboxEvent

UID = "0b40d63b-54e0-4f09-962a-2171a3d5a70e"
NAME = "kata-sandbox-1a2b3c4d"
T0 = "2026-12-04T15:54:45"  # + "Z" or + ".ffffffZ"

Pod = dict[str, Any]


def at(second: int, micros: int | None = None) -> str:
    stamp = f"2026-12-04T15:54:{second:02d}"
    return f"{stamp}.{micros:06d}Z" if micros is not None else f"{stamp}Z"


def condition(kind: str, status: str, second: int, **extra: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "lastTransitionTime": at(second), **extra}


def accepted(*, memory: str = "256Mi", cpu: str = "250m", restart: str = "Never") -> Pod:
    """Just created: no node, no status."""
    return {
        "metadata": {
            "name": NAME,
            "namespace": "sandbox-containers",
            "uid": UID,
            "resourceVersion": "239",
            "creationTimestamp": at(45),
            "labels": {"app": "kata-sandbox", "managed-by": "kata-sandbox-api"},
            "annotations": {"kata-sandbox-api/created-at": at(45, 200000)},
        },
        "spec": {
            "runtimeClassName": "kata-qemu",
            "restartPolicy": restart,
            "overhead": {"memory": "160Mi", "cpu": "250m"},
            "containers": [
                {
                    "name": "sandbox",
                    "image": "docker.io/library/busybox:1.36",
                    "resources": {
                        "requests": {"memory": memory, "cpu": cpu},
                        "limits": {"memory": "512Mi", "cpu": "500m"},
                    },
                }
            ],
        },
        "status": {"phase": "Pending"},
    }


def unschedulable(memory: str = "20Gi") -> Pod:
    pod = accepted(memory=memory)
    pod["status"]["conditions"] = [
        condition(
            "PodScheduled",
            "False",
            45,
            reason="Unschedulable",
            message="0/4 nodes are available: 4 Insufficient memory. preemption: 0/4 nodes are "
            "available: 4 No preemption victims found for incoming pod.",
        )
    ]
    return pod


def scheduled() -> Pod:
    pod = accepted()
    pod["spec"]["nodeName"] = "office2"
    pod["status"]["conditions"] = [condition("PodScheduled", "True", 45)]
    return pod


def _waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    waiting = {"reason": reason} | ({"message": message} if message else {})
    return {
        "name": "sandbox",
        "image": "docker.io/library/busybox:1.36",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {"waiting": waiting},
    }


def booting() -> Pod:
    """The node took it up and boots the VM (PodReadyToStartContainers False)."""
    pod = scheduled()
    pod["status"].update(
        {
            "conditions": [
                condition("PodReadyToStartContainers", "False", 45),
                condition("Initialized", "True", 45),
                condition("Ready", "False", 45, reason="ContainersNotReady"),
                condition("ContainersReady", "False", 45, reason="ContainersNotReady"),
                condition("PodScheduled", "True", 45),
            ],
            "containerStatuses": [_waiting("ContainerCreating")],
            "hostIP": "127.0.0.1",
            "startTime": at(45),
        }
    )
    return pod


def _set_condition(pod: Pod, kind: str, status: str, second: int, **extra: str) -> None:
    conditions = [c for c in pod["status"]["conditions"] if c["type"] != kind]
    pod["status"]["conditions"] = [*conditions, condition(kind, status, second, **extra)]


def vm_up() -> Pod:
    """The VM is up and the pod has its IP; the image is pulled next."""
    pod = booting()
    _set_condition(pod, "PodReadyToStartContainers", "True", 46)
    pod["status"]["podIP"] = "10.42.0.7"
    return pod


def waiting(reason: str, message: str | None = None) -> Pod:
    pod = vm_up()
    pod["status"]["containerStatuses"] = [_waiting(reason, message)]
    return pod


def running(*, ready: bool = True) -> Pod:
    pod = vm_up()
    status = _waiting("x")
    status.update(
        ready=ready, started=True, state={"running": {"startedAt": at(47)}}, imageID="sha256:1"
    )
    pod["status"]["containerStatuses"] = [status]
    pod["status"]["phase"] = "Running"
    if ready:
        _set_condition(pod, "Ready", "True", 47)
        _set_condition(pod, "ContainersReady", "True", 47)
    return pod


def exited(code: int, *, reason: str | None = None, message: str | None = None) -> Pod:
    pod = running()
    terminated: dict[str, Any] = {
        "exitCode": code,
        "reason": reason or ("Completed" if code == 0 else "Error"),
        "startedAt": at(47),
        "finishedAt": at(48),
    }
    if message:
        terminated["message"] = message
    pod["status"]["containerStatuses"][0].update(
        ready=False, started=False, state={"terminated": terminated}
    )
    pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
    _set_condition(pod, "Ready", "False", 48, reason="PodCompleted" if code == 0 else "PodFailed")
    return pod


def crash_loop(*, last_reason: str = "Error", last_code: int = 1) -> Pod:
    pod = running(ready=False)
    pod["spec"]["restartPolicy"] = "Always"
    pod["status"]["containerStatuses"] = [
        {
            **_waiting(
                "CrashLoopBackOff",
                f"back-off 10s restarting failed container=sandbox pod={NAME}_sandbox-containers"
                f"({UID})",
            ),
            "restartCount": 1,
            "lastState": {
                "terminated": {
                    "exitCode": last_code,
                    "reason": last_reason,
                    "startedAt": at(47),
                    "finishedAt": at(48),
                }
            },
        }
    ]
    _set_condition(pod, "Ready", "False", 48, reason="ContainersNotReady")
    return pod


def terminating(pod: Pod, *, reason: str | None = None) -> Pod:
    pod = copy.deepcopy(pod)
    pod["metadata"]["deletionTimestamp"] = at(59)
    pod["metadata"]["deletionGracePeriodSeconds"] = 10
    if reason is not None:
        pod["metadata"]["annotations"]["kata-sandbox-api/deletion-reason"] = reason
    return pod


def sandbox(pod: Pod) -> Sandbox:
    return sandbox_from_pod(pod)


def event(
    reason: str,
    message: str,
    *,
    second: int,
    kind: str = "Normal",
    micros: int | None = None,
    uid: str = UID,
    count: int = 1,
) -> SandboxEvent:
    """A core/v1 Event; the scheduler's have a microsecond eventTime, the kubelet's whole
    seconds."""
    raw: dict[str, Any] = {
        "metadata": {"name": f"{NAME}.{reason.lower()}", "namespace": "sandbox-containers"},
        "involvedObject": {"kind": "Pod", "name": NAME, "uid": uid},
        "type": kind,
        "reason": reason,
        "message": message,
    }
    if micros is not None:
        raw["eventTime"] = at(second, micros)
        raw["reportingComponent"] = "default-scheduler"
    else:
        raw.update(
            count=count,
            firstTimestamp=at(second),
            lastTimestamp=at(second),
            source={"component": "kubelet"},
        )
    return event_from_k8s(raw)


SCHEDULED = event(
    "Scheduled",
    f"Successfully assigned sandbox-containers/{NAME} to office2",
    second=45,
    micros=241228,
)
PULLING = event("Pulling", 'Pulling image "docker.io/library/busybox:1.36"', second=46)
PULLED = event("Pulled", 'Successfully pulled image "docker.io/library/busybox:1.36"', second=47)
CREATED = event("Created", "Created container: sandbox", second=47)
STARTED = event("Started", "Started container sandbox", second=47)
HAPPY_EVENTS = (SCHEDULED, PULLING, PULLED, CREATED, STARTED)
