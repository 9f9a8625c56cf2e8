"""Typed spellings of ``@strawberry.field(...)`` and friends.

Called with arguments, strawberry's decorators are typed as returning ``Any``, which mypy's
strict mode refuses as an untyped decorator. These keep the resolver's own signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(*, description: str, name: str | None = None) -> Callable[[F], F]:
    decorator: Callable[[F], F] = strawberry.field(description=description, name=name)
    return decorator


def mutation(*, description: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = strawberry.mutation(description=description)
    return decorator


def subscription(*, description: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = strawberry.subscription(description=description)
    return decorator
