"""Where settings come from: the JSON file and ``Section__Key`` environment variables.

Both sources rename keys to the models' field names, matching case-insensitively as ASP.NET
configuration does. pydantic-settings then merges them by priority; with one spelling per key
the merge is exact (its own env source keys sections differently from a JSON file, and a
section set in both would be taken whole from one of them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from app.config.errors import SettingProblem, SettingsError

APPSETTINGS_PATH_VARIABLE = "APPSETTINGS_PATH"
DEFAULT_APPSETTINGS_PATH = "appsettings.json"
ENV_NESTING_DELIMITER = "__"


def sub_model(info: FieldInfo) -> type[BaseModel] | None:
    """The section model a field holds, if it holds one."""
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def field_by_any_case(model: type[BaseModel], key: str) -> str | None:
    """The field that ``key`` names, by field name or alias in any case."""
    wanted = key.lower()
    for name, info in model.model_fields.items():
        if wanted in (name.lower(), (info.alias or name).lower()):
            return name
    return None


def canonical_keys(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """Rename keys to field names, matching case-insensitively; unknown keys stay as they are.

    Every source speaks field names, so pydantic-settings merges a file's section with the
    environment's instead of seeing two spellings of one key. Unknown keys are kept so that
    ``extra="forbid"`` reports a misspelt setting instead of silently ignoring it.
    """
    canonical: dict[str, Any] = {}
    for key, value in data.items():
        name = field_by_any_case(model, key)
        if name is None:
            canonical[key] = value
            continue
        nested = sub_model(model.model_fields[name])
        if nested is not None and isinstance(value, Mapping):
            value = canonical_keys(nested, value)
        canonical[name] = value
    return canonical


def canonical_path(model: type[BaseModel], parts: list[str]) -> list[str]:
    """Field names for a path of keys in any case; parts past an unknown key stay as given."""
    path: list[str] = []
    current: type[BaseModel] | None = model
    for part in parts:
        name = field_by_any_case(current, part) if current is not None else None
        if current is None or name is None:
            path.append(part)
            current = None
            continue
        path.append(name)
        current = sub_model(current.model_fields[name])
    return path


class NestedEnvironmentSource(PydanticBaseSettingsSource):
    """``Section__Key__SubKey`` variables whose first part names a known section."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        nested: dict[str, Any] = {}
        for variable, value in os.environ.items():
            parts = variable.split(ENV_NESTING_DELIMITER)
            if len(parts) < 2 or "" in parts:
                continue
            if field_by_any_case(self.settings_cls, parts[0]) is None:
                continue
            # Resolve names per variable: KUBERNETES__X and Kubernetes__Y land in one section.
            path = canonical_path(self.settings_cls, parts)
            node = nested
            for part in path[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[path[-1]] = value
        return nested


# Plain environment variables that each set one key, ranked below its ``Section__Key`` spelling
# and above the file: the Deployment names the tokens file as it names the settings file.
ENVIRONMENT_ALIASES: dict[str, tuple[str, str]] = {
    "API_TOKENS_PATH": ("server", "api_tokens_path"),
}
ALIASED_KEYS = {"Server.ApiTokensPath": "API_TOKENS_PATH"}


class AliasEnvironmentSource(PydanticBaseSettingsSource):
    """``API_TOKENS_PATH`` and the like (see ``ENVIRONMENT_ALIASES``); empty means unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        nested: dict[str, Any] = {}
        for variable, (section, key) in ENVIRONMENT_ALIASES.items():
            value = os.environ.get(variable, "").strip()
            if value:
                nested.setdefault(section, {})[key] = value
        return nested


class JsonFileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get(APPSETTINGS_PATH_VARIABLE)
        path = Path(explicit or DEFAULT_APPSETTINGS_PATH)
        if not path.exists():
            if explicit:
                raise _file_problem(f"names {str(path)!r}, which does not exist")
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _file_problem(f"cannot read {str(path)!r}: {exc}") from exc
        if not isinstance(data, dict):
            raise _file_problem(f"{str(path)!r} must hold a JSON object")
        known = {
            key: value
            for key, value in data.items()
            if field_by_any_case(self.settings_cls, key) is not None
        }
        return canonical_keys(self.settings_cls, known)


def _file_problem(message: str) -> SettingsError:
    return SettingsError((SettingProblem(APPSETTINGS_PATH_VARIABLE, message),))
