from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from app.models import Label, SandboxSpec
from app.sandboxes.service import SandboxService

BUSYBOX = "docker.io/library/busybox:1.36"


class SpecFactory:
    """Specs labelled with one test's own tag, so the test can clean up exactly what it made."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.selector = f"test-tag={tag}"

    def __call__(self, image: str = BUSYBOX, **labels: str) -> SandboxSpec:
        extra = tuple(Label(key.replace("_", "-"), value) for key, value in labels.items())
        return SandboxSpec(image=image, labels=(Label("test-tag", self.tag), *extra))


@pytest.fixture
async def spec(service: SandboxService) -> AsyncIterator[SpecFactory]:
    factory = SpecFactory(secrets.token_hex(4))
    yield factory
    await service.delete_matching(factory.selector, force=True)
