"""Messages that thread workers post to the app (results of slow work, progress floods).

Progress-like messages override ``can_replace`` so a newer one replaces an older one still
queued: the screen never falls behind a fast producer.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RunUpdated(Message):
    """New events of the followed run were folded into its state; redraw when convenient."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated) and message.run_id == self.run_id


class DeviceDetected(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class DataProgress(Message):
    def __init__(self, done: int, total: int, stage: str, unit: str = "clips") -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.stage = stage
        self.unit = unit

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataProgress)


class DataSummarised(Message):
    def __init__(self, spec: str, summary: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        self.summary = summary


class DataFailed(Message):
    def __init__(self, spec: str, message: str, hint: str) -> None:
        super().__init__()
        self.spec = spec
        self.message = message
        self.hint = hint


class Downloaded(Message):
    """A data set was fetched (``spec`` is what to summarise: its root or manifest)."""

    def __init__(self, name: str, spec: str) -> None:
        super().__init__()
        self.name = name
        self.spec = spec
