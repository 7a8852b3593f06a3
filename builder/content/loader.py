"""Read a content folder into pages, collecting every problem as a `path:line` diagnostic."""

from __future__ import annotations

import os
import re
import typing
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
from builder.content.source import (
    FrontMatterError,
    control_characters,
    control_message,
    escaped_controls,
    has_control_bytes,
    locate,
    parse_yaml,
    split_front_matter,
)
from builder.content.structure import Content, Page, Unloaded
from builder.errors import ContentError, Diagnostic, did_you_mean, relative_path

Model = TypeVar("Model", bound=BaseModel)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
BOARD_FILE = "board.md"
SITE_FILE = "site.yaml"
OUTSIDE = "a symlink to a file outside the content folder: copy the file into content/ (links may only point inside it)"


class Loader:
    """Loads one content folder; `diagnostics` holds every problem found so far, `unloaded` every file that
    exists but failed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        shown = relative_path(root)
        self.shown_prefix = "" if shown == "." else shown.rstrip(os.sep) + os.sep  # as errors print the folder
        self.root_text = str(root)
        self.diagnostics: list[Diagnostic] = []
        self.unloaded: dict[str, Unloaded] = {}

    def display(self, path: Path) -> str:
        # the path as written, not where a symlink leads (plain strings: this runs for every page)
        return self.shown_prefix + str(path)

    def error(self, path: Path, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.display(path), line, message))

    def validate(self, model: type[Model], data: Any, path: Path, yaml_text: str, first_line: int) -> Model | None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.error(path, first_line, "front matter must be a mapping of field: value")
            return None
        controls = list(escaped_controls(data)) if "\\" in yaml_text else []
        for loc, character in controls:
            self.error(path, locate(yaml_text, loc, first_line=first_line), control_message(character))
        try:
            meta = model.model_validate(data)
        except ValidationError as error:
            for problem in error.errors(include_url=False, include_input=False):
                loc = tuple(problem["loc"])
                line = locate(yaml_text, loc, first_line=first_line)
                self.error(path, line, describe(problem, loc, model))
            return None
        return None if controls else meta

    def read_text(self, path: Path, *, symlinked: bool = True) -> str | None:
        """The file's text, or None after reporting why it cannot be used (outside the folder, unreadable)."""
        full = os.path.join(self.root_text, path)
        if symlinked and not Path(full).resolve().is_relative_to(self.real_root):
            self.error(path, 1, OUTSIDE)
            return None
        try:
            with open(full, "rb") as file:
                data = file.read()
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.error(path, 1, "not UTF-8 text: save the file as UTF-8")
            return None
        except OSError as error:
            self.error(path, 1, f"cannot read the file ({error.strerror or error}): make it a readable Markdown file")
            return None
        if not has_control_bytes(data):
            return text
        bad_lines = list(control_characters(text))
        for line, message in bad_lines:
            self.error(path, line, message)
        return None if bad_lines else text

    def read_config(self) -> SiteConfig | None:
        path = Path(SITE_FILE)
        full = self.root / path
        if not full.is_file():
            self.error(path, 1, f"missing {SITE_FILE}: create it with at least `title: Your board`")
            return None
        text = self.read_text(path)
        if text is None:
            return None
        try:
            data = parse_yaml(text)
        except FrontMatterError as error:
            self.error(path, error.line, str(error))
            return None
        return self.validate(SiteConfig, data, path, text, 1)

    def read_page(self, path: Path, model: type[Model], kind: str, archive_kind: str = "", *,
                  symlinked: bool = True) -> Page | None:
        data: Any = None
        page = None
        text = self.read_text(path, symlinked=symlinked)
        if text is not None:
            try:
                source = split_front_matter(text)
                data = parse_yaml(source.meta_text, first_line=2)
            except FrontMatterError as error:
                self.error(path, error.line, str(error))
            else:
                page = self.page(path, model, kind, archive_kind, source.meta_text, source.body, source.body_line,
                                 data)
        if page is None:
            self.unloaded[path.as_posix()] = Unloaded(page_url(kind, path.stem, archive_kind),
                                                      data if isinstance(data, dict) else {})
        return page

    def page(self, path: Path, model: type[Model], kind: str, archive_kind: str, meta_text: str, body: str,
             body_line: int, data: Any) -> Page | None:
        meta = self.validate(model, data, path, meta_text, 2)
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
            body=body,
            body_line=body_line,
            meta=meta,  # type: ignore[arg-type]
            meta_text=meta_text,
            archive_kind=archive_kind,
        )

    def read_folder(self, folder: str, model: type[Model], kind: str, archive_kind: str = "") -> list[Page]:
        full = self.root / folder
        try:
            entries = sorted((e for e in os.scandir(full) if e.name.endswith(".md") and not e.name.startswith(".")),
                             key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            self.error(Path(folder), 1, f"cannot read the folder ({error.strerror or error})")
            return []
        # a real folder inside the root: only the entries that are symlinks need resolving (one stat saved a page)
        folder_inside = not full.is_symlink() and full.resolve().is_relative_to(self.real_root)
        pages = []
        for entry in entries:
            page = self.read_page(Path(folder, entry.name), model, kind, archive_kind,
                                  symlinked=not folder_inside or entry.is_symlink())
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
                    hint = did_you_mean(child.name, ARCHIVE_KINDS)
                    self.error(Path("archive", child.name), 1,
                               f"unknown archive kind:{' ' + hint if hint else ''} use one of {kinds}")


def page_url(kind: str, slug: str, archive_kind: str = "") -> str:
    if kind == "board":
        return ""
    if kind == "archive":
        return f"archive/{archive_kind}/{slug}/"
    return f"{kind}s/{slug}/"


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `list[Dependency]` or `Evidence | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = nested_model(argument)
        if found is not None:
            return found
    return None


def field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The fields allowed at `loc` (the mapping holding the last part of a pydantic error's loc)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(str(part)) if current is not None else None
        current = nested_model(info.annotation) if info is not None else None
        if current is None:
            return []
    return list(current.model_fields) if current is not None else []


def describe(problem: dict[str, Any], loc: tuple[Any, ...], model: type[BaseModel] | None = None) -> str:
    """A pydantic error in a contributor's words; never echoes the value (it may be private)."""
    field = ".".join(str(part) for part in loc) or "front matter"
    kind = problem["type"]
    if kind == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), field_names(model, loc[:-1])) if model is not None and loc else ""
        return f"unknown field '{field}': {hint or 'remove it or check its spelling'}"
    if kind == "missing":
        return f"missing required field '{field}'"
    if kind == "literal_error":
        expected = problem.get("ctx", {}).get("expected", "")
        return f"invalid value for '{field}': expected {expected}"
    message = problem["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if kind.startswith("date_"):
        _, _, reason = message.partition(", ")
        return f"invalid date for '{field}': expected YYYY-MM-DD, e.g. 2026-03-14" + (f" ({reason})" if reason else "")
    return f"invalid value for '{field}': {message}"


def placeholder_board(root: Path) -> Page:
    """Stands in for a missing or invalid board.md so the rest of the tree is still checked."""
    meta = BoardMeta(title="Board", summary="Board")
    return Page(kind="board", slug="board", url="", source=Path(BOARD_FILE),
                display_path=relative_path(root / BOARD_FILE), body="", body_line=1, meta=meta)


def read_content(root: Path, *, generated: list[Page] | None = None) -> tuple[Content, list[Diagnostic]]:
    """Load every file under `root` and check references between them; return the pages that loaded and every
    problem found (a file that failed is left out of the pages but still counts as a target).

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
    content = Content(
        root=root, config=config or SiteConfig(title="Board"), board=board or placeholder_board(root),
        workstreams=workstreams, gates=gates, archive=archive, unloaded=loader.unloaded,
    )
    return content, loader.diagnostics + check_references(content)


def load_content(root: Path, *, generated: list[Page] | None = None) -> Content:
    """Load and validate every file under `root`; raise ContentError listing every problem (links aside: they
    are checked when the pages are rendered)."""
    content, problems = read_content(root, generated=generated)
    if problems:
        raise ContentError(problems)
    return content
