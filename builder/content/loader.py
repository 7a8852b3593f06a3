"""Read a content folder into pages, collecting every problem as a `path:line` diagnostic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from builder.content.models import (
    ARCHIVE_KINDS,
    BoardMeta,
    GateMeta,
    SiteConfig,
    WorkstreamMeta,
)
from builder.content.references import check_references
from builder.content.source import FrontMatterError, locate, parse_yaml, split_front_matter
from builder.content.structure import Content, Page
from builder.errors import ContentError, Diagnostic, relative_path

Model = TypeVar("Model", bound=BaseModel)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
BOARD_FILE = "board.md"
SITE_FILE = "site.yaml"


class Loader:
    """Loads one content folder; `diagnostics` holds every problem found so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.diagnostics: list[Diagnostic] = []

    def display(self, path: Path) -> str:
        return relative_path(self.root / path)

    def error(self, path: Path, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.display(path), line, message))

    def validate(self, model: type[Model], data: Any, path: Path, yaml_text: str, first_line: int) -> Model | None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.error(path, first_line, "front matter must be a mapping of field: value")
            return None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for problem in error.errors(include_url=False, include_input=False):
                loc = tuple(problem["loc"])
                line = locate(yaml_text, loc, first_line=first_line)
                self.error(path, line, describe(problem, loc))
            return None

    def read_config(self) -> SiteConfig | None:
        path = Path(SITE_FILE)
        full = self.root / path
        if not full.is_file():
            self.error(path, 1, f"missing {SITE_FILE}: create it with at least `title: Your board`")
            return None
        text = full.read_text(encoding="utf-8")
        try:
            data = parse_yaml(text)
        except FrontMatterError as error:
            self.error(path, error.line, str(error))
            return None
        return self.validate(SiteConfig, data, path, text, 1)

    def read_page(self, path: Path, model: type[Model], kind: str, archive_kind: str = "") -> Page | None:
        try:
            text = (self.root / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.error(path, 1, "not UTF-8 text: save the file as UTF-8")
            return None
        try:
            source = split_front_matter(text)
            data = parse_yaml(source.meta_text, first_line=2)
        except FrontMatterError as error:
            self.error(path, error.line, str(error))
            return None
        meta = self.validate(model, data, path, source.meta_text, 2)
        if meta is None:
            return None
        slug = path.stem
        if not SLUG.match(slug):
            self.error(path, 1, f"file name '{path.name}' must be lowercase letters, digits and dashes")
            return None
        return Page(
            kind=kind,
            slug=slug,
            url=page_url(kind, slug, archive_kind),
            source=path,
            display_path=self.display(path),
            body=source.body,
            body_line=source.body_line,
            meta=meta,  # type: ignore[arg-type]
            meta_text=source.meta_text,
            archive_kind=archive_kind,
        )

    def read_folder(self, folder: str, model: type[Model], kind: str, archive_kind: str = "") -> list[Page]:
        pages = []
        for full in sorted((self.root / folder).glob("*.md")):
            page = self.read_page(full.relative_to(self.root), model, kind, archive_kind)
            if page is not None:
                pages.append(page)
        return pages

    def unexpected_files(self) -> None:
        known = {"workstreams", "gates", "archive", BOARD_FILE, SITE_FILE}
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or child.name in known:
                continue
            self.error(Path(child.name), 1, "unknown content entry: expected board.md, site.yaml, "
                       "workstreams/, gates/ or archive/ (move or delete it)")
        archive = self.root / "archive"
        if archive.is_dir():
            for child in sorted(archive.iterdir()):
                if child.is_dir() and child.name not in ARCHIVE_KINDS:
                    kinds = ", ".join(ARCHIVE_KINDS)
                    self.error(Path("archive", child.name), 1, f"unknown archive kind: use one of {kinds}")


def page_url(kind: str, slug: str, archive_kind: str = "") -> str:
    if kind == "board":
        return ""
    if kind == "archive":
        return f"archive/{archive_kind}/{slug}/"
    return f"{kind}s/{slug}/"


def describe(problem: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """A pydantic error in a contributor's words; never echoes the value (it may be private)."""
    field = ".".join(str(part) for part in loc) or "front matter"
    kind = problem["type"]
    if kind == "extra_forbidden":
        return f"unknown field '{field}': remove it or check its spelling"
    if kind == "missing":
        return f"missing required field '{field}'"
    if kind == "literal_error":
        expected = problem.get("ctx", {}).get("expected", "")
        return f"invalid value for '{field}': expected {expected}"
    message = problem["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"invalid value for '{field}': {message}"


def load_content(root: Path, *, generated: list[Page] | None = None) -> Content:
    """Load and validate every file under `root`; raise ContentError listing every problem.

    `generated` adds archive pages made by `sync` (build history, source summaries).
    """
    loader = Loader(root)
    if not root.is_dir():
        raise ContentError([Diagnostic(relative_path(root), 1, "content folder not found (pass --content DIR)")])
    config = loader.read_config()
    board_path = Path(BOARD_FILE)
    board = None
    if (root / board_path).is_file():
        board = loader.read_page(board_path, BoardMeta, "board")
    else:
        loader.error(board_path, 1, "missing board.md: the board page with title, summary and intro prose")
    workstreams = loader.read_folder("workstreams", WorkstreamMeta, "workstream")
    gates = loader.read_folder("gates", GateMeta, "gate")
    archive: dict[str, list[Page]] = {}
    for archive_kind, (model, _label) in ARCHIVE_KINDS.items():
        archive[archive_kind] = loader.read_folder(f"archive/{archive_kind}", model, "archive", archive_kind)
    for page in generated or []:
        archive.setdefault(page.archive_kind, []).append(page)
    loader.unexpected_files()
    if loader.diagnostics or config is None or board is None:
        raise ContentError(loader.diagnostics)
    content = Content(root=root, config=config, board=board, workstreams=workstreams, gates=gates, archive=archive)
    problems = check_references(content)
    if problems:
        raise ContentError(problems)
    return content
