"""Shared pieces of the benchmarks: timing, tables, progress output, machine facts, scratch folders."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
SHM = Path("/dev/shm")


def quick() -> bool:
    """BENCH_QUICK=1: a small corpus and one run each (the smoke test and a fast look)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def runs(default: int) -> int:
    """How many timed runs a measurement takes (BENCH_RUNS overrides; 1 in quick mode)."""
    value = os.environ.get("BENCH_RUNS")
    if value:
        return max(1, int(value))
    return 1 if quick() else default


class NotAvailable(Exception):
    """A bench (or one row of it) cannot run yet: the part it measures has not landed or a tool is missing."""


# -- progress -------------------------------------------------------------------------------------------------


class Progress:
    """Progress for long steps: a rich spinner in a terminal, plain `[bench]` lines when piped or under CI."""

    def __init__(self, *, interactive: bool | None = None, stream: object = None) -> None:
        self.stream = stream or sys.stderr
        if interactive is None:
            interactive = bool(getattr(self.stream, "isatty", lambda: False)()) and not os.environ.get("CI")
        self.interactive = interactive
        self._console = None
        if interactive:
            from rich.console import Console

            self._console = Console(file=self.stream)  # type: ignore[arg-type]

    def line(self, message: str) -> None:
        if self._console is not None:
            self._console.print(f"[dim]·[/dim] {message}", highlight=False)
        else:
            print(f"[bench] {message}", file=self.stream, flush=True)  # type: ignore[call-overload]

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        start = time.perf_counter()
        if self._console is not None:
            with self._console.status(message):
                yield
            self._console.print(f"[green]✓[/green] {message} ({time.perf_counter() - start:.1f} s)", highlight=False)
        else:
            print(f"[bench] {message} …", file=self.stream, flush=True)  # type: ignore[call-overload]
            yield
            print(f"[bench] {message}: done in {time.perf_counter() - start:.1f} s",  # type: ignore[call-overload]
                  file=self.stream, flush=True)


# -- tables ---------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A markdown table with a title and notes; `render()` gives the text printed and written to results."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[list[str]] = field(default_factory=list)  # [measure, value, target, verdict] for the top table
    metrics: dict[str, float] = field(default_factory=dict)  # named numbers the board's gate criteria can compare

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def headline(self, measure: str, value: str, target: str, verdict: str) -> None:
        self.summary.append([measure, value, target, verdict])

    def metric(self, name: str, value: float) -> None:
        """A named number (`snake_case_with_unit`), written to results/<bench>.metrics.json for `metric:` criteria."""
        self.metrics[name] = round(value, 4)

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def fmt(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)) + " |"

        lines = [f"### {self.title}", "", fmt(self.columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += [fmt(row) for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def millis(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 1000:.{digits}f} ms"


def micros(value: float | None) -> str:
    return "—" if value is None else f"{value * 1e6:.1f} µs"


def kib(size: int | None) -> str:
    return "—" if size is None else f"{size / 1024:.1f} KiB"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- processes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds of the command and every descendant it waited for


def run_timed(command: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
              env: dict[str, str] | None = None, timeout: float = 900) -> Ran:
    """Run a command to completion; wall clock from spawn to exit, and its CPU time (less sensitive to other load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Ran(elapsed, done.returncode, done.stdout, done.stderr, cpu)


def python_path() -> str:
    """PYTHONPATH for child processes: this checkout first (no empty entry, which would mean the cwd)."""
    return os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# -- profiles -------------------------------------------------------------------------------------------------


def hotspots(action: Callable[[], object], inside: str, *, skip: frozenset[str] = frozenset(), limit: int = 6) -> str:
    """Run `action` under cProfile; the largest cumulative times of functions whose file path contains `inside`."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    for (filename, _line, name), (_cc, _nc, _tt, cum, _callers) in entries.items():
        where = filename.replace(os.sep, "/")
        if inside not in where or name in skip or name.startswith("<"):
            continue
        module = where.split(inside, 1)[1].removesuffix(".py").replace("/", ".")
        rows.append((cum, f"{module}.{name}"))
    rows.sort(reverse=True)
    return ", ".join(f"`{name}` {cum * 1000:.0f} ms" for cum, name in rows[:limit])


# -- scratch folders ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A fresh folder on tmpfs (/dev/shm) when there is one, else under benchmarks/.work/; removed afterwards."""
    base = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else WORK_DIR
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"giftboard-bench-{name}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def storage_of(path: Path) -> str:
    """'tmpfs' or the file system type (and device) holding `path`, for the results header."""
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        out = subprocess.run(["df", "--output=fstype,source", str(path)], capture_output=True, text=True,
                             check=True).stdout.split("\n")[1].split()
        return f"{out[0]} ({out[1]})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


# -- quiet machine --------------------------------------------------------------------------------------------


def cpu_busy(sample_s: float = 1.0) -> float:
    """Fraction of all CPUs busy (not idle or iowait) over `sample_s`, from /proc/stat; 0.0 when unknown."""

    def read() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)

    try:
        idle1, total1 = read()
        time.sleep(sample_s)
        idle2, total2 = read()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = total2 - total1
    return 0.0 if total <= 0 else 1.0 - (idle2 - idle1) / total


def quiet_budget() -> float:
    """Seconds a whole run may spend waiting for quiet: BENCH_WAIT_QUIET (default 120; 0 in quick mode)."""
    return float(os.environ.get("BENCH_WAIT_QUIET", "0" if quick() else "120"))


def wait_for_quiet(progress: Progress, max_wait_s: float, *, busy_below: float = 0.25) -> float:
    """Wait (at most `max_wait_s`) until other work leaves the CPUs mostly idle; returns the busy fraction seen.

    A bench then runs anyway, and its header says how busy the machine was.
    """
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy()
    announced = False
    while busy >= busy_below and time.monotonic() < deadline:
        if not announced:
            progress.line(f"other work keeps {busy:.0%} of the CPUs busy: waiting up to {max_wait_s:.0f} s for quiet")
            announced = True
        time.sleep(4)
        busy = cpu_busy()
    return busy


# -- machine --------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_lines(busy: float | None = None) -> list[str]:
    scratch_base = SHM if SHM.is_dir() else WORK_DIR
    other = "" if busy is None else f"; other work kept {busy:.0%} of the CPUs busy just before it"
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores (`nproc` {len(os.sched_getaffinity(0))}), {cpu_model()}, "
        f"{memory_gib()} RAM, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- load average before this bench {os.getloadavg()[0]:.2f}{other} (other work on the machine skews "
        "wall-clock figures)",
        f"- files: built on {storage_of(scratch_base)} at {scratch_base}; repository disk {storage_of(REPO_ROOT)}",
    ]
