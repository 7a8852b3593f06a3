"""A deterministic corpus of realistic Markdown pages, written out for Giftboard and for each peer from the SAME bodies.

Each page has headings, paragraphs with emphasis, inline code and links, a bullet list, an ordered list, a table
and a fenced code block, 600–1,200 words. The bodies are identical for every tool; only the wrapping differs
(front matter and configuration each tool needs).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

GENERATOR_VERSION = 1
SEED = 20261125

WORDS = (
    "gate release launch board queue ledger worker lease retry order gift song lyrics audio cover page token build "
    "render template archive lesson decision task review branch commit workflow runner cache manifest snapshot "
    "provider timeout backoff jitter audit support refund payment intake signature replay idempotent durable "
    "publish takedown privacy guard story recipient occasion style tempo mood genre folk jazz warm tender joyful "
    "measure latency throughput budget target baseline regression profile parallel process thread memory disk "
    "network loopback browser paint load bytes compress image sized static inline critical stylesheet contrast "
    "heading landmark keyboard focus label error message contributor preview strict check reference link file "
    "line column front matter yaml markdown table list code block paragraph emphasis quiet honest careful small "
    "clear plain simple exact steady reliable fast slow early late first last next previous every some many few "
    "team member owner reviewer engineer operator customer reader writer editor planner tester"
).split()
LANGS = ("python", "bash", "yaml", "json")


@dataclass(frozen=True)
class SourcePage:
    slug: str
    title: str
    date: date
    summary: str
    body: str  # Markdown, no front matter; starts below the title (which each tool renders itself)

    @property
    def words(self) -> int:
        return len(self.body.split())


def _sentence(rng: random.Random, lo: int = 8, hi: int = 18) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    # sprinkle inline markup: strong, emphasis, inline code, an external link
    roll = rng.random()
    i = rng.randrange(len(words))
    if roll < 0.15:
        words[i] = f"**{words[i]}**"
    elif roll < 0.28:
        words[i] = f"*{words[i]}*"
    elif roll < 0.38:
        words[i] = f"`{words[i]}_{rng.randint(1, 99)}`"
    elif roll < 0.48:
        words[i] = f"[{words[i]}](https://example.org/{rng.choice(WORDS)}/{rng.randint(1, 999)})"
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".........?!")


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).capitalize()


def _table(rng: random.Random) -> str:
    head = "| Stage | Owner | p50 (ms) | p95 (ms) | Status |"
    sep = "| --- | --- | ---: | ---: | --- |"
    rows = []
    for _ in range(rng.randint(3, 6)):
        p50 = rng.randint(2, 400)
        rows.append(f"| {rng.choice(WORDS)} | {rng.choice(WORDS)} | {p50} | {p50 + rng.randint(1, 300)} | "
                    f"{rng.choice(('ok', 'slow', 'planned', 'done'))} |")
    return "\n".join([head, sep, *rows])


def _code(rng: random.Random) -> str:
    lang = rng.choice(LANGS)
    name = rng.choice(WORDS)
    if lang == "python":
        lines = [f"def {name}_{rng.randint(1, 9)}(items: list[str]) -> int:", "    total = 0",
                 "    for item in items:", f"        if item.startswith({rng.choice(WORDS)!r}):",
                 "            total += len(item)", "    return total"]
    elif lang == "bash":
        lines = [f"python -m builder build --content content --out site  # {name}",
                 f"grep -c {rng.choice(WORDS)} site/index.html"]
    elif lang == "yaml":
        lines = [f"title: {rng.choice(WORDS)}", f"date: 2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                 f"tags: [{rng.choice(WORDS)}, {rng.choice(WORDS)}]"]
    else:
        lines = ["{", f'  "{name}": {rng.randint(1, 999)},', f'  "state": "{rng.choice(WORDS)}"', "}"]
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def make_page(index: int) -> SourcePage:
    rng = random.Random(SEED * 100_003 + index)
    target = rng.randint(580, 1080)
    title = f"{_title(rng)} {index}"
    blocks: list[str] = [_paragraph(rng)]
    placed = {"table": False, "code": False, "ul": False, "ol": False}
    section = 0
    while len(" ".join(blocks).split()) < target or not all(placed.values()):
        section += 1
        blocks.append(f"## {_title(rng)}")
        blocks.append(_paragraph(rng))
        pending = [kind for kind, done in placed.items() if not done]
        kind = pending[0] if pending else rng.choice(("p", "p", "ul", "table", "code", "h3"))
        if kind == "ul":
            blocks.append("\n".join(f"- {_sentence(rng, 4, 10)}" for _ in range(rng.randint(3, 6))))
        elif kind == "ol":
            blocks.append("\n".join(f"{n}. {_sentence(rng, 4, 10)}" for n in range(1, rng.randint(3, 6) + 1)))
        elif kind == "table":
            blocks.append(_table(rng))
        elif kind == "code":
            blocks.append(_code(rng))
        elif kind == "h3":
            blocks.append(f"### {_title(rng)}")
            blocks.append(_paragraph(rng))
        else:
            blocks.append(_paragraph(rng))
        if kind in placed:
            placed[kind] = True
        if section > 40:
            break
    day = date(2024, 1, 1) + timedelta(days=index % 900)
    return SourcePage(
        slug=f"page-{index:05d}",
        title=title,
        date=day,
        summary=_sentence(rng, 6, 12).rstrip(".?!"),
        body="\n\n".join(blocks) + "\n",
    )


def pages(count: int) -> Iterator[SourcePage]:
    for index in range(count):
        yield make_page(index)


def yaml_str(text: str) -> str:
    """A double-quoted YAML (and TOML-compatible) scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- writers: one per tool, same bodies ---------------------------------------------------------------------


def write_giftboard(root: Path, corpus: list[SourcePage]) -> Path:
    """Our content folder: site.yaml, board.md, and every page as an archive lesson."""
    lessons = root / "archive" / "lessons"
    lessons.mkdir(parents=True, exist_ok=True)
    (root / "site.yaml").write_text(
        'title: "Benchmark board"\ndescription: "A generated corpus for make bench"\n', encoding="utf-8"
    )
    (root / "board.md").write_text(
        "---\ntitle: Benchmark board\nsummary: Generated pages for the build benchmark.\n---\n\n"
        "This board exists to be built quickly. Its archive holds the generated lessons.\n",
        encoding="utf-8",
    )
    for page in corpus:
        (lessons / f"{page.slug}.md").write_text(
            f"---\ntitle: {yaml_str(page.title)}\ndate: {page.date.isoformat()}\n"
            f"summary: {yaml_str(page.summary)}\n---\n\n{page.body}",
            encoding="utf-8",
        )
    return root


def giftboard_page_path(root: Path, page: SourcePage) -> Path:
    return root / "archive" / "lessons" / f"{page.slug}.md"


def write_mkdocs(root: Path, corpus: list[SourcePage]) -> Path:
    """docs/ plus mkdocs.yml with a short explicit nav (the automatic nav of 4,000 pages is far slower)."""
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.md").write_text("# Benchmark board\n\nGenerated pages for the build benchmark.\n",
                                   encoding="utf-8")
    for page in corpus:
        (docs / f"{page.slug}.md").write_text(f"# {page.title}\n\n{page.body}", encoding="utf-8")
    nav = ["  - Home: index.md"] + [f"  - {yaml_str(p.title)}: {p.slug}.md" for p in corpus[:10]]
    (root / "mkdocs.yml").write_text(
        "site_name: Benchmark board\nuse_directory_urls: true\nmarkdown_extensions:\n  - tables\n"
        "  - fenced_code\nnav:\n" + "\n".join(nav) + "\n",
        encoding="utf-8",
    )
    return root


def write_pelican(root: Path, corpus: list[SourcePage]) -> Path:
    """content/ with Pelican metadata plus a small pelicanconf.py (default theme, one Atom feed of 50 entries)."""
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    for page in corpus:
        (content / f"{page.slug}.md").write_text(
            f"Title: {page.title}\nDate: {page.date.isoformat()}\nSlug: {page.slug}\n"
            f"Summary: {page.summary}\n\n{page.body}",
            encoding="utf-8",
        )
    (root / "pelicanconf.py").write_text(
        'AUTHOR = "Bench"\nSITENAME = "Benchmark board"\nSITEURL = ""\nPATH = "content"\n'
        'TIMEZONE = "UTC"\nDEFAULT_LANG = "en"\nRELATIVE_URLS = True\nDEFAULT_PAGINATION = 20\n'
        'FEED_ALL_ATOM = "feeds/all.atom.xml"\nFEED_MAX_ITEMS = 50\nCATEGORY_FEED_ATOM = None\n'
        "TRANSLATION_FEED_ATOM = None\n"
        "AUTHOR_FEED_ATOM = None\nAUTHOR_FEED_RSS = None\nLOAD_CONTENT_CACHE = False\n"
        'MARKDOWN = {"extension_configs": {"markdown.extensions.extra": {}}, "output_format": "html5"}\n',
        encoding="utf-8",
    )
    return root


HUGO_BASEOF = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }} · {{ .Site.Title }}</title></head>
<body><main>{{ block "main" . }}{{ end }}</main></body></html>
"""
HUGO_SINGLE = """{{ define "main" }}<article><h1>{{ .Title }}</h1>
<time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 January 2006" }}</time>
{{ .Content }}</article>{{ end }}
"""
HUGO_LIST = """{{ define "main" }}<h1>{{ .Title }}</h1><ul>
{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Date.Format "2006-01-02" }}</li>
{{ end }}</ul>{{ end }}
"""


def write_hugo(root: Path, corpus: list[SourcePage]) -> Path:
    """content/lessons/ with YAML front matter and minimal layouts (no theme)."""
    content = root / "content" / "lessons"
    content.mkdir(parents=True, exist_ok=True)
    (root / "content" / "_index.md").write_text("---\ntitle: Benchmark board\n---\n\nGenerated pages.\n",
                                                 encoding="utf-8")
    for page in corpus:
        (content / f"{page.slug}.md").write_text(
            f"---\ntitle: {yaml_str(page.title)}\ndate: {page.date.isoformat()}\n"
            f"summary: {yaml_str(page.summary)}\n---\n\n{page.body}",
            encoding="utf-8",
        )
    layouts = root / "layouts"
    layouts.mkdir(parents=True, exist_ok=True)
    (layouts / "baseof.html").write_text(HUGO_BASEOF, encoding="utf-8")
    (layouts / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (layouts / "list.html").write_text(HUGO_LIST, encoding="utf-8")
    (root / "hugo.toml").write_text(
        # like Giftboard's output: one feed of the 50 newest entries, a sitemap, no taxonomies. Hugo's default
        # (an RSS feed of every page for the home page and for the section) more than doubles its build time.
        'baseURL = "https://example.org/"\ntitle = "Benchmark board"\nrelativeURLs = true\n'
        'disableKinds = ["taxonomy", "term"]\n[services.rss]\nlimit = 50\n'
        '[outputs]\nhome = ["html", "rss"]\nsection = ["html"]\n',
        encoding="utf-8",
    )
    return root
