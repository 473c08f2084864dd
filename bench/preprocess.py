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


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


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

    t_paper = paper_recipe(clipset.clips)
    cache = Path(tempfile.mkdtemp(prefix="coughscope-bench-"))
    try:
        t_cold, ds = timed(lambda: preprocess(clipset, cfg, cache_dir=cache, workers=args.workers))
        t_cached, _ = timed(lambda: preprocess(clipset, cfg, cache_dir=cache, workers=args.workers))
        shutil.rmtree(next(cache.glob("v*/*/bundles")))
        t_entries, _ = timed(lambda: preprocess(clipset, cfg, cache_dir=cache,
                                                workers=args.workers))
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    print(f"{n} clips from {args.data}; {len(ds.clips)} usable, {len(ds.excluded)} excluded; "
          f"workers={args.workers}, cpus={os.cpu_count()}, torch threads={torch.get_num_threads()}")
    rows = [("paper recipe (librosa, clip by clip)", t_paper),
            ("coughscope cold (empty cache)", t_cold),
            ("coughscope cached (bundle)", t_cached),
            ("coughscope cached (entries, no bundle)", t_entries)]
    for name, secs in rows:
        print(f"  {name:40s} {secs:8.3f} s  {n / secs:10.1f} clips/s  "
              f"x{t_paper / secs:7.1f} vs paper")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
