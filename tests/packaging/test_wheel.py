"""The wheel the image installs: what it holds, and that it imports and serves once installed.

The wheel is built as the Dockerfile's builder stage builds it (``pip wheel``, hatchling) and
installed with ``--no-deps`` into a fresh virtualenv. Its dependencies come from this test run's
own environment through a ``.pth`` line: a directory named there is put on ``sys.path`` without
running the ``.pth`` files inside it, so the editable install of the source tree stays out and
``app`` can only come from the wheel. The server then runs from that virtualenv, as the image's
ENTRYPOINT would run it, against the local control plane, and the image's HEALTHCHECK command is
run against it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devcluster.cluster import free_port
from tests.packaging.dockerfile import REPO_ROOT, stages

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
SETTINGS_FILE = REPO_ROOT / "manifests" / "base" / "appsettings.json"


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    python: Path
    site_packages: Path
    workdir: Path


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "VIRTUAL_ENV", "KUBECONFIG", "APPSETTINGS", "PIP_"))
        and "__" not in name  # no Section__Key setting overrides from the test environment
    }
    return env | extra


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(REPO_ROOT),
        ],
        cwd=out,
    )
    (built,) = out.glob("kata_sandbox_api-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=root,
    )
    site_packages = Path(
        _run(
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=root,
        ).strip()
    )
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages / "zz_test_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    workdir = root / "work"
    workdir.mkdir()
    return InstalledWheel(wheel=wheel, python=python, site_packages=site_packages, workdir=workdir)


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_holds_the_app_package_and_nothing_else(wheel: Path) -> None:
    names = _names(wheel)
    top_level = {name.split("/")[0] for name in names}
    version = PROJECT["version"]
    assert top_level == {"app", f"kata_sandbox_api-{version}.dist-info"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    for absent in ("tests/", "devcluster/", "manifests/"):
        assert not [name for name in names if name.startswith(absent)]


def test_wheel_holds_every_module_of_the_source_tree(wheel: Path) -> None:
    names = set(_names(wheel))
    sources = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / "app").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources - names == set()
    assert "app/server.py" in names


def _normalized(requirements: Iterable[Requirement]) -> set[tuple[str, frozenset[str], str]]:
    return {
        (canonicalize_name(r.name), frozenset(r.extras), str(r.specifier)) for r in requirements
    }


def test_wheel_metadata_requires_the_projects_dependencies(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    runtime = [r for r in requires if r.marker is None]
    assert _normalized(runtime) == _normalized(Requirement(d) for d in PROJECT["dependencies"])
    assert metadata["Requires-Python"] == PROJECT["requires-python"]


def test_installed_wheel_imports_the_server_from_the_wheel(installed: InstalledWheel) -> None:
    out = _run(
        [
            str(installed.python),
            "-I",
            "-c",
            "import json, app, app.server; "
            "print(json.dumps({'app': app.__file__, 'server': app.server.__file__, "
            "'asgi': type(app.server.app).__name__}))",
        ],
        cwd=installed.workdir,
        env=_clean_env(),
    )
    found = json.loads(out)
    for key in ("app", "server"):
        assert Path(found[key]).is_relative_to(installed.site_packages), found
        assert not Path(found[key]).is_relative_to(REPO_ROOT), found
    assert found["asgi"] == "Starlette"


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def server(installed: InstalledWheel, kata_manager_kubeconfig: Path) -> Iterator[Server]:
    """``uvicorn app.server:app`` (the image's ENTRYPOINT) from the wheel's virtualenv."""
    port = free_port()
    env = _clean_env(KUBECONFIG=str(kata_manager_kubeconfig), APPSETTINGS_PATH=str(SETTINGS_FILE))
    log = installed.workdir / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                str(installed.python),
                "-I",
                "-m",
                "uvicorn",
                "app.server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=installed.workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    running = Server(process, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if running.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthcheck(installed: InstalledWheel, url: str) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, with the wheel's virtualenv python as ``python``."""
    check = stages()[-1].last("HEALTHCHECK")
    assert check is not None
    command = check.exec_form()
    assert command[0] == "python"
    return subprocess.run(
        [str(installed.python), *command[1:]],
        cwd=installed.workdir,
        env=_clean_env(HEALTHCHECK_URL=url),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.cluster
def test_installed_wheel_serves_and_passes_the_image_healthcheck(
    installed: InstalledWheel, server: Server
) -> None:
    assert server.get("/healthz") == (200, "ok")
    status, body = server.get("/readyz")
    assert status == 200, body

    request = urllib.request.Request(
        server.url("/graphql"),
        data=json.dumps({"query": "{ __typename }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read())
    # Either the answer, or (once API tokens are required) GraphQL's own refusal: both come from
    # the schema served by the installed wheel.
    if answer.get("data"):
        assert answer["data"]["__typename"] == "Query", answer
    else:
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer

    healthy = _healthcheck(installed, server.url("/healthz"))
    assert healthy.returncode == 0, healthy.stderr
    missing = _healthcheck(installed, server.url("/no-such-path"))
    assert missing.returncode != 0
    closed = _healthcheck(installed, f"http://127.0.0.1:{free_port()}/healthz")
    assert closed.returncode != 0

    # uvicorn shuts down on SIGTERM, then re-raises the signal so the exit status reports it.
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
