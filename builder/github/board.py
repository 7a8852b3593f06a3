"""What the GitHub source adds to one board build, behind one object the site pipeline calls.

    layer = GitHubLayer.resolve(content_root, offline=..., cache_dir=..., github=...)  # may sync or raise SourceError
    content = load_content(root, generated=layer.pages)
    Markdown(plugins=layer.plugins); SiteRenderer(..., evidence=layer.evidence)
    warnings += layer.contradictions(content)                                # `build --strict` fails on them
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from builder.content.models import Evidence, GateMeta
from builder.content.structure import Content, Page
from builder.errors import Diagnostic
from builder.github.evidence import EvidenceView, summarise
from builder.github.pages import generated_pages
from builder.github.refs import refs_plugin
from builder.github.snapshot import Snapshot, dumps
from builder.github.source import Say, resolve_snapshot, say_on_stderr
from builder.markup import Plugin
from builder.settings import GitHubEnv


@dataclass
class GitHubLayer:
    snapshot: Snapshot | None
    pages: list[Page] = field(default_factory=list)
    _views: dict[str, EvidenceView | None] = field(default_factory=dict)

    @classmethod
    def resolve(cls, content_root: Path, *, offline: bool, cache_dir: Path, github: GitHubEnv,
                say: Say = say_on_stderr) -> GitHubLayer:
        snapshot = resolve_snapshot(content_root, offline=offline, cache_dir=cache_dir, github=github, say=say)
        return cls(snapshot=snapshot, pages=generated_pages(snapshot))

    @property
    def plugins(self) -> list[Plugin]:
        return [refs_plugin(self.snapshot)]

    @property
    def key(self) -> str:
        """Changes whenever the snapshot does, for the build's up-to-date and reuse checks."""
        data = dumps(self.snapshot) if self.snapshot is not None else "no snapshot"
        return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()

    def evidence(self, page: Page) -> EvidenceView | None:
        """The evidence view for a gate or an archive entry that links GitHub work (None otherwise)."""
        meta = page.meta
        if page.generated or not isinstance(meta, Evidence):
            return None
        key = page.content_path
        if key not in self._views:
            status = meta.status if isinstance(meta, GateMeta) else None
            self._views[key] = summarise(meta, self.snapshot, status=status)
        return self._views[key]

    def issue_state(self, ref: str) -> str | None:
        """The snapshot's state of one linked issue or pull request ("open", "closed", "merged"…; None: unknown)."""
        issue = self.snapshot.issues.get(ref) if self.snapshot is not None else None
        return issue.state if issue is not None else None

    def contradictions(self, content: Content) -> list[Diagnostic]:
        """A diagnostic at the `status:` line of every gate whose declared status its evidence contradicts."""
        problems = []
        for gate in content.gates:
            view = self.evidence(gate)
            if view is not None and view.contradiction:
                problems.append(Diagnostic(gate.display_path, gate.line_of("status"),
                                           f"gate status contradicts its GitHub evidence: {view.contradiction}"))
        return problems
