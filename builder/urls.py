"""Site URLs are pretty ("gates/observability/") and every link is written relative to the page."""

from __future__ import annotations

import posixpath


def relative_url(from_url: str, to_url: str) -> str:
    """A link from the page at `from_url` to `to_url`, both site-relative, that works under any sub-path."""
    prefix = "../" * from_url.count("/")
    return prefix + to_url or "./"


def join_content_path(source: str, target: str) -> str:
    """Resolve a `.md` link written in `source` (content-relative) to a content-relative path."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def normalise_site_url(url: str) -> str:
    """'/gates/x' or 'gates/x/index.html' → 'gates/x/'; '' or '/' → ''."""
    path = url.lstrip("/")
    if path.endswith("index.html"):
        path = path[: -len("index.html")]
    if path and not path.endswith("/") and "." not in posixpath.basename(path):
        path += "/"
    return path
