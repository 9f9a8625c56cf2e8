"""A stand-in for the ResourceQuota controller of kube-controller-manager, which does not run here.

Quota is enforced by two parts of Kubernetes:

- the **ResourceQuota admission plugin** (in the apiserver, so it runs here) checks each new
  pod against ``status.hard`` - ``status.used`` and, on admitting it, *raises* ``status.used``.
  A quota whose status has no ``hard`` yet refuses every pod ("status unknown for quota");
- the **quota controller** (in kube-controller-manager, not running here) fills ``status.hard``
  from ``spec.hard`` for a new quota and recomputes ``status.used`` from the live objects, which is
  the only way usage ever goes *down* again after pods finish or are deleted.

:class:`QuotaStandIn` does the controller's part for pods, in the namespaces it is given (the
sandbox namespace: quotas elsewhere are left to the tests that create them, which may want a
status no controller would write): at cluster start (after the manifests are applied, so
``sandbox-quota`` works from the first test) and then every second on a daemon thread, it sets
each quota's ``status.hard`` to ``spec.hard`` and ``status.used`` to the usage of the pods that
count, with the controller's rules: pods in a terminal phase (Succeeded, Failed)
and pods whose deletion grace period is over are not charged; a pod is charged its containers'
requests/limits (at least those of its largest init container) *plus* ``spec.overhead``.
Resources it does not compute keep their reported usage. Tests call :meth:`QuotaStandIn.sync`
to have a quota they just created counted at once. Writes go through the ``status`` subresource
with the resourceVersion read, so an admission's concurrent increment is never overwritten
(409: tried again next round).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from app.kube.quantity import QuantityError, parse_quantity

log = logging.getLogger(__name__)

SYNC_INTERVAL_SECONDS = 1.0
_COMPUTED = {
    "pods": ("count", None),
    "count/pods": ("count", None),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "limits.memory": ("limits", "memory"),
    "limits.cpu": ("limits", "cpu"),
}


def _quantity(value: Any) -> Fraction:
    try:
        return parse_quantity(value) if isinstance(value, str) else Fraction(0)
    except QuantityError:
        return Fraction(0)


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def charged(pod: dict[str, Any], now: datetime) -> bool:
    """Whether the quota controller charges this pod (``QuotaV1Pod``)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    metadata = pod.get("metadata") or {}
    deleted, grace = (
        _timestamp(metadata.get("deletionTimestamp")),
        metadata.get("deletionGracePeriodSeconds"),
    )
    return not (
        deleted is not None and isinstance(grace, int) and now > deleted + timedelta(seconds=grace)
    )


def pod_amount(pod: dict[str, Any], kind: str, resource: str) -> Fraction:
    """A pod's requests or limits of ``resource``, with init containers and overhead."""
    spec = pod.get("spec") or {}

    def of(container: dict[str, Any]) -> Fraction:
        return _quantity(((container.get("resources") or {}).get(kind) or {}).get(resource))

    containers = sum((of(c) for c in spec.get("containers") or []), Fraction(0))
    inits = max((of(c) for c in spec.get("initContainers") or []), default=Fraction(0))
    return max(containers, inits) + _quantity((spec.get("overhead") or {}).get(resource))


def _format(resource: str, value: Fraction) -> str:
    if resource.endswith("cpu"):
        return f"{int(value * 1000)}m"
    return str(int(value))


def usage(hard: dict[str, str], pods: list[dict[str, Any]], now: datetime) -> dict[str, str]:
    """``status.used`` for the resources of ``hard`` that are computed from pods."""
    live = [pod for pod in pods if charged(pod, now)]
    used: dict[str, str] = {}
    for resource in hard:
        computed = _COMPUTED.get(resource)
        if computed is None:
            continue
        kind, name = computed
        if kind == "count":
            counted = pods if resource == "count/pods" else live
            used[resource] = str(len(counted))
        else:
            assert name is not None
            total = sum((pod_amount(pod, kind, name) for pod in live), Fraction(0))
            used[resource] = _format(resource, total)
    return used


class QuotaStandIn:
    def __init__(
        self, server_url: str, token: str, ca_file: Path, *, namespaces: tuple[str, ...]
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.ca_file = ca_file
        self.namespaces = namespaces
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            self.server_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())

    def sync(self) -> int:
        """Bring every quota's status up to date now; returns how many were written."""
        with self._lock:
            quotas = [
                quota
                for namespace in self.namespaces
                for quota in self._request(
                    "GET", f"/api/v1/namespaces/{namespace}/resourcequotas"
                ).get("items")
                or []
            ]
            written = 0
            now = datetime.now(UTC)
            pods_by_namespace: dict[str, list[dict[str, Any]]] = {}
            for quota in quotas:
                metadata = quota["metadata"]
                namespace, name = metadata["namespace"], metadata["name"]
                if namespace not in pods_by_namespace:
                    listing = self._request("GET", f"/api/v1/namespaces/{namespace}/pods")
                    pods_by_namespace[namespace] = listing.get("items") or []
                hard = dict((quota.get("spec") or {}).get("hard") or {})
                status = quota.get("status") or {}
                used = dict(status.get("used") or {})
                used.update(usage(hard, pods_by_namespace[namespace], now))
                used = {key: value for key, value in used.items() if key in hard}
                if status.get("hard") == hard and status.get("used") == used:
                    continue
                quota["status"] = {"hard": hard, "used": used}
                try:
                    self._request(
                        "PUT",
                        f"/api/v1/namespaces/{namespace}/resourcequotas/{name}/status",
                        quota,
                    )
                    written += 1
                except urllib.error.HTTPError as error:
                    if error.code != 409:  # 409: admission changed it meanwhile; next round
                        raise
            return written

    def start(self) -> None:
        """Sync once now, then keep syncing on a daemon thread until :meth:`stop`."""
        self.sync()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="quota-stand-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL_SECONDS):
            try:
                self.sync()
            except Exception:  # the apiserver restarting in a test, or a stray object
                log.debug("quota stand-in sync failed", exc_info=True)
