"""`python -m builder serve`: build, serve on 127.0.0.1, and rebuild what changed under content/ or templates/."""

from __future__ import annotations

import argparse
from pathlib import Path

from watchfiles import watch

from builder.commands._site_args import add_site_arguments, options_from
from builder.diagnostics import report
from builder.errors import ContentError
from builder.site.build import Site
from builder.site.live import LiveSite
from builder.site.server import start_preview_server


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("serve", help="build, serve and rebuild on change", description=__doc__)
    add_site_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--no-watch", action="store_true", help="serve without watching for changes")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    site = Site(options_from(args))
    try:
        print(f"{args.out}: {site.build().summary()}", flush=True)
        if site.content is None:
            site.load()
    except ContentError as error:
        report(error.diagnostics, title="Board build failed", settings=args.settings)
        return 1
    server = start_preview_server(args.out.resolve(), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"Serving the board at http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    if args.no_watch:
        server.serve_forever()
        return 0
    live = LiveSite(site)
    watched = [Path(args.content).resolve(), Path(args.templates).resolve()]
    try:
        for changes in watch(*watched, debounce=50, step=20):
            changed = {Path(path) for _change, path in changes if not Path(path).name.startswith(".")}
            if not changed:
                continue
            result = live.apply(changed)
            if result.problems:
                report(result.problems, title="Board rebuild failed", settings=args.settings)
            print(result.describe(), flush=True)
    finally:
        server.shutdown()
    return 0
