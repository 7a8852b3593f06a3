"""Which lessons and decisions name a gate: their `gate:`/`gates:` fields and the links in their text."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from builder.content.models import DecisionMeta, LessonMeta
from builder.content.structure import Page
from builder.urls import join_content_path, normalise_site_url

# inline links and images `](target "title")`, reference definitions `[x]: target`, autolinks `<target>`
LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)|^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)|<([^>\s]+)>", re.M)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def linked_urls(page: Page, urls_by_source: dict[str, str]) -> set[str]:
    """Site URLs the page's Markdown links to (`.md` files and site paths alike)."""
    urls = set()
    for match in LINK_TARGET.finditer(page.body):
        href = next(group for group in match.groups() if group)
        path = href.partition("#")[0]
        if not path or EXTERNAL.match(path):
            continue
        if path.endswith(".md"):
            target = urls_by_source.get(join_content_path(page.content_path, path))
        else:
            joined = path if path.startswith("/") else posixpath.join(page.url, path)
            target = normalise_site_url(posixpath.normpath(joined) + ("/" if path.endswith("/") else ""))
        if target:
            urls.add(target)
    return urls


def named_gates(page: Page, gate_urls: dict[str, str], urls_by_source: dict[str, str]) -> set[str]:
    """Slugs of the gates a lesson or decision names, by field or by link."""
    meta = page.meta
    slugs = set()
    if isinstance(meta, LessonMeta) and meta.gate:
        slugs.add(meta.gate)
    if isinstance(meta, DecisionMeta):
        slugs.update(meta.gates)
    if "gates" in page.body:  # a link to a gate (its .md file or its URL) names the folder: most pages have none
        by_url = {url: slug for slug, url in gate_urls.items()}
        slugs.update(by_url[url] for url in linked_urls(page, urls_by_source) if url in by_url)
    return slugs


def gate_backlinks(gates: Iterable[Page], entries: Iterable[Page], urls_by_source: dict[str, str]) -> dict[str, list[Page]]:
    """Gate slug → the lessons and decisions that name it, newest first."""
    gate_urls = {gate.slug: gate.url for gate in gates}
    found: dict[str, list[Page]] = {slug: [] for slug in gate_urls}
    for entry in entries:
        for slug in named_gates(entry, gate_urls, urls_by_source):
            if slug in found:
                found[slug].append(entry)
    for pages in found.values():
        pages.sort(key=lambda p: (-p.meta.date.toordinal(), p.slug))  # type: ignore[union-attr]
    return found
