"""What ``predict`` and ``evaluate`` must say about the run they use, so that nothing about it
is silent: its state when it is not finished (interrupted, still running, failed), and every
model or seed of its config that is left out, with the reason.

:func:`run_state_note` and :func:`left_out` only read the run folder (``status.json``,
``config.toml``, the ``RUN/<model>/<seed>/metrics.json`` files); the commands print what they
return on stderr and put it into their JSON (``run_state``, ``skipped``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from .runs import RunDir, finished_parts


@dataclass(frozen=True)
class LeftOut:
    """A model of the run not used (``seeds`` empty), or used without some of its seeds."""

    model: str
    reason: str
    seeds: tuple[int, ...] = ()  # the seeds left out; empty: the whole model

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seeds": list(self.seeds)}

    def describe(self) -> str:
        what = (f"model {self.model}" if not self.seeds
                else f"seed{'s' if len(self.seeds) > 1 else ''} "
                     f"{', '.join(map(str, self.seeds))} of model {self.model}")
        return f"left out {what}: {self.reason}"


def run_state_note(run: RunDir) -> tuple[str, str | None]:
    """``(state, note)``: the run's state (``status.json`` corrected by its lock) and, unless
    it is ``finished``, a sentence saying what that means for the results."""
    state = str(run.status().get("state", "unknown"))
    notes = {
        "finished": None,
        "running": (f"run {run.id} is still running: only the models that have finished so "
                    "far are used, and its results may change when it ends"),
        "interrupted": (f"run {run.id} was interrupted before it finished: only the models "
                        f"that finished are used (resume it: coughscope --headless --resume "
                        f"{run.id})"),
        "incomplete": (f"run {run.id} ended with failed models (see `coughscope runs show "
                       f"{run.id}`): only the models that finished are used"),
        "failed": (f"run {run.id} failed: only the models that finished before it failed are "
                   "used"),
    }
    return state, notes.get(state, f"run {run.id} is in state {state!r}, not finished: only "
                                   "the models that finished are used")


def left_out(run: RunDir, requested: Iterable[str] | None, planned: Iterable[str],
             seeds: int) -> list[LeftOut]:
    """The models of ``requested`` (default: ``planned``, the run config's models) that have
    no finished seed, and those that miss some of their ``seeds`` seeds, each with why."""
    done: dict[str, set[int]] = {}
    for model, seed in finished_parts(run):
        done.setdefault(model, set()).add(seed)
    names = list(dict.fromkeys(requested if requested else planned))
    out = []
    for name in names:
        folder = run.path / name
        have = done.get(name, set())
        if not have:
            if not folder.exists():
                reason = f"its folder {folder} is missing"
            elif not folder.is_dir():
                reason = f"{folder} is not a folder"
            else:
                reason = f"no seed of it finished (no {folder}/<seed>/metrics.json)"
            out.append(LeftOut(name, reason))
            continue
        missing = tuple(s for s in range(seeds) if s not in have)
        if missing:
            out.append(LeftOut(name, f"{len(have)} of its {seeds} seeds finished; the verdict "
                                     "averages those", missing))
    return out
