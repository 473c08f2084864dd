"""Lists whose cursor stops at the ends.

Textual's OptionList (and SelectionList) wraps: Down on the last row goes to the first. A
burst of arrow keys -- twelve Down sent at once over SSH or by tmux, a held key -- then ends
wherever the count modulo the list's length says: twelve Down on a twelve-model list moved
nowhere, and Space ticked the wrong model. A cursor that stops at the first and last rows
makes a burst land where the user aimed (issue 20, bug 3).
"""

from __future__ import annotations

from textual.widgets import OptionList


class StopAtEnds:
    """Mix in before an OptionList subclass: Up/Down stop at the first/last enabled row."""

    def _step(self: OptionList, direction: int) -> None:  # type: ignore[misc]
        count = self.option_count
        if not count:
            return
        index = self.highlighted
        if index is None:
            index = -1 if direction > 0 else count
        index += direction
        while 0 <= index < count:
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return
            index += direction

    def action_cursor_down(self) -> None:
        self._step(1)

    def action_cursor_up(self) -> None:
        self._step(-1)


class StoppingOptionList(StopAtEnds, OptionList):
    """An OptionList whose cursor stops at the ends."""
