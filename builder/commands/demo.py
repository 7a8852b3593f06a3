"""`python -m builder demo` (`make demo`): build the board, run a sample order offline, serve everything."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from builder.gifts.dev_certificates import DEFAULT_DEV_DIR, ensure_dev_chain
from builder.site.server import start_preview_server

SAMPLE_ORDER = Path(__file__).resolve().parent.parent.parent / "examples" / "order-maya.json"


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("demo", help="build the board, generate a sample gift offline, and serve",
                              description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=Path("site"))
    parser.add_argument("--ledger", type=Path, default=Path(".data/ledger"))
    parser.add_argument("--order", type=Path, default=SAMPLE_ORDER, help="order JSON to run (default: the sample)")
    parser.add_argument("--no-serve", action="store_true", help="stop after building (for scripts and tests)")
    parser.set_defaults(run=run)


def capture(*argv: str) -> str:
    """Run one CLI verb in-process and return its stdout; stop the demo when it fails."""
    from builder.cli import main  # the CLI imports this module, so import it at call time

    captured = StringIO()
    with redirect_stdout(captured):
        code = main(list(argv))
    if code != 0:
        sys.stdout.write(captured.getvalue())
        raise SystemExit(code)
    return captured.getvalue()


def step(title: str, *argv: str) -> str:
    print(f"\n== {title}", flush=True)
    output = capture(*argv)
    sys.stdout.write(output)
    return output.strip().splitlines()[-1] if output.strip() else ""


def run(args: argparse.Namespace) -> int:
    ensure_dev_chain(DEFAULT_DEV_DIR)
    print(f"C2PA development certificate chain in {DEFAULT_DEV_DIR}/ (local signing only, never for production)")
    ledger, out = str(args.ledger), str(args.out)
    ref = step("Submitting a sample order (its private fields stay in an encrypted envelope)",
               "gift", "submit", str(args.order), "--ledger", ledger)
    step("Generating it through the embedded queue with the offline provider",
         "gift", "work", "--until-idle", "--ledger", ledger, "--out", out)
    status = json.loads(capture("gift", "status", ref, "--json", "--ledger", ledger))
    step("Building the board (the ops page reads the ledger)", "build", "--out", out, "--ledger", ledger)
    base = f"http://{args.host}:{args.port}/"
    print("\nOpen these:")
    print(f"  board       {base}")
    print(f"  archive     {base}archive/")
    print(f"  operations  {base}ops/")
    if status.get("url"):
        print(f"  gift        {base}{status['url']}   (order {ref}: {status['state']})")
    else:
        print(f"  gift        not published: order {ref} is {status['state']} ({status.get('reason') or 'see status'})")
    if args.no_serve:
        return 0
    server = start_preview_server(args.out.resolve(), args.host, args.port)
    print(f"\nServing {args.out}/ on {base}  (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
