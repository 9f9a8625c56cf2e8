"""Build the control plane's binaries from the Go module proxy, cached outside the checkout.

No registry here ships kube-apiserver, etcd or kwok binaries, so they are compiled from their Go
modules: our wrapper module in ``devcluster/go`` (etcd embedded in kube-apiserver, kube-scheduler,
kubectl) and kwok at a pinned release. The output directory is keyed on everything that decides the
result (the wrapper's go.mod/go.sum and sources, the Go version, the kwok version), so a second run
with the same pins is a cache hit that costs a few hashes. Go's own module and build caches live in
their usual places, so even a changed key rebuilds incrementally.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.33.5"
KWOK_VERSION = "v0.7.0"
GO_MODULE_DIR = Path(__file__).resolve().parent / "go"
WRAPPER_COMMANDS = ("apiserver", "scheduler", "kubectl")


@dataclass(frozen=True, slots=True)
class Binaries:
    apiserver: Path
    scheduler: Path
    kubectl: Path
    kwok: Path


def cache_root() -> Path:
    configured = os.environ.get("KATA_DEVCLUSTER_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kata-devcluster"


def _go_version() -> str:
    return subprocess.run(
        ["go", "env", "GOVERSION"], check=True, capture_output=True, text=True
    ).stdout.strip()


def wrapper_key() -> str:
    digest = hashlib.sha256()
    digest.update(_go_version().encode())
    for path in sorted(GO_MODULE_DIR.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(GO_MODULE_DIR)).encode())
            digest.update(path.read_bytes())
    return f"{KUBERNETES_VERSION}-{digest.hexdigest()[:12]}"


def _ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    version_pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s",
            "-w",
            f"-X {version_pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {version_pkg}.gitMajor={major}",
            f"-X {version_pkg}.gitMinor={minor}",
            f"-X {version_pkg}.gitTreeState=clean",
        ]
    )


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env["CGO_ENABLED"] = "0"
    return env


def _log(message: str) -> None:
    print(f"[devcluster] {message}", file=sys.stderr, flush=True)


def _publish(staging: Path, target: Path) -> None:
    # A rename is atomic, so an interrupted build never leaves a half-filled cache entry; losing a
    # race to a concurrent build of the same key is fine, its result is the same.
    try:
        staging.rename(target)
    except OSError:
        if not target.is_dir():
            raise


def _build_wrapper(target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        packages = [f"./cmd/{name}" for name in WRAPPER_COMMANDS]
        subprocess.run(
            ["go", "build", "-trimpath", "-ldflags", _ldflags(), "-o", f"{staging}/", *packages],
            cwd=GO_MODULE_DIR,
            env=_go_env(),
            check=True,
        )
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_kwok(target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        env = _go_env() | {"GOBIN": str(staging)}
        subprocess.run(
            ["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"], env=env, check=True
        )
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_binaries() -> Binaries:
    """Return the pinned binaries, building whichever are not cached yet."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    wrapper_dir = root / "bin" / wrapper_key()
    kwok_dir = root / f"kwok-{KWOK_VERSION}"
    for directory, builder, what in (
        (
            wrapper_dir,
            _build_wrapper,
            f"etcd + kube-apiserver/scheduler/kubectl {KUBERNETES_VERSION}",
        ),
        (kwok_dir, _build_kwok, f"kwok {KWOK_VERSION}"),
    ):
        if directory.is_dir():
            continue
        directory.parent.mkdir(parents=True, exist_ok=True)
        _log(f"building {what} into {directory} (cold builds take many minutes)")
        started = time.monotonic()
        builder(directory)
        _log(f"built {what} in {time.monotonic() - started:.0f}s")
    return Binaries(
        apiserver=wrapper_dir / "apiserver",
        scheduler=wrapper_dir / "scheduler",
        kubectl=wrapper_dir / "kubectl",
        kwok=kwok_dir / "kwok",
    )
