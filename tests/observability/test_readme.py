"""The README's configuration table names every setting, its variable and its default.

So a setting added to ``app.config`` without a row (or with a changed default) fails here, and
a reader of the README finds every setting as the code has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from app.config import AppSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def leaves() -> Iterator[tuple[str, Any]]:
    """(dotted key, default) of every setting: the defaults as the code has them, without
    reading the environment or a file (``model_construct``)."""
    return _section(AppSettings.model_construct(), "")


def _section(section: BaseModel, prefix: str) -> Iterator[tuple[str, Any]]:
    for name, info in type(section).model_fields.items():
        value = getattr(section, name)
        key = f"{prefix}{info.alias or name}"
        if isinstance(value, BaseModel):
            yield from _section(value, key + ".")
        else:
            yield key, value


def shown(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, tuple) and not default:
        return "empty"
    if isinstance(default, int | float):
        return f"{default:g}"
    return f"`{default}`"


def rows() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and "." in cells[0]:
            table[cells[0].strip("`")] = cells
    return table


SETTINGS = sorted(leaves())


def test_every_setting_is_covered() -> None:
    assert len(SETTINGS) > 30


@pytest.mark.parametrize(("key", "default"), SETTINGS, ids=[key for key, _ in SETTINGS])
def test_the_readme_has_a_row_for_the_setting(key: str, default: Any) -> None:
    row = rows().get(key)
    assert row is not None, f"README.md's configuration table has no row for {key}"
    assert row[1] == f"`{key.replace('.', '__')}`"
    assert row[2] == shown(default), f"{key}: the README says {row[2]}, the code {default!r}"
