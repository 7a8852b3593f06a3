"""`make bench` / `python -m benchmarks [NAME …]`: run the benchmarks, print their tables, write results/latest.md.

Names: build, sanitizer, gifts, giftpage, intake, ledger, pool. Environment: BENCH_QUICK=1 (small corpus, one run each),
BENCH_RUNS=N, BENCH_PAGES=N, BENCH_NO_PEERS=1 (Giftboard only), BENCH_NO_INSTALL=1 (never install the peers venv),
BENCH_WAIT_QUIET=S (wait up to S seconds in all, before the benches, for other work to leave the CPUs idle;
default 120).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.common import (
    RESULTS_DIR,
    NotAvailable,
    Progress,
    Table,
    machine_lines,
    quick,
    quiet_budget,
    wait_for_quiet,
)

BENCHES: dict[str, str] = {
    "build": "benchmarks.build",
    "sanitizer": "benchmarks.sanitizer",
    "gifts": "benchmarks.gifts",
    "giftpage": "benchmarks.giftpage",
    "intake": "benchmarks.intake",
    "ledger": "benchmarks.ledger",
    "pool": "benchmarks.pool",
}
TITLES: dict[str, str] = {
    "build": "Board build",
    "sanitizer": "Sanitizer",
    "gifts": "Gift generation",
    "giftpage": "Gift page",
    "intake": "Intake and queue",
    "ledger": "Ledger backends: PostgreSQL and the folder",
    "pool": "Worker pool: dispatcher and Actions workers",
}


def run_bench(name: str, progress: Progress) -> tuple[list[Table], bool]:
    """The bench's tables, and whether it broke (a part not available yet is no failure)."""
    module = importlib.import_module(BENCHES[name])
    runner: Callable[[Progress], list[Table]] = module.run
    try:
        return runner(progress), False
    except NotAvailable as error:
        table = Table(TITLES[name], ["status"])
        table.add(f"not available: {error}")
        return [table], False
    except Exception as error:  # a broken bench must not hide the others' tables; main() exits 1 at the end
        progress.line(traceback.format_exc())
        table = Table(TITLES[name], ["status"])
        table.add(f"FAILED: {type(error).__name__}: {error}")
        return [table], True


def section(name: str, tables: list[Table], header: list[str]) -> str:
    return f"## {TITLES[name]}\n\n" + "\n".join(header) + "\n\n" + "\n".join(t.render() for t in tables)


def summary_table(rows: list[list[str]]) -> Table:
    table = Table("Summary: the targets of DESIGN.md §9 and issue 6", ["measure", "value", "target", "verdict"])
    for row in rows:
        table.add(*row)
    return table


def write_results(sections: dict[str, str], summaries: dict[str, list[list[str]]], results: Path,
                  metrics: dict[str, dict[str, float]] | None = None) -> Path:
    """Each bench keeps its last section in results/<name>.md (+ .json for its summary rows, + .metrics.json for its
    named numbers, which gate criteria such as `queue_latency_p95_ms <= 100` read); latest.md joins them."""
    results.mkdir(parents=True, exist_ok=True)
    for name, text in sections.items():
        (results / f"{name}.md").write_text(text, encoding="utf-8")
        (results / f"{name}.json").write_text(json.dumps(summaries.get(name, []), ensure_ascii=False, indent=1)
                                              + "\n", encoding="utf-8")
        named = (metrics or {}).get(name)
        if named:
            (results / f"{name}.metrics.json").write_text(json.dumps(named, sort_keys=True, indent=1) + "\n",
                                                          encoding="utf-8")
    rows: list[list[str]] = []
    for name in BENCHES:
        path = results / f"{name}.json"
        if path.is_file():
            rows += json.loads(path.read_text(encoding="utf-8"))
    parts = ["# Giftboard benchmarks: latest results", "",
             "Written by `make bench` (`python -m benchmarks`); each section says when and where it ran.", "",
             summary_table(rows).render()]
    for name in BENCHES:
        path = results / f"{name}.md"
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    latest = results / "latest.md"
    latest.write_text("\n".join(parts), encoding="utf-8")
    return latest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benches to run (default: all): {', '.join(BENCHES)}")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder for the result files (default: benchmarks/results, or none with BENCH_QUICK)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    progress = Progress()
    results = args.results
    if results is None and not quick():
        results = RESULTS_DIR
    started = time.perf_counter()
    budget = quiet_budget()
    sections: dict[str, str] = {}
    summaries: dict[str, list[list[str]]] = {}
    metrics: dict[str, dict[str, float]] = {}
    failed: list[str] = []
    for name in names:
        progress.line(f"{TITLES[name]} …")
        waited = time.monotonic()
        busy = wait_for_quiet(progress, budget)
        budget = max(0.0, budget - (time.monotonic() - waited))
        header = machine_lines(busy) + (["- BENCH_QUICK=1: small corpus, one run each"] if quick() else [])
        tables, broke = run_bench(name, progress)
        if broke:
            failed.append(name)
        text = section(name, tables, header)
        sections[name] = text
        summaries[name] = [row for table in tables for row in table.summary]
        metrics[name] = {key: value for table in tables for key, value in table.metrics.items()}
        print(text, flush=True)
    print(summary_table([row for name in names for row in summaries[name]]).render(), flush=True)
    progress.line(f"all done in {time.perf_counter() - started:.0f} s")
    if results is not None:
        latest = write_results(sections, summaries, results, metrics)
        progress.line(f"wrote {latest}")
    if failed:
        progress.line(f"FAILED: {', '.join(failed)} (the traceback is above): fix the bench, then run it again")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
