"""One Kubernetes API client per process.

In a pod the client is configured from the mounted ServiceAccount: the CA bundle, the token file
and ``KUBERNETES_SERVICE_HOST``/``PORT``. Those tokens are *bound* tokens that the kubelet rotates
(they expire, typically after an hour, and the kubelet rewrites the file well before), so the
token is never read once and kept: before each request the file's modification time is checked
and a changed file is read again. Elsewhere (development, tests) a kubeconfig is used.

The client keeps an aiohttp connection pool; every follow-mode log stream and the informer's watch
hold a connection of their own for as long as they run, hence the generous pool size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_kube_config

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CONNECTION_POOL_SIZE = 256


class ServiceAccountToken:
    """The token in ``path``, re-read whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._token = ""

    def current(self) -> str:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp:
            self._token = self.path.read_text().strip()
            self._stamp = stamp
        return self._token


def running_in_cluster(
    *, environ: Mapping[str, str] = os.environ, account_dir: Path = SERVICE_ACCOUNT_DIR
) -> bool:
    return "KUBERNETES_SERVICE_HOST" in environ and (account_dir / "token").is_file()


def in_cluster_configuration(
    *, environ: Mapping[str, str] = os.environ, account_dir: Path = SERVICE_ACCOUNT_DIR
) -> Configuration:
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    token = ServiceAccountToken(account_dir / "token")
    configuration = Configuration(host=f"https://{host}:{port}")
    configuration.ssl_ca_cert = str(account_dir / "ca.crt")
    configuration.api_key_prefix["BearerToken"] = "Bearer"
    configuration.api_key["BearerToken"] = token.current()

    def refresh(config: Configuration) -> None:
        config.api_key["BearerToken"] = token.current()

    # kubernetes_asyncio calls this before building every request's auth header.
    configuration.refresh_api_key_hook = refresh
    return configuration


async def create_api_client(
    *,
    kubeconfig: str | None = None,
    environ: Mapping[str, str] = os.environ,
    account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ApiClient:
    """Build the process's client: in-cluster when in a pod, else from a kubeconfig.

    An explicit ``kubeconfig`` wins over the in-cluster configuration; without one the
    ``KUBECONFIG`` environment variable or ``~/.kube/config`` is used, as kubectl does.
    """
    if kubeconfig is None and running_in_cluster(environ=environ, account_dir=account_dir):
        configuration = in_cluster_configuration(environ=environ, account_dir=account_dir)
    else:
        configuration = Configuration()
        await load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return ApiClient(configuration)
