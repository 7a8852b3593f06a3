"""Git merge driver for ledger order records: `python -m builder.jobs.record_merge CURRENT OTHER`.

Git runs it when two writers changed the same `orders/<ref>.json`. The version that has committed more
transitions (`seq`) wins, so a stale writer can never move an order back (published → queued); on a tie,
OTHER (the commit being replayed: this writer's change) wins. The result is written to CURRENT.
"""

from __future__ import annotations

import sys
from pathlib import Path

from builder.jobs.gitsync import newer_record


def main(argv: list[str]) -> int:
    current, other = Path(argv[0]), Path(argv[1])
    current.write_bytes(newer_record(current.read_bytes(), other.read_bytes()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
