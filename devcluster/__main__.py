"""``python -m devcluster build|up``: build the control plane, or run it until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from devcluster.build import cache_root, ensure_binaries
from devcluster.cluster import LocalCluster

# The setting that switches API authentication off (app.config), as an environment variable.
AUTH_SWITCH = "server__authdisabled"


def _build(_: argparse.Namespace) -> int:
    started = time.monotonic()
    binaries = ensure_binaries()
    print(f"binaries ready in {time.monotonic() - started:.1f}s:")
    for name in ("apiserver", "scheduler", "kubectl", "kwok"):
        print(f"  {name}: {getattr(binaries, name)}")
    return 0


def _up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir or cache_root() / "dev")
    binaries = ensure_binaries()
    # A previous run's etcd data is kept (the cluster's state survives a restart); certs and tokens
    # are minted again, so the kubeconfigs below are rewritten each time.
    cluster = LocalCluster(workdir, binaries=binaries, boot_delay_ms=args.boot_delay_ms)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cluster.start()
    server: subprocess.Popen[bytes] | None = None
    try:
        manager = cluster.service_account_kubeconfig(workdir / "kata-manager.kubeconfig")
        version = cluster.version()["gitVersion"]
        print(f"control plane {version} up in {cluster.start_seconds:.1f}s at {cluster.server_url}")
        print(f"  admin:        KUBECONFIG={cluster.admin_kubeconfig}")
        print(f"  kata-manager: KUBECONFIG={manager}")
        print(f"  kubectl:      {binaries.kubectl}")
        print(f"  logs:         {cluster.logs_dir}")
        if args.serve:
            env = os.environ | {"KUBECONFIG": str(manager)}
            # Development: no API tokens unless the developer names a tokens file (or sets
            # Server__AuthDisabled themselves); the server logs a WARNING that auth is off.
            configured = {name.lower() for name in env}
            if not configured & {"api_tokens_path", "server__apitokenspath", AUTH_SWITCH}:
                env[AUTH_SWITCH] = "true"
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.server:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.port),
                ],
                env=env,
            )
            print(f"  GraphQL:      http://127.0.0.1:{args.port}/graphql")
            if env.get(AUTH_SWITCH) == "true":
                print("  auth:         off (development); set API_TOKENS_PATH to require tokens")
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            if server is not None and server.poll() is not None:
                print(f"API server exited with {server.returncode}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build (or find cached) binaries").set_defaults(func=_build)
    up = commands.add_parser("up", help="run the control plane until Ctrl-C")
    up.add_argument("--workdir", help="state directory (default: <cache>/dev)")
    up.add_argument("--boot-delay-ms", type=int, default=1000, help="simulated Kata boot time")
    up.add_argument("--serve", action="store_true", help="also serve the GraphQL API")
    up.add_argument("--port", type=int, default=8000)
    up.set_defaults(func=_up)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
