"""DataLoaders: the events of every sandbox in one operation come from one apiserver request."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.models import SandboxEvent
from app.sandboxes.service import SandboxService


def events_loader(service: SandboxService) -> DataLoader[str, list[SandboxEvent]]:
    """Batch ``events`` lookups by sandbox name.

    Not caching: a websocket connection keeps its context (and this loader) for hours, and
    events change; within one operation a name is looked up once anyway.
    """

    async def load(names: list[str]) -> list[list[SandboxEvent]]:
        unique = list(dict.fromkeys(names))
        by_name = await service.events(unique)
        return [by_name.get(name, []) for name in names]

    return DataLoader(load_fn=load, cache=False)
