"""Events and timestamps from raw apiserver JSON (``app.kube.convert``)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from app.kube.convert import event_from_k8s, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("", None),
        ("soon", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_timestamp(text: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def core_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": "kata-sandbox-0a1b2c3d.17c9",
            "namespace": "sandbox-containers",
            "creationTimestamp": "2024-05-01T10:00:03Z",
        },
        "involvedObject": {
            "kind": "Pod",
            "namespace": "sandbox-containers",
            "name": "kata-sandbox-0a1b2c3d",
            "uid": "5f0c6e2a-1111-2222-3333-444455556666",
        },
        "reason": "BackOff",
        "message": 'Back-off pulling image "nope:1"',
        "source": {"component": "kubelet", "host": "kata-node-1"},
        "firstTimestamp": "2024-05-01T10:00:05Z",
        "lastTimestamp": "2024-05-01T10:02:05Z",
        "count": 7,
        "type": "Warning",
        "eventTime": None,
    }
    event.update(overrides)
    return event


def test_legacy_event() -> None:
    event = event_from_k8s(core_event())
    assert event.type == "Warning"
    assert event.reason == "BackOff"
    assert event.message == 'Back-off pulling image "nope:1"'
    assert event.count == 7
    assert event.first_seen == datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    assert event.last_seen == datetime(2024, 5, 1, 10, 2, 5, tzinfo=UTC)
    assert event.involved_name == "kata-sandbox-0a1b2c3d"
    assert event.involved_uid == "5f0c6e2a-1111-2222-3333-444455556666"
    assert event.source == "kubelet"


def test_event_from_the_events_api() -> None:
    """Written through events.k8s.io: eventTime and series, no count or timestamps."""
    raw = core_event(
        count=None,
        firstTimestamp=None,
        lastTimestamp=None,
        eventTime="2024-05-01T10:00:05.500000Z",
        series={"count": 3, "lastObservedTime": "2024-05-01T10:03:00.000001Z"},
        reportingComponent="default-scheduler",
        source={},
    )
    event = event_from_k8s(raw)
    assert event.count == 3
    assert event.first_seen == datetime(2024, 5, 1, 10, 0, 5, 500000, tzinfo=UTC)
    assert event.last_seen == datetime(2024, 5, 1, 10, 3, 0, 1, tzinfo=UTC)
    assert event.source == "default-scheduler"


def test_event_without_count_or_times() -> None:
    raw = core_event(firstTimestamp=None, lastTimestamp=None)
    del raw["count"]
    del raw["type"]
    event = event_from_k8s(raw)
    assert event.count == 1
    assert event.type == "Normal"
    assert event.first_seen == datetime(2024, 5, 1, 10, 0, 3, tzinfo=UTC)
    assert event.last_seen == event.first_seen


def test_event_with_nothing() -> None:
    event = event_from_k8s({})
    assert (event.type, event.reason, event.message, event.count) == ("Normal", "", "", 1)
    assert event.first_seen is None
    assert event.involved_name is None
