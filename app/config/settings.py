"""``AppSettings``: the sections put together, and ``load_settings()`` for startup."""

from __future__ import annotations

import os

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_pascal
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.config.errors import InconsistentSetting, SettingProblem, SettingsError
from app.config.lifecycle import LifecycleSettings
from app.config.sections import KubernetesSettings, ServerSettings
from app.config.sources import (
    ALIASED_KEYS,
    ENV_NESTING_DELIMITER,
    AliasEnvironmentSource,
    JsonFileSource,
    NestedEnvironmentSource,
    field_by_any_case,
    sub_model,
)


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(
        alias_generator=to_pascal,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        frozen=True,
    )

    kubernetes: KubernetesSettings = KubernetesSettings()
    server: ServerSettings = ServerSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            NestedEnvironmentSource(settings_cls),
            AliasEnvironmentSource(settings_cls),
            JsonFileSource(settings_cls),
        )


def _dotted_key(location: tuple[int | str, ...]) -> str:
    """``('kubernetes', 'default_resource_limits', 'memory_mi')`` → the key as documented."""
    key = ""
    model: type[BaseModel] | None = AppSettings
    for part in location:
        if isinstance(part, int):
            key += f"[{part}]"
            continue
        name = field_by_any_case(model, part) if model is not None else None
        if model is None or name is None:
            key += f".{part}" if key else part
            model = None
            continue
        info = model.model_fields[name]
        key += f".{info.alias or name}" if key else info.alias or name
        model = sub_model(info)
    return key


def _environment_variable_for(key: str) -> str | None:
    wanted = key.replace(".", ENV_NESTING_DELIMITER).lower()
    found = next((name for name in os.environ if name.lower() == wanted), None)
    alias = ALIASED_KEYS.get(key)
    if found is None and alias is not None and os.environ.get(alias, "").strip():
        return alias
    return found


def _problems(error: ValidationError) -> tuple[SettingProblem, ...]:
    problems = []
    for detail in error.errors():
        key = _dotted_key(detail["loc"])
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, InconsistentSetting):
            key = f"{key}.{cause.key}" if key else cause.key
        if isinstance(cause, Exception):
            message = str(cause)
        elif detail["type"] == "extra_forbidden":
            message = "unknown setting (misspelt?)"
        else:
            message = detail["msg"]
        variable = _environment_variable_for(key)
        if variable is not None:
            message += f" (from environment variable {variable})"
        problems.append(SettingProblem(key, message))
    return tuple(problems)


def load_settings() -> AppSettings:
    """Read and check the settings; raise ``SettingsError`` naming every bad key."""
    try:
        return AppSettings()
    except ValidationError as exc:
        raise SettingsError(_problems(exc)) from None
