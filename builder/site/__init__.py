"""Site: Jinja2 environment, page rendering, feeds, the atomic writer, incremental builds, the dev server."""
