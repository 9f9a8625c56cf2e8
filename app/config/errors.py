"""Errors that stop startup because of the settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SettingProblem:
    key: str
    message: str


class SettingsError(Exception):
    """Settings that must stop startup; the message names each offending key."""

    def __init__(self, problems: tuple[SettingProblem, ...]) -> None:
        super().__init__(
            "Invalid settings: " + "; ".join(f"{p.key}: {p.message}" for p in problems)
        )
        self.problems = problems

    @property
    def key(self) -> str:
        return self.problems[0].key


class InconsistentSetting(ValueError):
    """A rule across keys failed; ``key`` is relative to the section that checked it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
