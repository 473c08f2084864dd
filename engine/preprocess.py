"""From a :class:`~engine.clips.ClipSet` to a :class:`Dataset`: features and log-mels per clip.

:func:`preprocess` checks every file without reading it whole (a regular file, not too
large; its header: a plausible rate and length -- :func:`engine.audio.probe`), then hashes it
(through the cache's memo: an unchanged file is neither probed nor read again), takes what the
cache already holds -- one bundle file for a data set seen before, else one entry per clip -- and sends the
rest, in chunks of clips of similar size, to worker processes. Each worker decodes and cleans
its chunk (:mod:`engine.audio`), computes features and log-mels in batches
(:func:`engine.features.compute_batch`, one torch thread per worker) and writes the cache
entries. Files that cannot be used become :class:`~engine.clips.Exclusion` rows with
``stage="audio"`` and the reason -- so does a clip whose features are not all finite
(:func:`engine.features.nonfinite_reason`: e.g. openSMILE's on a clip shorter than its
windows), which never reaches a model. A second call with the same files and config does no audio
work at all. When the cache cannot be written, :attr:`Dataset.warnings` says so and the work
goes on without it.

:func:`export_images` writes the log-mels as PNG/JPG images, one per clip (the paper saved
its spectrograms as images).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cache import Bundle, Entry, FeatureCache
from .clips import Clip, ClipSet, Exclusion, os_problem
from .config import PreprocessConfig
from .errors import ConfigError, DataError
from .features import feature_names

CHUNK = 16  # clips per worker task
HASH_REJECTED_MAX = 16 << 20  # a file rejected from its header is hashed (to cache the
# rejection) only up to this size; a larger one is left unread
POOLS_STARTED = 0  # process pools started by this process (tests check the pool path ran)
Progress = Callable[[int, int], None]


@dataclass
class Dataset:
    """The usable clips of a clip set and, row for row, their features and log-mels."""

    clipset: ClipSet
    config: PreprocessConfig
    clips: list[Clip]  # usable clips; row i of every array
    features: np.ndarray  # (N, F) float32
    feature_names: list[str]
    logmel: np.ndarray  # (N, n_mels, n_frames) float16
    excluded: list[Exclusion] = field(default_factory=list)  # source + audio stage
    info: list[dict[str, Any]] = field(default_factory=list)  # sample_rate (original),
    # channels, duration, trimmed_duration per usable clip
    warnings: list[str] = field(default_factory=list)  # e.g. the cache could not be written

    @property
    def y(self) -> np.ndarray:
        """Labels as int64, 1 = positive."""
        return np.array([clip.y for clip in self.clips], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        return np.array([clip.group for clip in self.clips], dtype=str)

    def meta(self, column: str) -> np.ndarray:
        """A metadata column (e.g. ``source``) per usable clip, as strings."""
        if not any(column in clip.meta for clip in self.clips):
            known = sorted({k for clip in self.clips for k in clip.meta})
            raise DataError(
                f"no clip of {self.clipset.root} has a metadata column {column!r}",
                f"columns present: {', '.join(known) or 'none'}",
            )
        return np.array([clip.meta.get(column, "") for clip in self.clips], dtype=str)

    def __len__(self) -> int:
        return len(self.clips)


def preprocess(
    clipset: ClipSet,
    config: PreprocessConfig = PreprocessConfig(),
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Turn every clip into features and a log-mel, through the cache (module docstring).

    Raises :class:`~engine.errors.DataError` when no clip is usable.
    """
    cache = FeatureCache(config, cache_dir)
    clips = clipset.clips
    total = len(clips)
    keys, entries = _file_keys(cache, clips)
    cache.save_memo()
    all_keyed = all(k is not None for k in keys)
    bundle = cache.load_bundle(keys) if all_keyed and total else None  # type: ignore[arg-type]
    if bundle is None:
        bundle = _build(cache, clips, keys, entries, workers, progress)
        if all_keyed and total and all(e.cacheable for e in entries if e is not None):
            cache.store_bundle(keys, bundle)  # type: ignore[arg-type]
    elif progress:
        progress(total, total)
    return _dataset(clipset, config, bundle, [cache.problem] if cache.problem else [])


def _file_keys(cache: FeatureCache, clips: list[Clip]
               ) -> tuple[list[str | None], list[Entry | None]]:
    """Content hash per clip, after the checks that need no full read.

    A path that is no regular readable file, or a file over the size limit, gets an uncached
    rejection and is never read. Otherwise, unless the memo knows the file, its header is
    read first (:func:`engine.audio.probe`; for formats that need ffmpeg the worker does this
    before decoding, as a process per file here would be slow) and then its bytes are hashed (bounded by the
    size limit); a header that says "no usable recording" becomes a cached rejection, except
    for a large file, which is not read at all (its header is read again next time).
    """
    from .audio import FFMPEG_EXTS, ClipRejected, FfmpegMissing, check_size, probe

    keys: list[str | None] = []
    entries: list[Entry | None] = []
    for clip in clips:
        key: str | None = None
        entry: Entry | None = None
        try:
            check_size(clip.path)
        except ClipRejected as exc:
            if exc.reason != "empty file (0 bytes)":  # an empty file is hashed and cached
                keys.append(None)
                entries.append(Entry(rejected=exc.reason, cacheable=False))
                continue
        try:
            key = cache.memo_key(clip.path)
            if key is None and Path(clip.path).suffix.lower() in FFMPEG_EXTS:
                key = cache.hash_file(clip.path)  # ffprobe costs a process: the worker
                # reads the header before decoding, and ffmpeg's output is capped
            if key is None:
                try:
                    probe(clip.path)
                except ClipRejected as exc:
                    entry = Entry(rejected=exc.reason)
                    if os.path.getsize(clip.path) > HASH_REJECTED_MAX:
                        keys.append(None)
                        entries.append(Entry(rejected=exc.reason, cacheable=False))
                        continue
                except FfmpegMissing:
                    pass  # the worker says so, uncached
                key = cache.hash_file(clip.path)
        except OSError as exc:
            key, entry = None, Entry(rejected=os_problem(exc).reason, cacheable=False)
        keys.append(key)
        entries.append(entry)
    return keys, entries


def _build(cache: FeatureCache, clips: list[Clip], keys: list[str | None],
           entries: list[Entry | None], workers: int | None, progress: Progress | None
           ) -> Bundle:
    """Fill ``entries`` from cache entries and workers; return them as a bundle."""
    total = len(clips)
    todo: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if entries[i] is not None:  # rejected from its header: remember it
            cache.store(key, entries[i])  # type: ignore[arg-type]
            continue
        entries[i] = cache.load(key)
        if entries[i] is None:
            todo.setdefault(key, []).append(i)
    done = total - sum(len(v) for v in todo.values())
    if progress:
        progress(done, total)
    jobs = [(key, str(clips[idx[0]].path)) for key, idx in todo.items()]
    for key, entry in _compute(jobs, cache, workers):
        if entry.cache_problem and cache.problem is None:
            cache.problem = entry.cache_problem  # a worker could not write: stop writing
        for i in todo[key]:
            entries[i] = entry
        done += len(todo[key])
        if progress:
            progress(done, total)
    status: list[dict[str, Any]] = []
    feats, mels = [], []
    for entry in entries:
        assert entry is not None
        if entry.usable:
            status.append({"info": entry.info})
            feats.append(entry.features)
            mels.append(entry.logmel)
        else:
            status.append({"rejected": entry.rejected})
    n_feat = cache.n_features
    cfg = cache.cfg
    return Bundle(
        status=status,
        features=np.stack(feats) if feats else np.zeros((0, n_feat), np.float32),
        logmel=np.stack(mels) if mels else np.zeros((0, cfg.n_mels, cfg.n_frames), np.float16),
    )


def _dataset(clipset: ClipSet, config: PreprocessConfig, bundle: Bundle,
             warnings: list[str]) -> Dataset:
    usable: list[Clip] = []
    info: list[dict[str, Any]] = []
    excluded = list(clipset.excluded)
    for clip, st in zip(clipset.clips, bundle.status):
        if "info" in st:
            usable.append(clip)
            info.append(st["info"])
        else:
            excluded.append(Exclusion(str(clip.path), st["rejected"], stage="audio"))
    if not usable:
        reasons = [f"{Path(e.path).name}: {e.reason}" for e in excluded if e.stage == "audio"]
        shown = "; ".join(reasons[:5]) + (f"; ... ({len(reasons) - 5} more)" if len(reasons) > 5 else "")
        raise DataError(
            f"no usable clip in {clipset.root} ({len(clipset.clips)} clips): {shown or 'no clips'}",
            "check the recordings (coughscope data summary lists every excluded clip and why)",
        )
    return Dataset(clipset=clipset, config=config, clips=usable, features=bundle.features,
                   feature_names=feature_names(config), logmel=bundle.logmel,
                   excluded=excluded, info=info, warnings=warnings)


# --------------------------------------------------------------------------- the audio work


def _compute(jobs: list[tuple[str, str]], cache: FeatureCache, workers: int | None):
    """Yield ``(key, Entry)`` for every job, in-process or across worker processes."""
    if not jobs:
        return
    jobs = sorted(jobs, key=lambda j: _size(j[1]), reverse=True)  # big first; similar together
    chunks = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    n_workers = min(workers or os.cpu_count() or 1, len(chunks))
    if n_workers <= 1:
        for chunk in chunks:
            yield from process_chunk(chunk, cache.cfg, cache.root, cache.problem is None)
        return
    yield from _in_pool(chunks, cache, n_workers)


def _in_pool(chunks: list[list[tuple[str, str]]], cache: FeatureCache, n_workers: int):
    from concurrent.futures import ProcessPoolExecutor, as_completed

    global POOLS_STARTED
    _ensure_resource_tracker()
    pool = ProcessPoolExecutor(n_workers, mp_context=_pool_context(cache.cfg),
                               initializer=_worker_init)
    POOLS_STARTED += 1
    try:
        futures = [pool.submit(process_chunk, chunk, cache.cfg, cache.root, cache.problem is None)
                   for chunk in chunks]
        for future in as_completed(futures):
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with the real stderr.

    A pool's first lock starts the tracker process with ``sys.stderr.fileno()`` among the
    descriptors it keeps; inside a Textual app ``sys.stderr`` is a capture object whose
    ``fileno()`` is -1, and the start fails ("bad value(s) in fds_to_keep"). Starting it here
    with the process's original stderr works from any caller.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    sys.stderr = sys.__stderr__ or saved
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


def _pool_context(cfg: PreprocessConfig) -> Any:
    """``fork`` on Linux from a single-threaded process, after paying the one-time costs
    (imports, filter banks, numba compiling librosa's helpers: seconds) here so that every
    worker inherits them. From a threaded process (the TUI) forking is unsafe -- another
    thread may hold a lock -- so a fresh ``forkserver`` (``spawn`` elsewhere) is used."""
    import multiprocessing as mp
    import threading

    from . import features

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        features.warm_up(cfg)
        return mp.get_context("fork")
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # imported once in the server, inherited by every worker (numba compiles at import)
        ctx.set_forkserver_preload(["engine.preprocess", "torch", "soundfile", "soxr",
                                    "librosa.filters", "librosa.core.pitch", "librosa.feature"])
        return ctx
    return mp.get_context("spawn")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def process_chunk(jobs: list[tuple[str, str]], cfg: PreprocessConfig, cache_root: Path,
                  write: bool = True) -> list[tuple[str, Entry]]:
    """Decode, clean and featurise ``(key, path)`` jobs; write their cache entries (when
    ``write``). A cache that cannot be written is reported on the entries' ``cache_problem``.
    """
    from .audio import ClipRejected, FfmpegMissing, load_clip
    from .features import compute_batch, nonfinite_reason

    cache = FeatureCache(cfg, cache_root)
    out: list[tuple[str, Entry]] = []
    cleaned = []
    for key, path in jobs:
        try:
            cleaned.append((key, load_clip(path, cfg)))
        except ClipRejected as exc:
            out.append((key, Entry(rejected=exc.reason)))
        except FfmpegMissing as exc:
            reason = f"needs ffmpeg, which is not installed ({exc.hint})"
            out.append((key, Entry(rejected=reason, cacheable=False)))
    if cleaned:
        width = max(len(c.samples) for _, c in cleaned)
        waves = np.zeros((len(cleaned), width), dtype=np.float32)
        for row, (_, c) in enumerate(cleaned):
            waves[row, : len(c.samples)] = c.samples
        lengths = np.array([len(c.samples) for _, c in cleaned])
        feats, mels = compute_batch(waves, lengths, cfg)
        for row, (key, c) in enumerate(cleaned):
            bad = nonfinite_reason(feats[row], cfg, len(c.samples) / cfg.sample_rate)
            out.append((key, Entry(rejected=bad) if bad else
                        Entry(features=feats[row], logmel=mels[row], info=c.info())))
    if write:
        for key, entry in out:
            cache.store(key, entry)
            if cache.problem:
                entry.cache_problem = cache.problem
                break
    return out


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --------------------------------------------------------------------------- images


def export_images(dataset: Dataset, directory: Path, fmt: str = "png") -> list[Path]:
    """Write each clip's log-mel as an image (low frequencies at the bottom, -80..0 dB,
    'magma' colours), named ``<row>_<label>_<file stem>.<fmt>``. Returns the paths."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in ("png", "jpg", "jpeg"):
        raise ConfigError(f"image format {fmt!r} is not supported", "use png or jpg")
    import io

    import matplotlib.image  # ~150 ms; no pyplot, no GUI backend

    from .paths import atomic_write_bytes, ensure_dir

    directory = Path(directory)
    check_image_dir(directory, str(directory))
    ensure_dir(directory, directory)
    paths = []
    for row, clip in enumerate(dataset.clips):
        path = directory / f"{row:05d}_{clip.label}_{Path(clip.path).stem}.{fmt}"
        image = dataset.logmel[row].astype(np.float32)
        buffer = io.BytesIO()
        matplotlib.image.imsave(buffer, image, cmap="magma", vmin=-80.0, vmax=0.0,
                                origin="lower", format=fmt)
        atomic_write_bytes(path, buffer.getvalue(), root=directory)  # never through a link
        paths.append(path)
    return paths


def check_image_dir(directory: Path, named: str) -> None:
    """Refuse, before any work, an image folder that is an existing file (or a link to one)."""
    if os.path.lexists(directory) and not directory.is_dir():
        raise ConfigError(f"{named}: {directory} exists and is not a folder",
                          "name a new or existing folder for the images")
