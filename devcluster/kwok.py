"""Simulated Kata nodes: kwok (sigs.k8s.io/kwok v0.7.0) plays the kubelet of office1..office4.

kwok runs as its own process and manages only the Nodes annotated ``kwok.x-k8s.io/node: fake``
(``--manage-nodes-with-annotation-selector``), with its stages, logs and nothing else from
``--config`` (its ``~/.kwok/kwok.yaml`` is kept out by pointing ``KWOK_WORKDIR`` into our workdir).
The stage definitions are the YAML files in ``devcluster/kwok/``; this module writes them, with the
configured boot delay, into one config file together with a ``ClusterLogs`` entry.

Nodes (``node_manifests``)
    office1..office4, each with capacity = allocatable = **8 CPU, 16Gi memory, 110 pods**
    (ephemeral-storage 100Gi), labels ``katacontainers.io/kata-runtime=true`` (what RuntimeClass
    ``kata-qemu`` selects), ``kubernetes.io/hostname``, ``kubernetes.io/os=linux``,
    ``kubernetes.io/arch=amd64``, ``type=kwok``; InternalIP ``127.0.0.1`` and
    ``daemonEndpoints.kubeletEndpoint.Port`` = kwok's port, so the apiserver's
    ``pods/log`` proxy (``--kubelet-preferred-address-types=InternalIP``) reaches kwok. No taints:
    the ``node.kubernetes.io/not-ready`` taint that admission adds at creation is removed by the
    ``node-remove-not-ready-taint`` stage once kwok reports the node Ready.

Pod lifecycle of every pod kube-scheduler binds to one of these nodes (see ``kwok/pod-stages.yaml``)
    Pending with containers waiting ``ContainerCreating`` and ``hostIP`` 127.0.0.1 at once; after
    the boot delay (``boot_delay_ms`` + up to ``boot_jitter_ms``; 12-25 s on the real nodes) the pod
    gets its ``podIP`` (one pool for all nodes, from 10.42.0.2 up) and events ``Pulling``,
    ``Pulled``, ``Created``, ``Started`` follow within ~0.3 s, with the pod ``Running`` and
    ``Ready``. ``Scheduled`` comes from kube-scheduler. Event messages are fixed strings (kwok
    cannot template them); kwok's events have source ``kwok_controller`` and second-precision
    timestamps, so events of one second may list in any order. The container then runs until the
    pod is deleted.

Failure paths, chosen by the image reference (tag and digest ignored: ``kata-sim.test/exit-1``,
``kata-sim.test/exit-1:latest`` and ``kata-sim.test/exit-1@sha256:...`` are the same)
    ``IMAGE_PULL_FAILURE`` = ``kata-sim.test/pull-failure``: after the boot delay, ``Pulling``,
        then (0.5 s) containers waiting ``ErrImagePull`` with a Warning ``Failed`` event, then (1 s)
        waiting ``ImagePullBackOff`` (message ``Back-off pulling image "<image>"``) with a
        ``BackOff`` event. The pod stays ``Pending`` (no further retries are simulated).
    ``EXIT_ZERO`` = ``kata-sim.test/exit-0``, ``EXIT_NONZERO`` = ``kata-sim.test/exit-1`` (any
        ``kata-sim.test/exit-<N>`` works): the pod runs as above, becomes Running+Ready, and after
        the run duration (1 s) its containers are ``terminated`` with ``exitCode`` N, reason
        ``Completed`` (0) or ``Error``; the pod ends ``Succeeded`` or ``Failed`` with restartPolicy
        ``Never`` (or ``OnFailure`` and exit 0). With restartPolicy ``Always`` (the default) or
        ``OnFailure`` and N != 0 it stays ``Running``, not ready, waiting ``CrashLoopBackOff`` with
        ``restartCount`` 1, ``lastState.terminated`` and a Warning ``BackOff`` event.
    Any other image: runs until deleted. In a pod with several containers, one matching image
    decides for the pod; the other containers exit 0 with it.

Per-pod timing, as a label (settable through the GraphQL API) or annotation, each a Go duration
    ``BOOT_DELAY_LABEL`` (``kata-sim.test/boot-delay``, e.g. ``"20s"``): replaces delay and jitter;
    ``RUN_DURATION_LABEL`` (``kata-sim.test/run-duration``): how long an exit-N container runs;
    ``TERMINATE_DELAY_LABEL`` (``kata-sim.test/terminate-delay``, only ``<n>ms``, ``<n>s``,
    ``<n>m``): how long containers take to stop after SIGTERM (default 1 s).

Graceful deletion
    A deleted pod (``deletionTimestamp`` set, no finalizers) gets a ``Killing`` event and goes
    unready at once; after min(terminate delay, rest of the grace period) its containers are
    terminated (143/``Error`` if they were running, else 137/``ContainerStatusUnknown``) and the
    phase becomes ``Failed`` (the kubelet does this since 1.27), then kwok deletes it with grace 0.

Logs
    Every pod on these nodes serves the same log file (``ClusterLogs``, CRI format
    ``<RFC3339Nano> stdout F <text>``), ``logs/containers.log`` under the workdir: ``LOG_LINES``
    stamped with the time of writing, so ``tailLines``, ``timestamps`` and ``sinceSeconds`` behave.
    kwok serves ``/containerLogs`` with the kubelet's own CRI log reader; ``follow=true`` keeps the
    stream open until the client closes it (kwok reports every container as running) and sends
    lines appended to the file later (``append_log_lines``), so a follow test appends and reads.
    ``previous=true`` reads ``logs/previous.log``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml

ASSETS_DIR: Final = Path(__file__).resolve().parent / "kwok"

NODE_NAMES: Final = ("office1", "office2", "office3", "office4")
NODE_CPU: Final = "8"
NODE_MEMORY: Final = "16Gi"
NODE_PODS: Final = "110"
NODE_EPHEMERAL_STORAGE: Final = "100Gi"
NODE_IP: Final = "127.0.0.1"
POD_CIDR: Final = "10.42.0.2/16"
KATA_RUNTIME_LABEL: Final = "katacontainers.io/kata-runtime"
# kwok's own convention for the nodes it fakes; kwok is told to manage only these.
MANAGED_NODE_ANNOTATION: Final = "kwok.x-k8s.io/node"
MANAGED_NODE_VALUE: Final = "fake"

IMAGE_PULL_FAILURE: Final = "kata-sim.test/pull-failure"
EXIT_ZERO: Final = "kata-sim.test/exit-0"
EXIT_NONZERO: Final = "kata-sim.test/exit-1"
EXIT_NONZERO_CODE: Final = 1
BOOT_DELAY_LABEL: Final = "kata-sim.test/boot-delay"
RUN_DURATION_LABEL: Final = "kata-sim.test/run-duration"
TERMINATE_DELAY_LABEL: Final = "kata-sim.test/terminate-delay"

CONFIG_FILE: Final = "kwok.yaml"
LOGS_FILE: Final = "logs/containers.log"
PREVIOUS_LOGS_FILE: Final = "logs/previous.log"
LOG_LINES: Final = (
    "kata-agent: sandbox started",
    "guest kernel 6.1.62 booted in 0.8s",
    "mounting /run/kata-containers/shared/containers",
    "starting container process",
    "sandbox: listening on 0.0.0.0:8080",
    "sandbox: ready",
    "worker 1: idle",
    "worker 2: idle",
    "health check: ok",
    "sandbox: waiting for work",
)
PREVIOUS_LOG_LINES: Final = ("previous run: starting", "previous run: exited")

BOOT_STAGE: Final = "kata-pod-sandbox-ready"


def format_log_line(text: str, *, at: datetime | None = None, stream: str = "stdout") -> str:
    """One line in the CRI log format that kwok (and the kubelet) read."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {stream} F {text}\n"


def logs_file(workdir: Path) -> Path:
    return workdir / LOGS_FILE


def append_log_lines(workdir: Path, lines: Iterable[str]) -> None:
    """Append lines, stamped now, to the log that every simulated container serves."""
    with logs_file(workdir).open("a") as handle:
        handle.writelines(format_log_line(line) for line in lines)


def _load_stages(name: str) -> list[dict[str, Any]]:
    documents = yaml.safe_load_all((ASSETS_DIR / name).read_text())
    return [document for document in documents if document]


def pod_stages(*, boot_delay_ms: int = 1000, boot_jitter_ms: int = 0) -> list[dict[str, Any]]:
    """The pod Stages, with the boot delay set on the sandbox-ready stage."""
    if boot_delay_ms < 0 or boot_jitter_ms < 0:
        raise ValueError("boot delay and jitter must not be negative")
    stages = _load_stages("pod-stages.yaml")
    for stage in stages:
        if stage["metadata"]["name"] == BOOT_STAGE:
            delay = stage["spec"]["delay"]
            delay["durationMilliseconds"] = boot_delay_ms
            # kwok picks uniformly from [duration, jitter); a per-pod label sets both.
            if boot_jitter_ms:
                delay["jitterDurationMilliseconds"] = boot_delay_ms + boot_jitter_ms
            break
    else:  # pragma: no cover - the asset file is ours
        raise RuntimeError(f"stage {BOOT_STAGE} missing from pod-stages.yaml")
    return stages


def node_stages() -> list[dict[str, Any]]:
    return _load_stages("node-stages.yaml")


def cluster_logs(workdir: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "kata-sandboxes"},
        "spec": {
            "logs": [
                {
                    "logsFile": str(logs_file(workdir)),
                    "previousLogsFile": str(workdir / PREVIOUS_LOGS_FILE),
                    "follow": True,
                }
            ]
        },
    }


def _write_logs(workdir: Path) -> None:
    (workdir / LOGS_FILE).parent.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC) - timedelta(seconds=len(LOG_LINES))
    logs_file(workdir).write_text(
        "".join(
            format_log_line(line, at=start + timedelta(seconds=index))
            for index, line in enumerate(LOG_LINES)
        )
    )
    (workdir / PREVIOUS_LOGS_FILE).write_text(
        "".join(format_log_line(line, at=start) for line in PREVIOUS_LOG_LINES)
    )


def write_kwok_config(workdir: Path, *, boot_delay_ms: int = 1000, boot_jitter_ms: int = 0) -> Path:
    """Write kwok's config (node and pod Stages, ClusterLogs) and the log files into ``workdir``.

    Returns the file to pass as ``--config``. The log files are rewritten, so lines appended by a
    previous run are gone.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    _write_logs(workdir)
    documents = [
        *node_stages(),
        *pod_stages(boot_delay_ms=boot_delay_ms, boot_jitter_ms=boot_jitter_ms),
        cluster_logs(workdir),
    ]
    config = workdir / CONFIG_FILE
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return config


def kwok_command(
    *,
    kwok_bin: Path,
    kubeconfig: Path,
    config: Path,
    workdir: Path,
    node_port: int,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> list[str]:
    """The argv that runs kwok for our nodes only, serving the kubelet API on 127.0.0.1:node_port.

    The apiserver always talks HTTPS to a kubelet, so pods/log works only with ``cert_file`` and
    ``key_file`` (any certificate: the apiserver does not verify it without
    ``--kubelet-certificate-authority``). ``/healthz`` on that port answers once kwok serves.
    """
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together")
    env = shutil.which("env") or "/usr/bin/env"
    argv = [
        env,
        # kwok also loads $KWOK_WORKDIR/kwok.yaml (default ~/.kwok/kwok.yaml) if it exists.
        f"KWOK_WORKDIR={workdir / 'home'}",
        str(kwok_bin),
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={MANAGED_NODE_ANNOTATION}={MANAGED_NODE_VALUE}",
        f"--node-ip={NODE_IP}",
        f"--node-port={node_port}",
        f"--server-address={NODE_IP}:{node_port}",
        # Pod IPs from one pool for all four nodes, starting at 10.42.0.2 (kwok counts up from the
        # address given; a Node's spec.podCIDR would make it start at the network address).
        f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40",
    ]
    if cert_file is not None and key_file is not None:
        argv += [f"--tls-cert-file={cert_file}", f"--tls-private-key-file={key_file}"]
    return argv


def node_manifests(*, node_port: int) -> list[dict[str, Any]]:
    """Node objects office1..office4 (status included: the apiserver keeps it on create)."""
    resources = {
        "cpu": NODE_CPU,
        "memory": NODE_MEMORY,
        "pods": NODE_PODS,
        "ephemeral-storage": NODE_EPHEMERAL_STORAGE,
    }
    nodes: list[dict[str, Any]] = []
    for name in NODE_NAMES:
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux",
                        "beta.kubernetes.io/arch": "amd64",
                        KATA_RUNTIME_LABEL: "true",
                        "type": "kwok",
                    },
                    "annotations": {
                        MANAGED_NODE_ANNOTATION: MANAGED_NODE_VALUE,
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                },
                "spec": {},
                "status": {
                    "capacity": dict(resources),
                    "allocatable": dict(resources),
                    "addresses": [
                        {"type": "InternalIP", "address": NODE_IP},
                        {"type": "Hostname", "address": name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": node_port}},
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "osImage": "Ubuntu 24.04 LTS (simulated by kwok)",
                        "kernelVersion": "6.8.0-kwok",
                        "kubeletVersion": "v1.33.5+k3s1",
                        "kubeProxyVersion": "v1.33.5+k3s1",
                        "containerRuntimeVersion": "containerd://2.0.5-k3s1",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                },
            }
        )
    return nodes
