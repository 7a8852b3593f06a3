"""The one Jinja2 set-up shared by the board site and the gift page, and the one Jinja error mapper.

`make_environment(folder)`: autoescape everywhere, StrictUndefined, no auto-reload, the `human_date` filter.
`template_error(error)`: a Jinja error as a BuildError naming the template file and line.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateError

from builder.errors import BuildError, relative_path


def human_date(value: date | datetime) -> str:
    return f"{value:%d %B %Y}".lstrip("0")


def make_environment(templates_dir: Path, *, overrides: Path | None = None) -> Environment:
    """A strict, autoescaping environment over `templates_dir` (a BuildError when the folder is missing); a file
    of the same name in `overrides` wins (MkDocs' custom_dir)."""
    if not templates_dir.is_dir():
        raise BuildError(f"{templates_dir}: templates folder not found")
    loaders: list[BaseLoader] = [FileSystemLoader(overrides)] if overrides is not None else []
    env = Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(templates_dir)]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["human_date"] = human_date
    return env


def template_error(error: TemplateError) -> BuildError:
    """Map a Jinja error to a BuildError that names the template file and line.

    Syntax errors carry both; runtime errors (an undefined name) only show in the traceback, whose frames
    Jinja rewrites to point at template lines.
    """
    filename = getattr(error, "filename", None)
    line = getattr(error, "lineno", None)
    if filename is None:
        traceback = error.__traceback__
        while traceback is not None:
            frame_file = traceback.tb_frame.f_code.co_filename
            if not frame_file.endswith(".py") and not frame_file.startswith("<"):
                filename, line = frame_file, traceback.tb_lineno
            traceback = traceback.tb_next
    where = relative_path(Path(filename)) if filename else "template"
    return BuildError(f"{where}:{line or 1}: {error.message or error}")
