"""Observed state of a sandbox's container and pod conditions.

A container is in exactly one state at a time (Kubernetes ``ContainerState`` has one of
``waiting``, ``running`` or ``terminated`` set). ``reason`` and ``message`` come from the waiting
or terminated state ("ImagePullBackOff", "Completed", "OOMKilled", ...); ``exit_code`` only
exists once terminated. A container that was restarted also keeps how its previous run ended
(``lastState.terminated``): that is where a crash loop's exit code or an OOM kill shows.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import datetime

from app.models.enums import ContainerStateKind


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    name: str
    image: str
    _: KW_ONLY
    ready: bool = False
    restart_count: int = 0
    state: ContainerStateKind = ContainerStateKind.WAITING
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # ``lastState.terminated`` of a restarted container: why its previous run ended.
    last_termination_reason: str | None = None
    last_exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class PodCondition:
    """One entry of ``status.conditions``; ``status`` is "True", "False" or "Unknown"."""

    type: str
    status: str
    _: KW_ONLY
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None
