"""Content: front matter and YAML with line numbers, pydantic models, and cross-reference checks."""
