"""Checks over built HTML: the Nu validator, executable markup, and internal links under a sub-path."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from tests.support import NODE_MODULES, missing_tool

VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"

# --- HTML5 validation ----------------------------------------------------------------------------------------------

_GNU_LINE = re.compile(
    r'^"(?:file:)?(?P<file>[^"]+)":(?P<line>\d+)\.(?P<col>\d+)(?:-[\d.]+)?: (?P<kind>[a-z ]+): (?P<msg>.*)$'
)


def validate_html5(paths: Iterable[Path]) -> list[str]:
    """Validate HTML files with the Nu HTML Checker in one JVM; return ``file:line:col: message`` per error."""
    files = [Path(p).resolve() for p in paths]
    if not files:
        return []
    missing = [str(p) for p in files if not p.is_file()]
    if missing:  # vnu silently passes a path that does not exist
        raise FileNotFoundError(f"no such file to validate: {', '.join(missing)}")
    java = shutil.which("java")
    if java is None:
        missing_tool("java is not installed (apt-get install openjdk-17-jre-headless)")
    if not VNU_JAR.is_file():
        missing_tool(f"{VNU_JAR} is missing (run npm ci)")
    done = subprocess.run(
        [java, "-jar", str(VNU_JAR), "--errors-only", "--format", "gnu", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [_readable_vnu_line(line) for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    if done.returncode != 0 and not errors:
        errors.append(f"vnu exited with {done.returncode} and printed nothing")
    return errors


def _readable_vnu_line(line: str) -> str:
    match = _GNU_LINE.match(line)
    if match is None:
        return line
    kind = "" if match["kind"] == "error" else f"{match['kind']}: "
    return f"{match['file']}:{match['line']}:{match['col']}: {kind}{match['msg']}"


# --- executable markup ---------------------------------------------------------------------------------------------

_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "ping", "cite"}
_NAVIGATING_ATTRIBUTES = {"href", "action", "formaction", "xlink:href", "data"}
_ALWAYS_EXECUTABLE_SCHEMES = ("javascript:", "vbscript:", "data:text/html")
# Only executable when navigated to or embedded as a document, not as an <img>.
_NAVIGATION_SCHEMES = ("data:application/xhtml", "data:image/svg", "data:text/xml", "data:application/xml")
_EMBEDDING_ELEMENTS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"}
_SVG_ANIMATIONS = {"animate", "set", "animatetransform", "animatemotion"}
_WHITESPACE_IN_URL = re.compile(r"[\t\n\r]")


def _url_scheme_form(value: str) -> str:
    """A URL as the browser sees its scheme: leading C0 controls and spaces dropped, tabs/newlines removed."""
    return _WHITESPACE_IN_URL.sub("", value).lstrip("".join(map(chr, range(0x21)))).lower()


class _ExecutableMarkupFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.findings: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def _report(self, what: str) -> None:
        self.findings.append(f"line {self.getpos()[0]}: {what}")

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            kind = values.get("type", "").strip().lower()
            if kind != "application/ld+json":
                self._report(f"<script{f' type={kind!r}' if kind else ''}> element")
        elif tag in _EMBEDDING_ELEMENTS:
            self._report(f"<{tag}> element")
        elif tag == "meta" and values.get("http-equiv", "").strip().lower() == "refresh":
            self._report("<meta http-equiv=refresh>")
        elif tag in _SVG_ANIMATIONS and values.get("attributename", "").strip().lower() in {"href", "xlink:href"}:
            self._report(f"<{tag}> animating {values['attributename']}")
        for name, value in values.items():
            if name.startswith("on"):
                self._report(f"<{tag}> event handler attribute {name}={value[:60]!r}")
            elif name == "srcdoc":
                self._report(f"<{tag}> srcdoc attribute")
            elif name in _URL_ATTRIBUTES:
                url = _url_scheme_form(value)
                schemes = _ALWAYS_EXECUTABLE_SCHEMES + (_NAVIGATION_SCHEMES if name in _NAVIGATING_ATTRIBUTES else ())
                if url.startswith(schemes):
                    self._report(f"<{tag}> {name}={value[:60]!r}")


SEARCH_SCRIPT = re.compile(
    r'<script src="(?:\.\./)*assets/search\.js" data-pagefind="(?:\.\./)*pagefind/pagefind\.js" '
    r'data-site-root="(?:\.\./)*(?:\./)?" defer></script>'
)


def without_search_script(html: str) -> str:
    """A built page without the site's own search enhancement (the one script the templates add, at most once)."""
    assert len(SEARCH_SCRIPT.findall(html)) <= 1
    return SEARCH_SCRIPT.sub("", html)


def find_executable_markup(html: str) -> list[str]:
    """Everything in ``html`` that could run code: scripts (JSON-LD excepted), handlers, script URLs, frames…"""
    finder = _ExecutableMarkupFinder()
    finder.feed(html)
    finder.close()
    return finder.findings


# --- internal links ------------------------------------------------------------------------------------------------

_ORIGIN = "http://site.invalid"  # stands in for the real host while links are resolved
_LINK_ATTRIBUTES = {"href", "src", "poster", "data", "action", "formaction", "xlink:href"}
_XML_TEXT_LINKS = {"loc", "link", "icon", "logo"}  # sitemap <loc>, RSS <link>, Atom <icon>/<logo>


@dataclass
class _PageLinks:
    links: list[tuple[int, str]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _PageLinks()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.page.ids.add(value)
            elif name in _LINK_ATTRIBUTES:
                self.page.links.append((line, value.strip()))
            elif name in {"srcset", "imagesrcset"}:
                for candidate in value.split(","):
                    if candidate.strip():
                        self.page.links.append((line, candidate.split()[0]))

    handle_startendtag = handle_starttag


def _collect_html(path: Path) -> _PageLinks:
    collector = _LinkCollector()
    collector.feed(path.read_text(encoding="utf-8"))
    collector.close()
    return collector.page


def _collect_xml(path: Path) -> _PageLinks:
    page = _PageLinks()
    for element in ET.parse(path).iter():  # noqa: S314 - our own build output
        local = element.tag.rsplit("}", 1)[-1]
        for name in ("href", "src"):
            if element.get(name):
                page.links.append((0, element.get(name, "").strip()))
        if local in _XML_TEXT_LINKS and element.text and element.text.strip():
            page.links.append((0, element.text.strip()))
    return page


def internal_link_errors(site_dir: Path, base_path: str = "/", *, site_url: str | None = None) -> list[str]:
    """Every internal link of a built site that does not resolve, as ``page:line: broken link → target (why)``.

    A link is internal when it is relative, starts with ``/`` (it must then start with ``base_path``, or it
    escapes the sub-path the site is served from), or starts with ``site_url`` (absolute URLs in the sitemap
    and feed). It resolves to a file, or to a folder holding ``index.html``; a ``#fragment`` must name an
    ``id`` in the target page.
    """
    site_dir = Path(site_dir)
    base = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"
    site_root = _ORIGIN + base
    external_root = site_url.rstrip("/") + "/" if site_url else None
    pages: dict[Path, _PageLinks] = {}
    id_cache: dict[Path, set[str]] = {}

    def ids_of(target: Path) -> set[str]:
        if target not in id_cache:
            id_cache[target] = pages[target].ids if target in pages else _collect_html(target).ids
        return id_cache[target]

    errors: list[str] = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix in {".html", ".htm"} and path.is_file():
            pages[path] = _collect_html(path)
        elif path.suffix == ".xml" and path.is_file():
            try:
                pages[path] = _collect_xml(path)
            except ET.ParseError as error:
                errors.append(f"{path.relative_to(site_dir).as_posix()}: not well-formed XML ({error})")

    for path, page in pages.items():
        relative_page = path.relative_to(site_dir).as_posix()
        page_url = site_root + relative_page
        for line, raw in page.links:
            link = raw
            if external_root and link.startswith(external_root):
                link = base + link[len(external_root) :]
            problem = _resolve(site_dir, site_root, page_url, link, ids_of)
            if problem:
                where = f"{relative_page}:{line}" if line else relative_page
                errors.append(f"{where}: broken link → {raw} ({problem})")
    return errors


def _resolve(
    site_dir: Path, site_root: str, page_url: str, link: str, ids_of: Callable[[Path], set[str]]
) -> str | None:
    """Why ``link`` on ``page_url`` does not resolve inside ``site_dir``, or None when it does (or is external)."""
    if not link or link.startswith("//") or urlsplit(link).scheme:
        return None  # absolute: http(s) elsewhere, mailto:, tel:, data: (executable schemes are another check)
    resolved = urlsplit(urljoin(page_url, link))
    if not (resolved.scheme + "://" + resolved.netloc + resolved.path + "/").startswith(site_root):
        return f"outside the site's base path {urlsplit(site_root).path}"
    relative = unquote(resolved.path[len(urlsplit(site_root).path) :])
    target = site_dir / relative
    if relative == "" or relative.endswith("/"):
        target = target / "index.html"
    elif target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "no such file"
    fragment = unquote(resolved.fragment)
    if fragment and target.suffix in {".html", ".htm"} and fragment.lower() != "top":
        if fragment not in ids_of(target):
            return f"no element with id {fragment!r} in {target.relative_to(site_dir).as_posix()}"
    return None

