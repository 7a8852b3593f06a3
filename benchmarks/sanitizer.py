"""Sanitizer: nh3 (the project's policy) against bleach (peers venv only) on the same fragments and allow-list."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from html.parser import HTMLParser

from benchmarks import corpus, peers
from benchmarks.common import BENCH_DIR, NotAvailable, Progress, Table, median, micros, quick, runs

XSS_PAYLOADS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1></circle></svg>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">tab</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">entities</a>",
    "<a href=\" javascript:alert(1)\">space</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">case</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">data</a>",
    "<a href=\"vbscript:msgbox(1)\">vb</a>",
    "<iframe src=\"https://example.org\"></iframe>",
    "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
    "<p onclick=\"alert(1)\" style=\"background:url(javascript:alert(1))\">p</p>",
    "<td style=\"text-align:center;background-image:url(javascript:alert(1))\">cell</td>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<form action=\"javascript:alert(1)\"><button>go</button></form>",
    "<body onload=alert(1)>",
    "<base href=\"javascript:alert(1)//\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=stylesheet href=\"javascript:alert(1)\">",
    "<style>@import 'javascript:alert(1)';</style>",
    "<div style=\"width:expression(alert(1))\">ie</div>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<img src=\"x\" /onerror=alert(1)>",
    "<svg><script xlink:href=\"data:,alert(1)\"></script></svg>",
    "<a href=\"http://example.org\" onmouseover=\"alert(1)\">hover</a>",
    "<input type=\"text\" autofocus onfocus=\"alert(1)\">",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=\"alert(1)\"></video>",
    "<isindex type=image src=1 onerror=alert(1)>",
    "<a href=\"&#x6A;avascript&colon;alert(1)\">colon entity</a>",
    "<template><script>alert(1)</script></template>",
    "<select><option><style></option></select><img src=x onerror=alert(1)></style>",
    "<table><td background=\"javascript:alert(1)\">bg</td></table>",
    "<span class=\"x\" title=\"\" onmouseenter=\"alert(1)\">title</span>",
    "<a href=\"mailto:someone@example.org\">fine mail link</a> <a href=\"https://example.org/ok\">fine</a>",
    "<p>Plain &lt;b&gt; text &amp; an &quot;entity&quot;</p>",
)

DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "img", "form", "base", "meta",
                  "link", "body", "video", "source", "template", "noscript", "isindex", "details", "select"}
SAFE_SCHEMES = ("http:", "https:", "mailto:")
URL_ATTRIBUTES = {"href", "src", "action", "background", "formaction", "xlink:href", "data"}


class _Executable(HTMLParser):
    """Finds what could run in a browser: script-capable tags, event handlers, script URLs, CSS expressions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            text = "".join(ch for ch in (value or "") if ch > " ").lower()
            if name.startswith("on"):
                self.found.append(f"{name}=")
            elif name in URL_ATTRIBUTES and ":" in text.split("/", 1)[0] and not text.startswith(SAFE_SCHEMES):
                self.found.append(f"{name}={text[:20]}")
            elif name == "style" and ("url(" in text or "expression(" in text):
                self.found.append("style=url()")


def executable_vectors(html: str) -> list[str]:
    parser = _Executable()
    parser.feed(html)
    parser.close()
    return parser.found


def rendered_pages(page_count: int) -> list[str]:
    """Rendered Markdown of generated pages, as the Markdown engine (comrak) hands it to the sanitizer."""
    from builder.markup import Markdown

    markdown = Markdown()
    return [markdown.html(page.body) for page in corpus.pages(page_count)]


def time_passes(clean: Callable[[str], str], items: list[str], repeats: int) -> tuple[list[str], list[float]]:
    outputs = [clean(item) for item in items]  # warm-up, and the outputs to compare
    passes = []
    for _ in range(repeats):
        started = time.perf_counter()
        for item in items:
            clean(item)
        passes.append(time.perf_counter() - started)
    return outputs, passes


def run(progress: Progress) -> list[Table]:
    import nh3

    from builder.markup import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, SANITIZER

    page_count = 20 if quick() else 300
    repeats = runs(5)
    sets = {"pages": rendered_pages(page_count), "payloads": list(XSS_PAYLOADS)}
    nh3_out: dict[str, list[str]] = {}
    nh3_sec: dict[str, list[float]] = {}
    with progress.step(f"nh3: {page_count} rendered pages and {len(XSS_PAYLOADS)} payloads ×{repeats}"):
        for name, items in sets.items():
            nh3_out[name], nh3_sec[name] = time_passes(SANITIZER.clean, items, repeats)
    peers.ensure(progress)
    job = {
        "sets": sets,
        "tags": sorted(ALLOWED_TAGS),
        "attributes": {tag: sorted(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        "protocols": ["http", "https", "mailto"],
        "styles": ["text-align"],
        "repeats": repeats,
    }
    with progress.step(f"bleach (peers venv): the same fragments ×{repeats}"):
        done = subprocess.run([str(peers.python()), str(BENCH_DIR / "bleach_worker.py")], input=json.dumps(job),
                              capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        raise NotAvailable(f"bleach worker failed: {done.stderr.strip()[-300:]}")
    bleach = json.loads(done.stdout)
    page_kib = sum(len(item.encode()) for item in sets["pages"]) / len(sets["pages"]) / 1024
    table = Table(
        f"Sanitizer: nh3 against bleach on the same fragments ({page_count} rendered pages of "
        f"{page_kib:.1f} KiB on average, {len(XSS_PAYLOADS)} XSS payloads)",
        ["sanitizer", "version", "per rendered page", "per XSS payload", "pages/s",
         "payloads left executable", "bleach's time ÷ tool's (pages)"],
    )
    results = {"nh3 (project)": (getattr(nh3, "__version__", "?"), nh3_sec, nh3_out),
               "bleach (peers venv)": (bleach["version"], bleach["seconds"], bleach["outputs"])}
    bleach_page = median(bleach["seconds"]["pages"]) / page_count
    for label, (version, sec, out) in results.items():
        per_page = median(sec["pages"]) / page_count
        per_payload = median(sec["payloads"]) / len(XSS_PAYLOADS)
        unsafe = [i for i, html in enumerate(out["payloads"]) if executable_vectors(html)]
        table.add(label, version, micros(per_page), micros(per_payload), f"{1 / per_page:,.0f}",
                  f"{len(unsafe)} of {len(XSS_PAYLOADS)}", f"{bleach_page / per_page:.1f}×")
        if label.startswith("nh3"):
            table.headline("sanitizer (nh3): XSS payloads left executable", f"{len(unsafe)} of {len(XSS_PAYLOADS)}",
                           "0", "met" if not unsafe else "MISSED")
            table.headline("sanitizer: nh3 vs bleach per rendered page (same fragments, same allow-list)",
                           f"{micros(per_page)} vs {micros(bleach_page)} ({bleach_page / per_page:.0f}× faster)",
                           "—", "for reference")
        for i in unsafe:
            table.notes.append(f"{label} left {executable_vectors(out['payloads'][i])} in payload {i + 1}")
    same = sum(1 for name in sets for a, b in zip(nh3_out[name], bleach["outputs"][name], strict=True) if a == b)
    total = sum(len(items) for items in sets.values())
    table.notes.append("same allow-list for both: builder.markup's tags, attributes (`*` → id, class), URL schemes "
                       "http/https/mailto, style limited to text-align; bleach with strip=True and its CSS sanitizer")
    table.notes.append(f"identical output on {same} of {total} fragments (the rest differ in serialisation: "
                       "attribute quoting, entity forms, what a stripped tag leaves behind)")
    table.notes.append(f"median of {repeats} passes after one warm-up pass, timed inside each process (no start-up); "
                       "'left executable' = a script-capable tag, an on* handler, a URL that is not http(s)/mailto "
                       "or a CSS url()/expression() in the output; the same check flags "
                       f"{sum(1 for p in XSS_PAYLOADS if executable_vectors(p))} of {len(XSS_PAYLOADS)} payloads "
                       "before "
                       "sanitizing (the rest are a comment, nested-tag tricks and two safe controls)")
    table.notes.append("bleach 6.4.0 is its final release (no further releases, security fixes included)")
    return [table]
