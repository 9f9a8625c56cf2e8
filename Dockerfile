# syntax=docker/dockerfile:1
#
# The kata-sandbox-api image: the project's wheel and its dependencies on a slim Python, as a
# non-root user. Build (BuildKit, the default since Docker 23; also buildah/podman):
#
#   docker build -t kata-sandbox-api:0.1.0 .
#
# Settings: /etc/kata-sandbox-api/settings/appsettings.json (APPSETTINGS_PATH), which the
# Deployment replaces with its ConfigMap; any setting can be overridden by environment variable
# (Kubernetes__TargetNamespace=...). Arguments after the image name go to uvicorn.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the project's wheel and wheels of all its dependencies, in /wheels ---------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (see .dockerignore): metadata, readme and the package.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed, nothing else --------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="kata-sandbox-api" \
      org.opencontainers.image.description="GraphQL API for Kata Containers sandbox pods"

# API_TOKENS_PATH names a file (the Deployment mounts a Secret there); it holds no secret itself.
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APPSETTINGS_PATH=/etc/kata-sandbox-api/settings/appsettings.json \
    API_TOKENS_PATH=/etc/kata-sandbox-api/tokens/tokens.json \
    HEALTHCHECK_URL=http://127.0.0.1:8000/healthz

# The wheels are bind-mounted from the builder, so no layer keeps them. Only the project's wheel is
# named; its dependencies resolve from the same directory, never from an index. pip, setuptools
# and wheel go afterwards: nothing at run time needs them.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/kata_sandbox_api-*.whl \
    && pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 10001 kata \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin kata \
    && mkdir -p /etc/kata-sandbox-api/settings /etc/kata-sandbox-api/tokens

# Defaults for `docker run`; in Kubernetes the ConfigMap is mounted over this directory.
COPY manifests/base/appsettings.json /etc/kata-sandbox-api/settings/appsettings.json

# An empty working directory: uvicorn puts it first on sys.path, so nothing there may shadow `app`.
WORKDIR /srv/kata-sandbox-api
USER 10001:10001
EXPOSE 8000

# Docker and Podman run this; Kubernetes ignores it and uses the Deployment's probes instead.
# slim images have no curl: the standard library's urllib does it (non-2xx raises, exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

ENTRYPOINT ["uvicorn", "app.server:app"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
