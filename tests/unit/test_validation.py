from dataclasses import replace

import pytest

from app.config import KubernetesSettings
from app.models import (
    BadUserInput,
    ConfigMapVolume,
    EnvVar,
    Label,
    ResourceAmounts,
    ResourceRequirements,
    SandboxSpec,
    ScratchVolume,
)
from app.sandboxes.validation import (
    MAX_COMMAND_ITEMS,
    is_image_reference,
    normalise_mount_path,
    validate_spec,
)

SETTINGS = KubernetesSettings()
BASE = SandboxSpec("busybox:1.36")
DIGEST = "sha256:" + "a" * 64


def field_of_error(spec: SandboxSpec) -> str | None:
    with pytest.raises(BadUserInput) as caught:
        validate_spec(spec, SETTINGS)
    assert caught.value.code == "BAD_USER_INPUT"
    assert caught.value.message
    return caught.value.field


def amounts(memory_mi: int | None = None, cpu_millicores: int | None = None) -> ResourceAmounts:
    return ResourceAmounts(memory_mi=memory_mi, cpu_millicores=cpu_millicores)


def test_a_full_valid_spec_passes() -> None:
    spec = SandboxSpec(
        "registry.example.com:5000/team/tool:v1.2@" + DIGEST,
        command=("/bin/sh", "-c"),
        args=("echo hi",),
        env=(EnvVar("A_B", "1"), EnvVar("dotted.name", ""), EnvVar("-dash", "x")),
        labels=(
            Label("team", "infra"),
            Label("example.com/tier", ""),
            Label("app.kubernetes.io/name", "x"),
        ),
        resources=ResourceRequirements(requests=amounts(256, 250), limits=amounts(4096, 2000)),
        scratch=ScratchVolume("/scratch", size_limit_mi=2048),
        config_maps=(
            ConfigMapVolume("my.config", "/etc/config"),
            ConfigMapVolume("other", "/data"),
        ),
        ready_timeout_seconds=600,
    )
    validate_spec(spec, SETTINGS)


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/library/busybox:1.36.1",
        "localhost/image",
        "localhost:5000/image:tag",
        "127.0.0.1:5000/a/b/c",
        "[::1]:5000/image",
        "ghcr.io/org/repo_name/sub-path.x:Tag_1.0-rc",
        "quay.io/a__b/c---d",
        "busybox@" + DIGEST,
        "busybox:1@" + DIGEST,
        "busybox@sha512:" + "0" * 128,
        "Registry.Example.com/image",
    ],
)
def test_valid_image_references(image: str) -> None:
    assert is_image_reference(image)


@pytest.mark.parametrize(
    "image",
    [
        "",
        " busybox",
        "busybox ",
        "BusyBox",
        "Library/busybox",
        "busybox:",
        "busybox:-tag",
        "busybox:" + "t" * 129,
        "busybox@sha256:abc",
        "busybox@sha256:" + "A" * 64,
        "busybox@md5:" + "a" * 32,
        "/busybox",
        "busybox/",
        "a//b",
        "a/-b",
        "a_/b",
        "a/b_",
        "a___b",
        "http://registry/image",
        "registry.example.com:port/image",
        "a" * 256,
        "bu$ybox",
    ],
)
def test_invalid_image_references(image: str) -> None:
    assert not is_image_reference(image)
    assert field_of_error(SandboxSpec(image)) == "input.image"


def test_command_and_args_limits() -> None:
    too_many = tuple("x" for _ in range(MAX_COMMAND_ITEMS + 1))
    assert field_of_error(replace(BASE, command=too_many)) == "input.command"
    assert field_of_error(replace(BASE, args=too_many)) == "input.args"
    big = ("x" * 20_000,)
    assert field_of_error(replace(BASE, command=big, args=big)) == "input.args"
    validate_spec(replace(BASE, command=tuple("x" for _ in range(MAX_COMMAND_ITEMS))), SETTINGS)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ((EnvVar("", "x"),), "input.env[0].name"),
        ((EnvVar("1ABC", "x"),), "input.env[0].name"),
        ((EnvVar("OK", "x"), EnvVar("A B", "x")), "input.env[1].name"),
        ((EnvVar("A=B", "x"),), "input.env[0].name"),
        ((EnvVar("É", "x"),), "input.env[0].name"),
        ((EnvVar("A", "1"), EnvVar("B", "2"), EnvVar("A", "3")), "input.env[2].name"),
        ((EnvVar("BIG", "x" * 70_000),), "input.env"),
        (tuple(EnvVar(f"V{i}", "") for i in range(129)), "input.env"),
    ],
)
def test_invalid_env(env: tuple[EnvVar, ...], field: str) -> None:
    assert field_of_error(replace(BASE, env=env)) == field


def test_duplicate_env_message_names_the_first() -> None:
    spec = replace(BASE, env=(EnvVar("A", "1"), EnvVar("A", "2")))
    with pytest.raises(BadUserInput, match=r"input\.env\[0\]"):
        validate_spec(spec, SETTINGS)


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ((Label("", "x"),), "input.labels[0].key"),
        ((Label("ok", "x"), Label("-bad", "x")), "input.labels[1].key"),
        ((Label("bad-", "x"),), "input.labels[0].key"),
        ((Label("a" * 64, "x"),), "input.labels[0].key"),
        ((Label("has space", "x"),), "input.labels[0].key"),
        ((Label("Example.com/name", "x"),), "input.labels[0].key"),
        ((Label("a/b/c", "x"),), "input.labels[0].key"),
        ((Label("/name", "x"),), "input.labels[0].key"),
        ((Label("example.com/", "x"),), "input.labels[0].key"),
        ((Label("x" * 254 + "/name", "v"),), "input.labels[0].key"),
        ((Label("a", "x"), Label("b", "y"), Label("app", "mine")), "input.labels[2].key"),
        ((Label("runtime", "runc"),), "input.labels[0].key"),
        ((Label("managed-by", "me"),), "input.labels[0].key"),
        ((Label("kata-sandbox-api/created-at", "x"),), "input.labels[0].key"),
        ((Label("x.kata-sandbox-api/anything", "x"),), "input.labels[0].key"),
        ((Label("kubernetes.io/hostname", "x"),), "input.labels[0].key"),
        ((Label("node.kubernetes.io/role", "x"),), "input.labels[0].key"),
        ((Label("k8s.io/x", "x"),), "input.labels[0].key"),
        ((Label("team", "a"), Label("team", "b")), "input.labels[1].key"),
        ((Label("team", "-bad"),), "input.labels[0].value"),
        ((Label("team", "2024-05-01T10:00:00Z"),), "input.labels[0].value"),
        ((Label("team", "v" * 64),), "input.labels[0].value"),
        ((Label("team", "a b"),), "input.labels[0].value"),
        (tuple(Label(f"k{i}", "") for i in range(33)), "input.labels"),
    ],
)
def test_invalid_labels(labels: tuple[Label, ...], field: str) -> None:
    assert field_of_error(replace(BASE, labels=labels)) == field


@pytest.mark.parametrize(
    ("requests", "limits", "field"),
    [
        (amounts(memory_mi=0), amounts(), "input.resources.requests.memoryMi"),
        (amounts(cpu_millicores=-5), amounts(), "input.resources.requests.cpuMillicores"),
        (amounts(), amounts(memory_mi=4097), "input.resources.limits.memoryMi"),
        (amounts(), amounts(cpu_millicores=2001), "input.resources.limits.cpuMillicores"),
        (amounts(memory_mi=5000), amounts(), "input.resources.requests.memoryMi"),
        (amounts(memory_mi=600), amounts(memory_mi=512), "input.resources.requests.memoryMi"),
        (
            amounts(cpu_millicores=300),
            amounts(cpu_millicores=200),
            "input.resources.requests.cpuMillicores",
        ),
    ],
)
def test_invalid_resources(requests: ResourceAmounts, limits: ResourceAmounts, field: str) -> None:
    spec = replace(BASE, resources=ResourceRequirements(requests=requests, limits=limits))
    assert field_of_error(spec) == field


def test_resources_at_the_maximum_pass() -> None:
    resources = ResourceRequirements(limits=amounts(4096, 2000), requests=amounts(4096, 2000))
    validate_spec(replace(BASE, resources=resources), SETTINGS)


@pytest.mark.parametrize(
    ("scratch", "config_maps", "field"),
    [
        (ScratchVolume("relative/path"), (), "input.scratch.mountPath"),
        (ScratchVolume(""), (), "input.scratch.mountPath"),
        (ScratchVolume("/"), (), "input.scratch.mountPath"),
        (ScratchVolume("//./"), (), "input.scratch.mountPath"),
        (ScratchVolume("/data/../etc"), (), "input.scratch.mountPath"),
        (ScratchVolume("/proc"), (), "input.scratch.mountPath"),
        (ScratchVolume("/sys/fs/x"), (), "input.scratch.mountPath"),
        (ScratchVolume("/dev/"), (), "input.scratch.mountPath"),
        (ScratchVolume("/etc/hosts"), (), "input.scratch.mountPath"),
        (ScratchVolume("/bad\npath"), (), "input.scratch.mountPath"),
        (ScratchVolume("/" + "a" * 1100), (), "input.scratch.mountPath"),
        (ScratchVolume("/s", size_limit_mi=0), (), "input.scratch.sizeLimitMi"),
        (ScratchVolume("/s", size_limit_mi=10241), (), "input.scratch.sizeLimitMi"),
        (None, (ConfigMapVolume("Bad_Name", "/c"),), "input.configMaps[0].name"),
        (None, (ConfigMapVolume("", "/c"),), "input.configMaps[0].name"),
        (
            None,
            (ConfigMapVolume("ok", "/a"), ConfigMapVolume("ok", "c")),
            "input.configMaps[1].mountPath",
        ),
        (
            ScratchVolume("/data"),
            (ConfigMapVolume("c", "/data/"),),
            "input.configMaps[0].mountPath",
        ),
        (
            None,
            (ConfigMapVolume("a", "/x"), ConfigMapVolume("b", "//x")),
            "input.configMaps[1].mountPath",
        ),
        (None, (ConfigMapVolume("a", "/proc/self"),), "input.configMaps[0].mountPath"),
        (None, tuple(ConfigMapVolume("c", f"/c{i}") for i in range(17)), "input.configMaps"),
    ],
)
def test_invalid_volumes(
    scratch: ScratchVolume | None, config_maps: tuple[ConfigMapVolume, ...], field: str
) -> None:
    assert field_of_error(replace(BASE, scratch=scratch, config_maps=config_maps)) == field


def test_nested_and_dotted_mount_paths_pass() -> None:
    spec = replace(
        BASE,
        scratch=ScratchVolume("/work"),
        config_maps=(ConfigMapVolume("c", "/work/config"), ConfigMapVolume("d", "/devices")),
    )
    validate_spec(spec, SETTINGS)


@pytest.mark.parametrize(
    ("path", "normalised"),
    [("/a", "/a"), ("/a/", "/a"), ("//a//b/./c/", "/a/b/c"), ("/", "/"), ("/./", "/")],
)
def test_normalise_mount_path(path: str, normalised: str) -> None:
    assert normalise_mount_path(path) == normalised


@pytest.mark.parametrize("timeout", [0, -1, 601])
def test_ready_timeout_bounds(timeout: int) -> None:
    spec = replace(BASE, ready_timeout_seconds=timeout)
    assert field_of_error(spec) == "input.readyTimeoutSeconds"


def test_ready_timeout_follows_the_settings() -> None:
    settings = KubernetesSettings(max_ready_timeout_seconds=900)
    validate_spec(replace(BASE, ready_timeout_seconds=900), settings)


def test_field_prefix_can_be_changed() -> None:
    with pytest.raises(BadUserInput) as caught:
        validate_spec(SandboxSpec("BAD"), SETTINGS, prefix="spec")
    assert caught.value.field == "spec.image"
    assert caught.value.extensions() == {"code": "BAD_USER_INPUT", "field": "spec.image"}


def test_first_problem_in_input_order_wins() -> None:
    spec = SandboxSpec("BAD", labels=(Label("app", "x"),))
    assert field_of_error(spec) == "input.image"
