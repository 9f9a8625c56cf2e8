from __future__ import annotations

from app.models import DiagnosisReason, NodeCapacity, ResourceAmounts
from app.sandboxes.diagnosis import diagnose
from tests.unit import podstates as p

CONTAINERD_NO_HANDLER = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox "
    'runtime: no runtime for "kata-qemu" is configured'
)
CRIO_NO_HANDLER = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to find runtime "
    "handler kata-qemu from runtime list map[crun:0xc000 runc:0xc000]"
)


def node(name: str, memory_mi: int = 16384, cpu: int = 8000) -> NodeCapacity:
    return NodeCapacity(
        name=name,
        allocatable=ResourceAmounts(memory_mi=memory_mi, cpu_millicores=cpu),
        allocatable_pods=110,
        sandbox_count=0,
        sandbox_requests=ResourceAmounts(memory_mi=0, cpu_millicores=0),
        sandboxes_that_fit=0,
    )


def test_healthy_booting_and_finished_sandboxes_have_no_diagnosis() -> None:
    for pod in (p.accepted(), p.booting(), p.vm_up(), p.running(), p.exited(0)):
        assert diagnose(p.sandbox(pod), p.HAPPY_EVENTS) is None


def test_a_sandbox_being_deleted_has_none() -> None:
    # The node stops its containers on the way out (kwok: 143/Error): no failure of theirs.
    assert diagnose(p.sandbox(p.terminating(p.exited(143)))) is None


def test_unschedulable_names_the_shortfall_with_the_kata_overhead() -> None:
    failed = p.event(
        "FailedScheduling",
        "0/4 nodes are available: 4 Insufficient memory. preemption: 0/4 nodes are available: "
        "4 No preemption victims found for incoming pod.",
        second=45,
        micros=328307,
        kind="Warning",
    )
    sandbox = p.sandbox(p.unschedulable(memory="20Gi"))
    found = diagnose(sandbox, (failed,))
    assert found is not None
    assert found.reason is DiagnosisReason.UNSCHEDULABLE
    assert "needs 20640Mi memory incl. 160Mi Kata overhead" in found.message
    assert "4 of 4 nodes short" in found.message
    assert "Insufficient memory" in found.message
    assert "preemption" not in found.message

    with_nodes = diagnose(sandbox, (failed,), nodes=[node("office1"), node("office2", 8192)])
    assert with_nodes is not None
    assert "the largest node has 16384Mi allocatable" in with_nodes.message
    assert "ask for at most 16224Mi" in with_nodes.hint


def test_unschedulable_from_the_event_alone_and_for_cpu() -> None:
    pod = p.accepted(cpu="9")
    event = p.event(
        "FailedScheduling",
        "0/4 nodes are available: 4 Insufficient cpu. preemption: not eligible",
        second=45,
        micros=1,
        kind="Warning",
    )
    found = diagnose(p.sandbox(pod), (event,))
    assert found is not None
    assert "needs 9250m CPU incl. 250m Kata overhead" in found.message


def test_no_kata_node_is_explained_by_the_runtime_class_selector() -> None:
    pod = p.unschedulable()
    pod["status"]["conditions"][0]["message"] = (
        "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    )
    found = diagnose(p.sandbox(pod))
    assert found is not None
    assert found.reason is DiagnosisReason.UNSCHEDULABLE
    assert "katacontainers.io/kata-runtime=true" in found.hint


def test_image_pull_failure_from_the_container_or_the_event() -> None:
    message = (
        'rpc error: code = NotFound desc = failed to pull and unpack image "kata-sim.test/'
        'pull-failure": failed to resolve reference: not found'
    )
    found = diagnose(p.sandbox(p.waiting("ErrImagePull", message)))
    assert found is not None
    assert found.reason is DiagnosisReason.IMAGE_PULL_FAILURE
    assert "(ErrImagePull)" in found.message
    assert "not found" in found.message
    backoff = diagnose(p.sandbox(p.waiting("ImagePullBackOff", 'Back-off pulling image "x"')))
    assert backoff is not None
    assert backoff.reason is DiagnosisReason.IMAGE_PULL_FAILURE
    failed = p.event("Failed", "Failed to pull image: unauthorized", second=47, kind="Warning")
    from_event = diagnose(p.sandbox(p.waiting("ContainerCreating")), (failed,))
    assert from_event is not None
    assert from_event.reason is DiagnosisReason.IMAGE_PULL_FAILURE


def test_missing_runtime_handler_from_containerd_or_cri_o() -> None:
    for message in (CONTAINERD_NO_HANDLER, CRIO_NO_HANDLER):
        event = p.event("FailedCreatePodSandBox", message, second=46, kind="Warning", count=5)
        found = diagnose(p.sandbox(p.booting()), (p.SCHEDULED, event))
        assert found is not None
        assert found.reason is DiagnosisReason.MISSING_RUNTIME_HANDLER
        assert found.message.startswith("Node office2 cannot start Kata VMs")
        assert "kata-qemu" in found.message


def test_container_create_errors() -> None:
    config = p.waiting("CreateContainerConfigError", 'configmap "settings" not found')
    found = diagnose(p.sandbox(config))
    assert found is not None
    assert found.reason is DiagnosisReason.CONTAINER_CREATE_ERROR
    assert "ConfigMap" in found.hint
    mount = p.event(
        "FailedMount",
        'MountVolume.SetUp failed for volume "config-0" : configmap "settings" not found',
        second=46,
        kind="Warning",
    )
    from_event = diagnose(p.sandbox(p.booting()), (mount,))
    assert from_event is not None
    assert from_event.reason is DiagnosisReason.CONTAINER_CREATE_ERROR
    handler = p.waiting("CreateContainerError", 'RuntimeHandler "kata-qemu" not supported')
    assert diagnose(p.sandbox(handler)).reason is DiagnosisReason.MISSING_RUNTIME_HANDLER  # type: ignore[union-attr]


def test_crash_loop_tells_the_last_exit() -> None:
    found = diagnose(p.sandbox(p.crash_loop()), p.HAPPY_EVENTS)
    assert found is not None
    assert found.reason is DiagnosisReason.CRASH_LOOP
    assert "last exit code 1 (Error)" in found.message
    assert "restarted 1 times" in found.message


def test_oom_kill_wins_over_the_crash_loop_it_causes() -> None:
    found = diagnose(p.sandbox(p.crash_loop(last_reason="OOMKilled", last_code=137)))
    assert found is not None
    assert found.reason is DiagnosisReason.OOM_KILLED
    assert "memory limit of 512Mi" in found.message
    direct = diagnose(p.sandbox(p.exited(137, reason="OOMKilled")))
    assert direct is not None
    assert direct.reason is DiagnosisReason.OOM_KILLED


def test_exit_code_with_the_termination_message() -> None:
    found = diagnose(p.sandbox(p.exited(3, message="panic: no config\n  at main.go:12")))
    assert found is not None
    assert found.reason is DiagnosisReason.EXIT_CODE
    assert found.message == (
        "The container exited with code 3 (Error): panic: no config at main.go:12"
    )


def test_eviction() -> None:
    pod = p.exited(137, reason="ContainerStatusUnknown")
    pod["status"].update(
        phase="Failed",
        reason="Evicted",
        message="Pod ephemeral local storage usage exceeds the total limit of containers 1Gi.",
    )
    found = diagnose(p.sandbox(pod))
    assert found is not None
    assert found.reason is DiagnosisReason.EVICTED
    assert "ephemeral local storage" in found.message
