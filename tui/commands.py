"""The command palette provider: every app action, by name (Ctrl+P)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class CoughscopeCommands(Provider):
    """Lists the app's actions (``CoughscopeApp.palette_actions``)."""

    def _actions(self) -> list[tuple[str, str, str]]:
        actions = getattr(self.app, "palette_actions", None)
        return actions() if actions else []

    def _runner(self, action: str):  # type: ignore[no-untyped-def]
        return partial(self.app.run_palette_action, action)  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for name, action, help_text in self._actions():
            yield DiscoveryHit(name, self._runner(action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._actions():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), self._runner(action), help=help_text)
