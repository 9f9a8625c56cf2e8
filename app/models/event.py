"""A Kubernetes Event about a sandbox ("Scheduled", "Pulling", "Failed", "BackOff", ...).

The apiserver deduplicates repeated events into one object with a ``count`` and a first and
last time, so one ``SandboxEvent`` may stand for many occurrences.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SandboxEvent:
    type: str
    reason: str
    message: str
    _: KW_ONLY
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    # Which pod it is about: lets one namespace-wide event list be split per sandbox.
    involved_name: str | None = None
    involved_uid: str | None = None
    # The component that reported it (kubelet, default-scheduler, ...).
    source: str | None = None
