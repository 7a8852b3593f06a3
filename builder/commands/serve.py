"""`python -m builder serve`: build, serve on 127.0.0.1, and rebuild what changed under content/ or templates/."""

from __future__ import annotations

import argparse
from pathlib import Path

from watchfiles import watch

from builder.app.board import board_site
from builder.commands._site_args import add_site_arguments, options_from
from builder.diagnostics import report
from builder.errors import BuildError, ContentError, relative_path
from builder.site.live import LiveSite, problems_of
from builder.site.search import index_site
from builder.site.server import LiveState, start_preview_server


def register(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("serve", help="build, serve and rebuild on change", description=__doc__)
    add_site_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--no-watch", action="store_true", help="serve without watching for changes")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    site = board_site(options_from(args))
    live_state = None if args.no_watch else LiveState()
    try:
        print(f"{args.out}: {site.build().summary()}", flush=True)
        if site.content is None:
            site.load()
    except (ContentError, BuildError) as error:
        problems = problems_of(error)
        report(problems, title="Board build failed", settings=args.settings)
        if live_state is None:
            return 1
        live_state.rebuilt(problems)  # the browser shows them until an edit fixes the build
        args.out.mkdir(parents=True, exist_ok=True)
    server = start_preview_server(args.out.resolve(), args.host, args.port, live=live_state)
    host, port = server.server_address[:2]
    print(f"Serving the board at http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    if live_state is None:
        server.serve_forever()
        return 0
    live = LiveSite(site)
    watched = [Path(args.content).resolve(), *(root.resolve() for root in site.options.theme_roots)]
    try:
        for changes in watch(*watched, debounce=50, step=20):
            changed = {Path(path) for _change, path in changes if not Path(path).name.startswith(".")}
            if not changed:
                continue
            result = live.apply(changed)
            if not result.problems and not result.full_rebuild and live.site.search_binary is not None:
                reindex(args.out, live.site.search_binary)  # a full rebuild indexed its staging folder already
            if result.problems:
                report(result.problems, title="Board rebuild failed", settings=args.settings)
            live_state.rebuilt(result.problems)
            print(f"{changed_files(changed)} changed: {result.describe()}", flush=True)
    finally:
        server.shutdown()
    return 0


def reindex(out: Path, binary: Path) -> None:
    try:
        index_site(out, binary)
    except BuildError as error:
        print(f"warning: {error}", flush=True)


def changed_files(changed: set[Path]) -> str:
    """The edited files as the developer would type them (relative to the working directory)."""
    names = sorted(relative_path(path) for path in changed)
    return ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
