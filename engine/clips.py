"""The vocabulary every data source speaks: clips, exclusions and clip sets.

A *source* (see :mod:`engine.sources`) turns a location into a :class:`ClipSet`: the usable
:class:`Clip` objects plus every :class:`Exclusion` with its reason, so nothing is dropped
silently. Labels are always the strings ``"negative"`` and ``"positive"``; index 1 is the
positive class everywhere (arrays, probabilities, metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LABELS: tuple[str, str] = ("negative", "positive")
POSITIVE = "positive"
NEGATIVE = "negative"


def label_index(label: str) -> int:
    """0 for ``negative``, 1 for ``positive``."""
    return LABELS.index(label)


@dataclass(frozen=True)
class Clip:
    """One recording.

    ``group`` is the participant (or, when the source does not know one, the clip's own
    path) and is what splits keep disjoint. ``meta`` holds every other column the source
    knows (``source``, ``date``, ``quality``...), as strings.
    """

    path: Path
    label: str
    group: str
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def y(self) -> int:
        return label_index(self.label)


@dataclass(frozen=True)
class Exclusion:
    """A clip that will not be used, and why. ``stage`` is ``source`` or ``audio``."""

    path: str
    reason: str
    stage: str = "source"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "stage": self.stage}


@dataclass
class ClipSet:
    """What a source found at a location.

    ``counts`` holds named tallies a user should see (e.g. ``csv_rows_without_audio``),
    ``notes`` human sentences about them. ``synthetic`` is true for the demo generator, and
    everything that displays such a set says so.
    """

    kind: str
    root: Path
    description: str
    clips: list[Clip]
    excluded: list[Exclusion] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def meta_columns(self) -> list[str]:
        """Metadata columns present on every clip, in first-seen order."""
        if not self.clips:
            return []
        cols = list(self.clips[0].meta)
        return [c for c in cols if all(c in clip.meta for clip in self.clips)]

    def label_counts(self) -> dict[str, int]:
        out = {lab: 0 for lab in LABELS}
        for clip in self.clips:
            out[clip.label] += 1
        return out

    def n_groups(self) -> int:
        return len({clip.group for clip in self.clips})
