"""`init`'s starter board: a small, valid content folder any team can grow (one workstream, two gates, a decision,
a lesson, a task), written whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from builder.errors import ConfigError

STARTER: dict[str, str] = {
    "site.yaml": """\
# The board's settings. Every field: README, "Writing content"; JSON Schemas for editors: python -m builder schema
title: Launch board
description: What still blocks our launch, who owns it, and what we learned on the way
language: en
# repository: owner/repo                    # live GitHub state (sync) and edit-this-page links
# base_url: https://owner.github.io/repo/   # absolute URL for the feed and sitemap
# labels:                                   # the board's own words; unset ones keep their defaults
#   gates: Release gates
#   archive_on_board: Earlier work
""",
    "board.md": """\
---
title: Road to launch
summary: Launch waits on two gates; this board says which one is still open, who owns it and by when.
dependencies:
  - text: SETUP001 first deployment to staging.
    task: SETUP001
  - text: Sign-off from support on the runbook.
invariants:
  - Nothing ships without a way to roll it back.
---
Each gate is a file in `gates/`; its status, owner and due date are front matter. Completed work moves to the
[archive](/archive/), so the board only shows what is still ahead.
""",
    "workstreams/platform.md": """\
---
area: Platform
title: Run it reliably
order: 1
---
Build, deploy and watch the service the same way every time.
""",
    "gates/ci-pipeline.md": """\
---
title: CI pipeline
status: complete
workstream: platform
order: 1
owner: Platform team
---
Every change is built and tested before it merges.
""",
    "gates/monitoring.md": """\
---
title: Monitoring
status: in-progress
workstream: platform
order: 2
owner: Platform team
due: 2030-06-30
---
Alerts reach a person within five minutes, and every alert links its runbook.
""",
    "archive/decisions/0001-record-decisions.md": """\
---
title: Record decisions as short files
date: 2026-01-05
status: accepted
summary: Decisions live next to the board, one Markdown file each, so they are reviewed like code.
tags: [process]
---
A decision that is not written down is made again. Each one gets a file here with its date and status; a later
decision that replaces it says so with `supersedes:`.
""",
    "archive/lessons/small-steps.md": """\
---
title: Small steps land sooner
date: 2026-01-12
gate: ci-pipeline
summary: The pipeline went green once it was split into steps that could each be reviewed in a day.
tags: [process]
---
The first attempt at [the CI pipeline](../../gates/ci-pipeline.md) changed everything at once and stalled in
review. Split into small pull requests, it landed within a week.
""",
    "archive/tasks/setup001.md": """\
---
id: SETUP001
title: First deployment to staging
date: 2026-01-10
status: done
outcome: The service deploys to staging from main with one command.
---
Staging is deployed by the pipeline on every merge; production follows the same path once monitoring is in place.
""",
}


def write_starter_board(target: Path) -> list[Path]:
    """Write the starter content folder at `target` (which must not exist or be empty); return the files written.

    The files go into a temporary folder beside `target` that is renamed into place, so an interrupted `init`
    leaves nothing half-written.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}: already exists and is not empty; choose a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name, text in STARTER.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / name for name in STARTER]
