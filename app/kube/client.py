"""One Kubernetes API client per process.

In a pod the client is configured from the mounted ServiceAccount: the CA bundle, the token file
and ``KUBERNETES_SERVICE_HOST``/``PORT``. Those tokens are *bound* tokens that the kubelet rotates
(they expire after an hour or so and the file is rewritten), so the token is re-read from the file
every minute instead of once at startup. Elsewhere (development, tests) a kubeconfig is used.

The client keeps an aiohttp connection pool; every follow-mode log stream and the informer's watch
hold a connection of their own for as long as they run, hence the generous pool size.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import load_incluster_config, load_kube_config

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
CONNECTION_POOL_SIZE = 256


def running_in_cluster(*, token_file: Path = SERVICE_ACCOUNT_TOKEN) -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and token_file.is_file()


async def create_api_client(*, kubeconfig: str | None = None) -> ApiClient:
    """Build the process's client: in-cluster when in a pod, else from a kubeconfig.

    An explicit ``kubeconfig`` wins over the in-cluster configuration; without one the
    ``KUBECONFIG`` environment variable or ``~/.kube/config`` is used, as kubectl does.
    """
    configuration = Configuration()
    if kubeconfig is None and running_in_cluster():
        load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration, try_refresh_token=True
        )
    else:
        await load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    return ApiClient(configuration)
