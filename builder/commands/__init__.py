"""One module per CLI verb; each defines `register(subparsers)` and sets `run` on its parser."""
