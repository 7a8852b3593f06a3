"""Run inside the peers venv only (bleach is never a project dependency): sanitize fragments with bleach, time it.

Reads JSON from stdin: {"sets": {name: [fragments]}, "tags": [...], "attributes": {...}, "protocols": [...],
"styles": [...], "repeats": N}; writes JSON: {"version": ..., "seconds": {name: [per pass]},
"outputs": {name: [...]}}.
Standalone on purpose: it imports nothing from this repository.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    job = json.load(sys.stdin)
    cleaner = bleach.Cleaner(
        tags=set(job["tags"]),
        attributes={tag: list(names) for tag, names in job["attributes"].items()},
        protocols=set(job["protocols"]),
        strip=True,
        strip_comments=True,
        css_sanitizer=CSSSanitizer(allowed_css_properties=list(job["styles"])),
    )
    seconds: dict[str, list[float]] = {}
    outputs: dict[str, list[str]] = {}
    for name, fragments in job["sets"].items():
        outputs[name] = [cleaner.clean(fragment) for fragment in fragments]  # warm-up, and the outputs to compare
        seconds[name] = []
        for _ in range(int(job["repeats"])):
            started = time.perf_counter()
            for fragment in fragments:
                cleaner.clean(fragment)
            seconds[name].append(time.perf_counter() - started)
    json.dump({"version": bleach.__version__, "seconds": seconds, "outputs": outputs}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
