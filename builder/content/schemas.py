"""JSON Schemas of every content kind, generated from the pydantic models (so they can never disagree)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from builder.content.models import (
    ARCHIVE_KINDS,
    BoardMeta,
    GateMeta,
    SiteConfig,
    WorkstreamMeta,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# schema file name → (model, the content files it describes)
CONTENT_KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "site.schema.json": (SiteConfig, "site.yaml"),
    "board.schema.json": (BoardMeta, "board.md (front matter)"),
    "workstream.schema.json": (WorkstreamMeta, "workstreams/*.md (front matter)"),
    "gate.schema.json": (GateMeta, "gates/*.md (front matter)"),
    **{
        f"{kind}.schema.json": (model, f"archive/{kind}/*.md (front matter)")
        for kind, (model, _label) in ARCHIVE_KINDS.items()
    },
}


def content_schema(model: type[BaseModel], files: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema, "description": f"{files}: {schema.get('description', '')}".strip()}


def content_schemas() -> dict[str, str]:
    """Schema file name → its JSON text (sorted keys, so the output is stable)."""
    return {
        name: json.dumps(content_schema(model, files), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, (model, files) in CONTENT_KINDS.items()
    }
