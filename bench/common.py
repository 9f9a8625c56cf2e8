"""What every benchmark shares: the machine's description, percentiles, tables and timing helpers.

Figures are measured side by side in one run and printed as plain-text tables, with the machine
they ran on above them, so a reader can compare a run with another machine's.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

Cell = str | int | float | None


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def memory_total_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 / 1024 if match else 0.0


def machine_description() -> str:
    cores = os.cpu_count() or 0
    return (
        f"machine: {cores} cores, {cpu_model()}, {memory_total_gib():.1f} GiB memory, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()}"
    )


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), from /proc."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    match = re.search(r"^VmRSS:\s*(\d+) kB", path.read_text(), re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> float:
    return seconds * 1000.0


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def fmt(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        self.rows.append(list(cells))

    def render(self) -> str:
        text = [[fmt(cell) for cell in row] for row in self.rows]
        widths = [
            max([len(column), *(len(row[index]) for row in text)])
            for index, column in enumerate(self.columns)
        ]
        lines = [self.title, ""]
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)) + " |"
        )
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in text:
            cells = [
                cell.ljust(width) if index == 0 else cell.rjust(width)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines)


def report(*tables: Table) -> None:
    for table in tables:
        print()
        print(table.render(), flush=True)


def progress(message: str) -> None:
    """A line on stderr, so the tables on stdout stay clean."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop, as the server does: the load generator must cost as little as possible."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def spawn(
    argv: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """A child process; its output goes to ``log`` (appended), else stdout is dropped and
    stderr is ours."""
    # The child gets SIGTERM if this process dies without stopping it (devcluster's helper).
    from devcluster.processes import _die_with_parent

    if log is None:
        return subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
    with log.open("ab") as output:
        return subprocess.Popen(
            argv, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )


def terminate(process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
