"""A run on several processes (torchrun, srun): rank 0 leads, the other ranks follow.

Every rank runs the same command line, but only rank 0 runs the study: it checks the run,
preprocesses the data, fits the baselines and the pytorch-tabular models, predicts, scores,
makes the figures and writes the run directory -- CPU work done once. The other ranks
(:func:`follow`) wait for its orders on a gloo group of their own
(:func:`engine.launch.orders_group`, CPU only, a long timeout: rank 0's CPU work between two
fits may rightly take long):

``data``  rank 0 has preprocessed; each follower prepares the same data set with rank 0's
          config (its preset's choices made) -- from the
          cache rank 0 has just filled, or, on a node that does not share its file system,
          by preprocessing with its share of the node's cores
          (:func:`engine.launch.preprocess_workers`) -- and every rank checks that they all
          hold the same clips, labels, participants and split.
``fit``   a torch model's fit, sent by :func:`send_fit` from :func:`engine.models.fit` on
          rank 0: the model, the rows it trains and validates on (never the arrays), the
          whole :class:`~engine.models.FitContext` (recipe, seed, refit epochs, chosen
          hyperparameters) and, when it resumes, the bytes of rank 0's ``last.pt``. Every
          rank trains it together (:mod:`engine.trainer`); choices (history, best epoch,
          refit length, the model list) are rank 0's, so the ranks cannot disagree.
``end``   the run finished (with its summary), was interrupted, or failed; followers return
          or raise the same.

Nothing a follower does writes a file: it has no run directory, copies none, and reads no
checkpoint from rank 0's disk (a second node need not share it). Only plain Python values,
numpy arrays and bytes travel as objects (never a torch tensor, which would be rebuilt on
the device it was pickled from).
"""

from __future__ import annotations

import dataclasses
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from .errors import CoughscopeError, Interrupted, RunError

STATES = ("finished", "interrupted", "failed")


@dataclass
class Leader:
    """Rank 0's side: sends orders; ``in_fit`` while a sent fit runs (an error then leaves
    the followers inside training's collectives, where no order can reach them)."""

    world_size: int
    in_fit: bool = False
    ended: bool = False
    fits_sent: int = 0

    def send(self, message: dict[str, Any]) -> None:
        import torch.distributed as dist

        from .launch import orders_group

        dist.broadcast_object_list([message], src=0, group=orders_group())

    def gather(self, value: Any) -> list[Any]:
        import torch.distributed as dist

        from .launch import orders_group

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value, group=orders_group())
        return out


_LEADING: list[Leader] = []


def leading() -> Leader | None:
    """The :class:`Leader` of this process's run, when it leads other ranks."""
    return _LEADING[-1] if _LEADING else None


@contextmanager
def lead(launch: Any) -> Iterator[Leader | None]:
    """On rank 0 of a launched run: lead the other ranks while the block runs, and tell them
    how it ended (``finished`` with the block's summary, ``interrupted`` or ``failed``).
    Yields None when this process runs alone."""
    if not launch.distributed or launch.rank != 0:
        yield None
        return
    from .launch import ensure_process_group

    ensure_process_group(launch)
    leader = Leader(world_size=launch.world_size)
    _LEADING.append(leader)
    outcome: dict[str, Any] = {"kind": "end", "state": "failed",
                               "message": "rank 0 failed", "hint": "see rank 0's output"}
    try:
        yield leader
        outcome.update(message="rank 0 ended the run without its summary",
                       hint="this is a bug in coughscope: please report it")
    except Interrupted as exc:
        outcome = {"kind": "end", "state": "interrupted", "message": str(exc)}
        raise
    except CoughscopeError as exc:
        outcome.update(message=f"rank 0 failed: {exc.message}", hint=exc.hint)
        raise
    except BaseException as exc:
        outcome.update(message=f"rank 0 failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        _LEADING.remove(leader)
        # after an error inside a fit (or a second Ctrl+C there) the followers wait in
        # training's collectives, where no order reaches them: they learn of it from the
        # process group (the peer is gone, or its timeout)
        if not leader.ended and not leader.in_fit:
            leader.ended = True
            try:
                leader.send(outcome)
            except Exception:  # the followers are gone already: nothing to tell
                pass


def finish(summary: dict[str, Any]) -> None:
    """Rank 0: the run finished; the followers return ``summary`` (no-op when alone)."""
    leader = leading()
    if leader is None or leader.ended:
        return
    leader.ended = True
    leader.send({"kind": "end", "state": "finished", "summary": summary})


def fingerprint(prepared: Any) -> str:
    """What every rank must agree on: the clips (paths), labels, participants, the model
    inputs themselves (features and log-mels) and every split's parts."""
    ds = prepared.dataset
    h = hashlib.sha256()
    for clip in ds.clips:
        h.update(str(clip.path).encode("utf-8", "surrogateescape") + b"\0")
    h.update(np.ascontiguousarray(ds.y).tobytes())
    h.update("\0".join(str(g) for g in ds.groups.tolist()).encode("utf-8", "surrogateescape"))
    for array in (ds.features, ds.logmel):
        h.update(repr((str(array.dtype), tuple(array.shape))).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    for split in prepared.splits:
        h.update(np.ascontiguousarray(split.parts(len(ds.clips))).astype(str).tobytes())
    return h.hexdigest()


def _check_same_data(mine: str, everyone: list[str]) -> None:
    differ = [rank for rank, f in enumerate(everyone) if f != everyone[0]]
    if differ:
        raise RunError(
            f"rank(s) {', '.join(map(str, differ))} prepared other data than rank 0 (other "
            "clips, labels, participants or split)",
            "every node must see the same data set and preprocessing settings (the same "
            "--data path and version of it on each node)")


def data_ready(prepared: Any, config: Any) -> None:
    """Rank 0, once the data is prepared with ``config`` (the run's, its preset's choices
    made): the followers prepare theirs with the same config (from the cache), and every
    rank checks that all hold the same (no-op when alone)."""
    leader = leading()
    if leader is None:
        return
    leader.send({"kind": "data", "config": config})
    mine = fingerprint(prepared)
    _check_same_data(mine, leader.gather(mine))


def send_fit(spec: Any, data: Any, ctx: Any) -> None:
    """Rank 0, before a torch fit: the same fit to every follower (no-op when alone).

    The context travels without its callables (the followers report nothing) and with
    ``resume_from``: the bytes of ``ctx.workdir/last.pt`` when the fit resumes."""
    leader = leading()
    if leader is None:
        return
    if data.rows is None:
        raise RunError(f"{spec.name}: a fit under DDP needs the rows of its data",
                       "this is a bug in coughscope: please report it")
    resume_from = None
    last = ctx.workdir / "last.pt"
    if ctx.resume and last.is_file():
        resume_from = last.read_bytes()
    portable = dataclasses.replace(ctx, on_epoch=None, should_stop=None, warn=None,
                                   resume_from=resume_from, resume=resume_from is not None)
    train, val = data.rows
    # the validation strata (a confounded column's values) steer the checkpoint choice and
    # early stopping: the followers must validate as rank 0 does
    strata = None if data.val.strata is None else np.asarray(data.val.strata)
    leader.send({"kind": "fit", "model": spec.name, "train": np.asarray(train),
                 "val": np.asarray(val), "strata": strata, "ctx": portable})
    leader.fits_sent += 1
    leader.in_fit = True


def fit_done() -> None:
    """Rank 0: the sent fit has returned (its errors no longer leave followers inside it)."""
    leader = leading()
    if leader is not None:
        leader.in_fit = False


def follow(config: Any, stop: Callable[[], bool],
           prepare: Callable[[Any, int], Any]) -> dict[str, Any]:
    """A rank above 0: carry out rank 0's orders until it ends the run; returns rank 0's
    summary, or raises :class:`Interrupted` / :class:`RunError` as rank 0 ended.

    ``prepare(config, workers)`` prepares the data set (the runner's ``prepare_data``)."""
    import torch.distributed as dist

    from . import trainer
    from .launch import ensure_process_group, launch_info, orders_group, preprocess_workers
    from .models import get_spec

    launch = launch_info()
    ensure_process_group(launch)
    group = orders_group()
    prepared = None
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0, group=group)
        order = box[0]
        kind = order["kind"]
        if kind == "end":
            if order["state"] == "finished":
                return order["summary"]
            if order["state"] == "interrupted":
                raise Interrupted(order.get("message") or "rank 0 was interrupted")
            raise RunError(order.get("message") or "rank 0 failed",
                           order.get("hint") or "see rank 0's output")
        if kind == "data":  # rank 0's config: its preset's choices (padding...) made
            prepared = prepare(order["config"], preprocess_workers(launch))
            mine = fingerprint(prepared)
            everyone: list[Any] = [None] * launch.world_size
            dist.all_gather_object(everyone, mine, group=group)
            _check_same_data(mine, everyone)
        elif kind == "fit":
            if prepared is None:
                raise RunError("rank 0 sent a fit before its data", "this is a bug in "
                               "coughscope: please report it")
            spec = get_spec(order["model"])
            data = prepared.data_for(spec, order["train"], order["val"])
            data.val.strata = order["strata"]
            ctx = dataclasses.replace(order["ctx"], on_epoch=lambda record: None,
                                      should_stop=stop, warn=lambda message: None)
            try:
                trainer.fit(spec, data, ctx)  # the model is rank 0's to save
            except trainer.Interrupted:
                pass  # every rank stopped at the same batch; rank 0 ends the run next
        else:
            raise RunError(f"unknown order {kind!r} from rank 0", "every rank must run the "
                           "same version of coughscope")
