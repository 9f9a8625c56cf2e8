"""Structured logs: the formatter's lines, and what a real ``uvicorn app.server:app`` writes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.observability.context import (
    CONNECTION_ID,
    REQUEST_ID,
    new_request_id,
    sane_request_id,
)
from app.observability.logs import JsonFormatter, TextFormatter, configure_logging, log_config, main
from tests.graphql.helpers import LegacyWS, TransportWS, open_ws
from tests.observability.conftest import Json, Spawn

NOT_FOUND_UPDATES = 'subscription { sandboxUpdates(name: "no-such-sandbox") { type } }'


def record(
    message: str = "hello %s",
    args: Any = ("world",),
    *,
    name: str = "app.test",
    level: int = logging.INFO,
    **extra: Any,
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.fixture
def ids() -> Iterator[None]:
    request = REQUEST_ID.set("req-1")
    connection = CONNECTION_ID.set("conn-1")
    yield
    CONNECTION_ID.reset(connection)
    REQUEST_ID.reset(request)


def test_a_line_is_one_json_object_with_the_request_ids(ids: None) -> None:
    line = JsonFormatter().format(record(sandbox="kata-sandbox-1", attempt=2))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "app.test"
    assert entry["time"].endswith("Z")
    assert len(entry["time"]) == len("2025-01-01T00:00:00.000Z")
    assert (entry["request_id"], entry["connection_id"]) == ("req-1", "conn-1")
    assert (entry["sandbox"], entry["attempt"]) == ("kata-sandbox-1", 2)


def test_without_a_request_there_are_no_ids() -> None:
    entry = json.loads(JsonFormatter().format(record()))
    assert "request_id" not in entry
    assert "connection_id" not in entry


def test_exceptions_are_one_field_and_odd_values_are_strings() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        made = record("failed", (), when=object())
        made.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(made))
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: bad\nthing" in entry["exception"]
    assert entry["when"].startswith("<object object")


def test_uvicorn_access_lines_are_split_into_fields(ids: None) -> None:
    access = record(
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/graphql?x=1", "1.1", 200),
        name="uvicorn.access",
    )
    entry = json.loads(JsonFormatter().format(access))
    assert entry["message"] == '127.0.0.1:5000 - "POST /graphql?x=1 HTTP/1.1" 200'
    assert entry["client"] == "127.0.0.1:5000"
    assert (entry["method"], entry["path"], entry["http_version"]) == (
        "POST",
        "/graphql?x=1",
        "1.1",
    )
    assert entry["status"] == 200
    assert entry["request_id"] == "req-1"


def test_text_format_for_a_terminal(ids: None) -> None:
    line = TextFormatter().format(record())
    assert line.endswith(" INFO app.test [req-1 conn-1]: hello world")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("0f8e-4c1a.b:2_x", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ('quote"', False),
        ("line\nbreak", False),
        ("", False),
        ("-leading-dash", False),
    ],
)
def test_only_sane_request_ids_are_kept(given: str, kept: bool) -> None:
    assert (sane_request_id(given) == given) is kept
    assert sane_request_id(new_request_id()) is not None


def test_configure_leaves_configured_logging_alone() -> None:
    # pytest's handlers are on the root logger, as a --log-config's would be.
    assert logging.getLogger().handlers
    assert configure_logging("DEBUG", "json") is False
    assert logging.getLogger("app").level == logging.DEBUG
    configure_logging("INFO", "json")
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "xml")


def test_the_printed_log_config_is_a_valid_dict_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--level", "debug"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == log_config("DEBUG", "json")
    # dictConfig changes the whole process's logging: try it in a process of its own.
    script = (
        "import json, logging, logging.config, sys; "
        "logging.config.dictConfig(json.load(sys.stdin)); "
        "logging.getLogger('app.check').debug('configured', extra={'k': 1})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=printed,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    entry = json.loads(result.stderr)
    assert (entry["logger"], entry["level"], entry["message"]) == (
        "app.check",
        "DEBUG",
        "configured",
    )
    assert entry["k"] == 1


def _by_logger(lines: list[Json], logger: str) -> list[Json]:
    return [line for line in lines if line.get("logger") == logger]


@pytest.mark.cluster
async def test_a_real_server_logs_json_lines_with_request_ids(spawn: Spawn) -> None:
    server = spawn("--log-level", "info", Server__LogLevel="DEBUG")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        given = await http.post(
            "/graphql",
            json={"query": "query Named { __typename }"},
            headers={"X-Request-ID": "client-id-42"},
        )
        assert given.headers["x-request-id"] == "client-id-42"
        insane = await http.get("/healthz", headers={"X-Request-ID": "no spaces allowed"})
        generated = insane.headers["x-request-id"]
        assert generated != "no spaces allowed"
        assert sane_request_id(generated) == generated
        other = await http.get("/healthz")
        assert other.headers["x-request-id"] not in (generated, "client-id-42")

    handshake_ids = []
    for protocol in (TransportWS, LegacyWS):
        async with open_ws(server.ws_url, protocol.protocol) as ws:
            handshake_ids.append(ws.response.headers["x-request-id"] if ws.response else None)
            client = protocol(ws)
            await client.init()
            errors = await client.expect_errors(await client.subscribe(NOT_FOUND_UPDATES))
            assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    server.stop()

    lines = server.lines()  # every line: uvicorn's after startup, the app's, the access log
    access = _by_logger(lines, "uvicorn.access")
    named = [line for line in access if line.get("request_id") == "client-id-42"]
    assert len(named) == 1
    assert (named[0]["method"], named[0]["path"], named[0]["status"]) == ("POST", "/graphql", 200)
    assert any(line.get("request_id") == generated for line in access)
    operations = _by_logger(lines, "app.graphql.operations")
    assert any(
        line.get("request_id") == "client-id-42" and line["operation"] == "Named"
        for line in operations
    )
    # On a websocket: the handshake's id on every line as connection_id, one id per operation.
    for connection_id in handshake_ids:
        assert connection_id is not None
        not_found = [
            line
            for line in _by_logger(lines, "app.graphql.errors")
            if line.get("connection_id") == connection_id
        ]
        assert len(not_found) == 1
        assert "NOT_FOUND" in not_found[0]["message"]
        assert not_found[0]["request_id"] != connection_id
        ended = [line for line in operations if line.get("connection_id") == connection_id]
        assert ended
        assert ended[0]["request_id"] == not_found[0]["request_id"]
        assert ended[0]["operation_type"] == "subscription"
        assert ended[0]["error_codes"] == ["NOT_FOUND"]
    levels = {line["level"] for line in lines}
    assert levels <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.cluster
def test_with_the_printed_log_config_even_uvicorn_startup_lines_are_json(
    spawn: Spawn, tmp_path: Any
) -> None:
    config = tmp_path / "log-config.json"
    config.write_text(json.dumps(log_config("INFO", "json")))
    server = spawn("--log-config", str(config))
    assert server.status("/healthz") == 200
    server.stop()
    lines = server.lines(preamble=0)
    messages = [line["message"] for line in lines]
    assert any(message.startswith("Started server process") for message in messages)
    assert any(message.startswith("Waiting for application startup") for message in messages)
    assert _by_logger(lines, "uvicorn.access")
