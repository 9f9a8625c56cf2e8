"""The event store: a repeated event updates in place, deletion (event TTL) removes it, and a
reused pod name does not mix two pods' events."""

from __future__ import annotations

from typing import Any

from app.kube.event_informer import EventInformer
from app.kube.transport import KubeTransport
from tests.unit import podstates as p


def raw(
    name: str, reason: str, *, uid: str = p.UID, count: int = 1, second: int = 46
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": str(100 + count + second)},
        "involvedObject": {"kind": "Pod", "name": p.NAME, "uid": uid},
        "type": "Normal",
        "reason": reason,
        "message": reason,
        "count": count,
        "firstTimestamp": p.at(second),
        "lastTimestamp": p.at(second + count - 1),
    }


def test_events_are_kept_per_pod_updated_in_place_and_removed() -> None:
    informer = EventInformer(KubeTransport.__new__(KubeTransport), "sandbox-containers")
    informer._apply("ADDED", raw("e2", "Pulled", second=47))
    informer._apply("ADDED", raw("e1", "Pulling", second=46))
    informer._apply("ADDED", raw("old", "Started", uid="earlier-pod", second=10))
    sandbox = p.sandbox(p.running())
    assert [e.reason for e in informer.events_for(sandbox)] == ["Pulling", "Pulled"]
    assert [e.reason for e in informer.events_named(p.NAME)] == ["Started", "Pulling", "Pulled"]

    version = informer.version
    informer._apply("MODIFIED", raw("e2", "Pulled", count=3, second=47))
    assert informer.version > version
    (pulled,) = [e for e in informer.events_for(sandbox) if e.reason == "Pulled"]
    assert pulled.count == 3

    informer._apply("DELETED", raw("e1", "Pulling"))
    assert [e.reason for e in informer.events_for(sandbox)] == ["Pulled"]
    informer._apply("BOOKMARK", {"metadata": {"resourceVersion": "999"}})
    assert informer.resource_version == "999"
