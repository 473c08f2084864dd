"""Benchmark: file -> features (+ log-mel), coughscope's preprocessing vs the paper's recipe.

On ../shared/data/covid19-cough (763 mp3 clips; ``--limit N`` for fewer), in one run:

* paper recipe: ``librosa.load`` (22,050 Hz), then librosa feature by feature (26 features),
  one clip after another -- what the paper's code did;
* cold: :func:`engine.preprocess.preprocess` with an empty cache in a temp folder, all cores
  (decode, clean, trim, 26 features AND the log-mel, cache writes);
* cached: the same call again (hash memo + data-set bundle: no audio work);
* cached, entries only: again, after deleting the bundle (one cache entry read per clip).

Library imports and one warm-up clip per path are excluded from every timing (both sides).
Usage: ``python bench/preprocess.py [--limit N] [--workers W] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.clips import Clip, ClipSet  # noqa: E402
from engine.config import PreprocessConfig  # noqa: E402


def load_manifest(folder: Path, limit: int | None) -> ClipSet:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    clips = [Clip(folder / r["path"], r["label"], r["path"], {"source": r["source"]})
             for r in rows]
    return ClipSet("manifest", folder, "covid19-cough (bench)", clips)


def paper_recipe(clips: list[Clip]) -> float:
    """Seconds for librosa.load + the 26 features, clip by clip."""
    import librosa

    from engine.features import paper_features_reference

    start = time.perf_counter()
    for clip in clips:
        y, sr = librosa.load(clip.path)
        paper_features_reference(y, sr)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - start, cpu_seconds() - cpu, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "covid19-cough")
    parser.add_argument("--limit", type=int, default=None, help="first N clips only")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if not (args.data / "manifest.csv").exists():
        print(f"no data at {args.data} (expects manifest.csv)", file=sys.stderr)
        return 2
    clipset = load_manifest(args.data, args.limit)
    n = len(clipset.clips)
    cfg = PreprocessConfig()

    import librosa  # noqa: F401  (imports excluded from the timings)
    import torch

    from engine.preprocess import preprocess

    with tempfile.TemporaryDirectory() as warm:  # warm-up, both paths, one clip
        paper_recipe(clipset.clips[:1])
        preprocess(ClipSet("bench", args.data, "", clipset.clips[:1]), cfg,
                   cache_dir=Path(warm), workers=1)

    t_paper, c_paper, _ = timed(lambda: paper_recipe(clipset.clips))
    cache = Path(tempfile.mkdtemp(prefix="coughscope-bench-"))
    run = lambda: preprocess(clipset, cfg, cache_dir=cache, workers=args.workers)  # noqa: E731
    try:
        t_cold, c_cold, ds = timed(run)
        t_cached, c_cached, _ = timed(run)
        shutil.rmtree(next(cache.glob("v*/*/bundles")))
        t_entries, c_entries, _ = timed(run)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"{n} clips from {args.data}; {len(ds.clips)} usable, {len(ds.excluded)} excluded; "
          f"workers={args.workers}, cpus={os.cpu_count()}, load average {load:.1f}")
    rows = [("paper recipe (librosa, clip by clip)", t_paper, c_paper),
            ("coughscope cold (empty cache)", t_cold, c_cold),
            ("coughscope cached (bundle)", t_cached, c_cached),
            ("coughscope cached (entries, no bundle)", t_entries, c_entries)]
    print(f"  {'':40s} {'wall s':>8s} {'clips/s':>10s} {'vs paper':>9s}   {'CPU s':>7s} {'vs paper':>9s}")
    for name, secs, cpu in rows:
        print(f"  {name:40s} {secs:8.3f} {n / secs:10.1f} {t_paper / secs:8.1f}x   "
              f"{cpu:7.2f} {c_paper / max(cpu, 1e-3):8.1f}x")
    print("wall: what a user waits (all cores; shared machines make it noisy); CPU: summed over "
          "processes, independent of other load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
