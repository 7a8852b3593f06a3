"""The board's Jinja2 environment: the shared set-up (`builder.templating`) over the board's templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from builder.site.options import TEMPLATES_DIR
from builder.templating import human_date, make_environment as _make_environment, template_error

__all__ = ["human_date", "make_environment", "template_error"]


def make_environment(templates_dir: Path = TEMPLATES_DIR, *, overrides: Path | None = None) -> Environment:
    """Templates from `templates_dir`; a file of the same name in `overrides` wins (MkDocs' custom_dir)."""
    return _make_environment(templates_dir, overrides=overrides)
