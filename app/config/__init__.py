"""Service settings: ``appsettings.json`` in the seed's shape, overridden by the environment.

Sources, highest priority first:

1. keyword arguments to ``AppSettings(...)`` (tests);
2. environment variables named by the JSON path joined with ``__``, as ASP.NET configuration
   does: ``Kubernetes__TargetNamespace=foo``, ``Kubernetes__DefaultResourceLimits__MemoryMi=1024``.
   Names match case-insensitively (``KUBERNETES__TARGETNAMESPACE`` works too);
3. the JSON file named by ``APPSETTINGS_PATH`` (default ``appsettings.json`` in the working
   directory). A missing default file means all defaults; a missing file that ``APPSETTINGS_PATH``
   names explicitly is an error, since it is almost always a forgotten mount. Keys in the file
   also match case-insensitively, and sections other than the three below are ignored (an ASP.NET
   file may carry ``Logging`` or ``AllowedHosts``);
4. the defaults below.

Keys (each also an environment variable, with ``__`` for ``.``):

- ``Kubernetes.TargetNamespace`` = sandbox-containers — namespace of the sandbox pods.
- ``Kubernetes.RuntimeClassName`` = kata-qemu — set on every pod.
- ``Kubernetes.DefaultResourceRequests.{MemoryMi,CpuMillicores}`` = 256 / 250.
- ``Kubernetes.DefaultResourceLimits.{MemoryMi,CpuMillicores}`` = 512 / 500.
- ``Kubernetes.MaxResourceLimits.{MemoryMi,CpuMillicores}`` = 4096 / 2000 — per sandbox.
- ``Kubernetes.RuntimeClassOverheadFallback.{MemoryMi,CpuMillicores}`` = 160 / 250 — reported as
  the VM overhead of a pod whose ``spec.overhead`` is empty (a RuntimeClass without overhead).
- ``Kubernetes.PodNamePrefix`` = kata-sandbox — pods are named ``{prefix}-{8 hex}``.
- ``Kubernetes.CleanupCompletedPods`` = true.
- ``Kubernetes.DefaultReadyTimeoutSeconds`` = 90, ``Kubernetes.MaxReadyTimeoutSeconds`` = 600.
- ``Kubernetes.DefaultScratchSizeMi`` = 1024, ``Kubernetes.MaxScratchSizeMi`` = 10240.
- ``Kubernetes.MaxTtlSeconds`` = 86400 — the longest TTL a create or an extension may ask for.
- ``Kubernetes.DefaultTtlSeconds`` = unset — the TTL of a create that asks for none (unset: none).
- ``Kubernetes.MaxCreationsPerMinute`` = unset — creations per rolling minute in the namespace,
  counted from the pods' creation times so all replicas agree (unset: unlimited).
- ``Kubernetes.KubeconfigPath`` = unset — used outside a cluster; must name an existing file.
- ``Server.LogLevel`` = INFO.
- ``Server.LogFormat`` = json — one JSON object per line; ``text`` for a terminal.
- ``Server.ShutdownTimeoutSeconds`` = 25 — from SIGTERM to exit: subscriptions completed,
  requests in flight finished, then cut off (``app.observability.signals``).
- ``Server.AllowedWebsocketOrigins`` = empty — exact origins (``https://host[:port]``) allowed
  to open a websocket, or ``*``; from the environment as a JSON list or comma-separated.
- ``Server.DefaultPageSize`` = 50, ``Server.MaxPageSize`` = 200.
- ``Server.ApiTokensPath`` = unset — the API tokens file (``app.auth.tokens``); also the plain
  environment variable ``API_TOKENS_PATH`` (below ``Server__ApiTokensPath``, above the file).
- ``Server.AuthDisabled`` = false — development only: no authentication, every request is an
  admin's; logged as a WARNING at startup.
- ``Server.MaxRequestBodyBytes`` = 524288 — larger HTTP bodies get 413, larger websocket
  messages close the socket.
- ``Server.MaxSandboxesPerTenant`` = 50, ``Server.MaxSubscriptionsPerTenant`` = 100 (per
  replica) — null: unlimited; beyond them QUOTA_EXCEEDED.
- ``Kubernetes.AllowedImageRegistries`` = empty (any) — registries (``host[:port]``) or
  repository prefixes (``host/path``) images may come from; JSON list or comma-separated.
- ``Lifecycle.*`` — the reaper, EXPIRING notices and leader election; see ``app.config.lifecycle``.

Invalid settings stop startup: ``load_settings()`` raises ``SettingsError`` naming every bad
key (``Kubernetes.DefaultResourceLimits.MemoryMi: ...``).
"""

from app.config.errors import InconsistentSetting, SettingProblem, SettingsError
from app.config.lifecycle import LeaderElectionSettings, LifecycleSettings
from app.config.sections import (
    MAX_POD_NAME_PREFIX_LENGTH,
    KubernetesSettings,
    ResourceAmountSettings,
    ServerSettings,
)
from app.config.settings import AppSettings, load_settings
from app.config.sources import APPSETTINGS_PATH_VARIABLE, DEFAULT_APPSETTINGS_PATH

__all__ = [
    "APPSETTINGS_PATH_VARIABLE",
    "DEFAULT_APPSETTINGS_PATH",
    "MAX_POD_NAME_PREFIX_LENGTH",
    "AppSettings",
    "InconsistentSetting",
    "KubernetesSettings",
    "LeaderElectionSettings",
    "LifecycleSettings",
    "ResourceAmountSettings",
    "ServerSettings",
    "SettingProblem",
    "SettingsError",
    "load_settings",
]
