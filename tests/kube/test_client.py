"""The in-cluster client configuration against the real apiserver, with a rotating token file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.kube.client import create_api_client, running_in_cluster
from app.kube.pods import PodRepository
from app.kube.transport import KubeTransport, RetryPolicy
from app.models import Unavailable
from devcluster.cluster import SANDBOX_NAMESPACE, LocalCluster


def write_token(account_dir: Path, token: str) -> None:
    # The kubelet swaps the file atomically (a symlinked directory); a rename does the same here.
    staging = account_dir / "token.new"
    staging.write_text(token)
    os.replace(staging, account_dir / "token")


async def test_in_cluster_client_follows_a_rotated_token(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    account_dir = tmp_path / "serviceaccount"
    account_dir.mkdir()
    (account_dir / "ca.crt").write_bytes(cluster.ca_file.read_bytes())
    write_token(account_dir, cluster.create_token())
    environ = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(cluster.ports.apiserver),
    }
    assert running_in_cluster(environ=environ, account_dir=account_dir)
    client = await create_api_client(environ=environ, account_dir=account_dir)
    async with client:
        transport = KubeTransport(client, retry=RetryPolicy(attempts=1))
        pods = PodRepository(transport, SANDBOX_NAMESPACE)
        await pods.list_raw()

        write_token(account_dir, "not-a-valid-token")
        with pytest.raises(Unavailable, match="credentials were refused"):
            await pods.list_raw()

        write_token(account_dir, cluster.create_token())
        await pods.list_raw()


def test_without_a_token_file_it_is_not_in_cluster(tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.43.0.1"}
    assert not running_in_cluster(environ=environ, account_dir=tmp_path)
