"""The API as operators run it, for the observability tests.

Two ways: in this process (``tests.graphql.conftest.start_server``, so a test can reach the app's
registry), and as a real process: ``python -m uvicorn app.server:app`` against the local control
plane, with uvicorn's own signal handling and logging, for what only a real process shows (the
log lines uvicorn writes, and SIGTERM).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.sandboxes.service import SandboxService
from app.server import create_app
from devcluster.cluster import free_port
from tests.graphql.conftest import RunningServer, server_settings, start_server

Json = dict[str, Any]


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self, *, preamble: int = 2) -> list[Json]:
        """Every line the process wrote, parsed; a line that is no JSON fails the test.

        uvicorn writes its first ``preamble`` lines ("Started server process", "Waiting for
        application startup.") before the lifespan configures logging: those may be plain.
        """
        parsed: list[Json] = []
        for number, line in enumerate(self.output().splitlines()):
            if not line.strip():
                continue
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                if parsed or number >= preamble:
                    pytest.fail(f"not a JSON log line: {line!r}\n{self.output()}")
        return parsed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _environment(kubeconfig: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "KUBECONFIG", "APPSETTINGS", "API_TOKENS"))
        and "__" not in name  # no Section__Key overrides from the test's own environment
    }
    return env | {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"} | settings


Spawn = Callable[..., ServerProcess]


@pytest.fixture
def spawn(kata_manager_kubeconfig: Path, tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -m uvicorn app.server:app`` with ``Section__Key`` settings; wait for ready."""
    started: list[ServerProcess] = []

    def start(*uvicorn_args: str, **settings: str) -> ServerProcess:
        port = free_port()
        workdir = tmp_path / f"server-{port}"
        workdir.mkdir()
        log_path = workdir / "output.log"
        env = _environment(kata_manager_kubeconfig, {"Server__AuthDisabled": "true", **settings})
        with log_path.open("wb") as output:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.server:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    *uvicorn_args,
                ],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = ServerProcess(process, port, log_path)
        started.append(server)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{server.output()}")
            try:
                if server.status("/readyz") == 200:
                    return server
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready after 60 s:\n{server.output()}")
            time.sleep(0.1)

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
async def obs_server(kata_manager_kubeconfig: Path) -> AsyncIterator[RunningServer]:
    """An app of its own in this process: its registry is this module's alone."""
    app = create_app(server_settings(), kubeconfig=str(kata_manager_kubeconfig))
    running = await start_server(app)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def obs_label(service: SandboxService) -> AsyncIterator[str]:
    """A label value unique to the test (key ``obstest``); its sandboxes are deleted after it."""
    value = f"o{secrets.token_hex(5)}"
    yield value
    await service.delete_matching(f"obstest={value}", force=True)
