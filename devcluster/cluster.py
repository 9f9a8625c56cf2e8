"""A real Kubernetes control plane on 127.0.0.1: etcd + kube-apiserver, kube-scheduler, kwok nodes.

What runs is Kubernetes' own code, so RBAC, admission (RuntimeClass overhead, Pod Security), watch
semantics, graceful deletion and the pod-log proxy behave as on the k3s target. What does not run is
kube-controller-manager, and four of its duties matter here:

- the ServiceAccount admission plugin refuses pods in a namespace without a ``default``
  ServiceAccount, which the controller-manager would create; ``ensure_default_service_accounts``
  stands in for it;
- namespaces never finish deleting (no namespace controller), so tests use fresh names;
- nothing garbage-collects, so whatever a test creates it deletes;
- the quota controller fills and recounts ResourceQuota status; ``devcluster.quota`` stands in.

kwok plays the kubelet of four Kata-capable nodes (office1..office4); see ``devcluster.kwok``.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster import kwok
from devcluster.build import Binaries
from devcluster.processes import ManagedProcess
from devcluster.quota import QuotaStandIn

MANIFESTS_DIR = Path(__file__).resolve().parent.parent / "manifests"
SANDBOX_NAMESPACE = "sandbox-containers"
SERVICE_ACCOUNT = "kata-manager"
SERVICE_NAMESPACE = "kata-sandbox-system"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Ports:
    apiserver: int
    etcd: int
    etcd_peer: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(apiserver=free_port(), etcd=free_port(), etcd_peer=free_port(), kwok=free_port())


class LocalCluster:
    """Starts, restarts and stops the components; state lives in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        *,
        binaries: Binaries,
        ports: Ports | None = None,
        boot_delay_ms: int = 1000,
        manifests_dir: Path = MANIFESTS_DIR,
    ) -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.ports = ports or Ports.pick()
        self.boot_delay_ms = boot_delay_ms
        self.manifests_dir = manifests_dir
        self.pki_dir = workdir / "pki"
        self.logs_dir = workdir / "logs"
        self.admin_kubeconfig = workdir / "admin.kubeconfig"
        self.admin_token = secrets.token_hex(24)
        self.apiserver = ManagedProcess(
            "apiserver", self._apiserver_argv(), log_path=self.logs_dir / "apiserver.log"
        )
        self.scheduler = ManagedProcess(
            "scheduler", self._scheduler_argv(), log_path=self.logs_dir / "scheduler.log"
        )
        self.kwok: ManagedProcess | None = None
        self.quota = QuotaStandIn(
            self.server_url, self.admin_token, self.ca_file, namespaces=(SANDBOX_NAMESPACE,)
        )

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def ca_file(self) -> Path:
        # kube-apiserver writes a self-signed CA and a serving cert signed by it into --cert-dir;
        # the file holds both, and a client trusting it verifies the chain.
        return self.pki_dir / "apiserver.crt"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_bootstrap_files()
        try:
            self.start_apiserver()
            self.write_kubeconfig(self.admin_kubeconfig, token=self.admin_token)
            self.scheduler.start()
            self._start_kwok()
            self.apply_manifests(self.manifests_dir)
            self.ensure_default_service_accounts()
            self.quota.start()
            self._wait_nodes_ready()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        # Reverse order: the node agent and scheduler first, so they do not log a storm of
        # connection errors while the apiserver goes away.
        self.quota.stop()
        if self.kwok is not None:
            self.kwok.stop()
        self.scheduler.stop()
        self.apiserver.stop(timeout=30)

    def start_apiserver(self, *, timeout: float = 120.0) -> None:
        """(Re)start etcd + kube-apiserver on the same ports and data, and wait for ``/readyz``."""
        self.apiserver.start()
        self._wait_ready(timeout=timeout)

    def stop_apiserver(self) -> None:
        self.apiserver.stop(timeout=30)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests and the dev loop --------------------------------------------------

    def kubectl(self, *args: str, kubeconfig: Path | None = None, stdin: str | None = None) -> str:
        result = subprocess.run(
            [
                str(self.binaries.kubectl),
                f"--kubeconfig={kubeconfig or self.admin_kubeconfig}",
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def apply_manifests(self, path: Path) -> None:
        self.kubectl("apply", "-k", str(path))

    def apply_objects(self, objects: list[dict[str, Any]]) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": objects}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(document))

    def ensure_default_service_accounts(self) -> None:
        namespaces = self.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}")
        existing = self.kubectl(
            "get",
            "serviceaccounts",
            "-A",
            "--field-selector=metadata.name=default",
            "-o",
            "jsonpath={.items[*].metadata.namespace}",
        ).split()
        missing = [ns for ns in namespaces.split() if ns not in existing]
        if not missing:  # a restart on kept state: kubectl refuses an empty List
            return
        self.apply_objects(
            [
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": ns},
                }
                for ns in missing
            ]
        )

    def create_token(
        self,
        *,
        service_account: str = SERVICE_ACCOUNT,
        namespace: str = SERVICE_NAMESPACE,
        duration: str = "24h",
    ) -> str:
        """Mint a bound ServiceAccount token through the TokenRequest API."""
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        )
        return token.strip()

    def write_kubeconfig(self, path: Path, *, token: str, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority": str(self.ca_file),
                    },
                }
            ],
            "users": [{"name": "user", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "local",
                    "context": {"cluster": "local", "user": "user", "namespace": namespace},
                }
            ],
            "current-context": "local",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def service_account_kubeconfig(self, path: Path) -> Path:
        return self.write_kubeconfig(path, token=self.create_token(), namespace=SANDBOX_NAMESPACE)

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision; every older resourceVersion then answers 410."""
        result = subprocess.run(
            [str(self.binaries.apiserver), "compact", f"--etcd-port={self.ports.etcd}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return int(result.stdout.strip())

    # -- internals ---------------------------------------------------------------------------

    def _write_bootstrap_files(self) -> None:
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        sa_key = self.pki_dir / "service-account.key"
        if not sa_key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
            )
        tokens = self.pki_dir / "tokens.csv"
        tokens.write_text(f'{self.admin_token},admin,admin,"system:masters"\n')
        tokens.chmod(0o600)

    def _apiserver_argv(self) -> list[str]:
        pki = self.pki_dir
        return [
            str(self.binaries.apiserver),
            "serve",
            f"--etcd-dir={self.workdir / 'etcd'}",
            f"--etcd-port={self.ports.etcd}",
            f"--etcd-peer-port={self.ports.etcd_peer}",
            "--",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--cert-dir={pki}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--allow-privileged=true",
            "--authorization-mode=RBAC",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'service-account.key'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            "--endpoint-reconciler-type=none",
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
            "--v=0",
        ]

    def _scheduler_argv(self) -> list[str]:
        return [
            str(self.binaries.scheduler),
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--authentication-kubeconfig={self.admin_kubeconfig}",
            f"--authorization-kubeconfig={self.admin_kubeconfig}",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=0",
        ]

    def _start_kwok(self) -> None:
        kwok_dir = self.workdir / "kwok"
        kwok_dir.mkdir(exist_ok=True)
        config = kwok.write_kwok_config(kwok_dir, boot_delay_ms=self.boot_delay_ms)
        argv = kwok.kwok_command(
            kwok_bin=self.binaries.kwok,
            kubeconfig=self.admin_kubeconfig,
            config=config,
            workdir=kwok_dir,
            node_port=self.ports.kwok,
            cert_file=self.pki_dir / "apiserver.crt",
            key_file=self.pki_dir / "apiserver.key",
        )
        self.kwok = ManagedProcess("kwok", argv, log_path=self.logs_dir / "kwok.log")
        self.kwok.start()
        self.apply_objects(kwok.node_manifests(node_port=self.ports.kwok))
        # On a restart with kept state the Nodes exist: apply leaves their status (the kubelet
        # port, where the apiserver fetches pod logs) at the previous run's port.
        endpoints = {"daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports.kwok}}}
        for name in kwok.NODE_NAMES:
            self.kubectl(
                "patch", "node", name, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": endpoints}),
            )  # fmt: skip

    def _wait_nodes_ready(self, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        expected = len(kwok.node_manifests(node_port=self.ports.kwok))
        while True:
            ready = '{.status.conditions[?(@.type=="Ready")].status}'
            statuses = self.kubectl(
                "get", "nodes", "-o", f'jsonpath={{range .items[*]}}{ready}{{"\\n"}}{{end}}'
            ).split()
            if statuses.count("True") >= expected:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"nodes not Ready after {timeout}s: {statuses}")
            time.sleep(0.2)

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if not self.apiserver.running():
                raise ClusterError(
                    f"apiserver exited with {self.apiserver.exit_code()}:\n{self.apiserver.tail()}"
                )
            if self.ca_file.exists():
                try:
                    if self._get("/readyz") == "ok":
                        return
                except (OSError, urllib.error.URLError) as error:
                    last_error = str(error)
            time.sleep(0.2)
        raise ClusterError(f"apiserver not ready after {timeout}s ({last_error})")

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            self.server_url + path, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            body: bytes = response.read()
        return body.decode()

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._get("/version"))
        return result
