"""Prediction time per 5 s clip for a finished run's ``ann`` and ``cnn``, after loading.

    python bench/predict.py [--run RUN --runs-dir DIR] [--clips 20]

Without ``--run`` a small demo run (ann and cnn, 2 seeds, 2 epochs) is trained in a temporary
folder first. Clips are 5 s recordings made of the demo's coughs with pauses between them.
For each clip it times, after the models are loaded and warmed up:

* model time: each model's ``predict_proba`` on the prepared input, all of the run's seeds;
* with preprocessing: the whole ``Classifier.classify`` (decode, checks, clean, features,
  log-mel, every model and seed).

It prints the median over the clips next to the goal (<= 50 ms model time per clip, issue 5)
as a ratio: below 1.00 meets it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GOAL_MS = 50.0
MODELS = ("ann", "cnn")


def train_demo_run(base: Path) -> tuple[Path, Path]:
    """A finished demo run under ``base``; returns (run directory, demo data directory)."""
    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
           "COUGHSCOPE_CACHE_DIR": str(base / "cache")}
    cmd = [sys.executable, "-m", "engine", "--headless", "--data", "demo", "--models",
           ",".join(MODELS), "--seeds", "2", "--epochs", "2", "--runs-dir", str(base / "runs"),
           "--run-id", "bench", "--json"]
    print("training a demo run (ann, cnn; 2 seeds, 2 epochs) ...", file=sys.stderr)
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return base / "runs" / "bench", base / "data"


def make_clips(folder: Path, n: int, seconds: float = 5.0, sr: int = 22050) -> list[Path]:
    """``n`` wavs of ``seconds``: synthetic coughs (decaying noise bursts) with pauses."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        y = np.zeros(int(seconds * sr), np.float32)
        for start in np.arange(0.3, seconds - 0.6, 1.1):
            t = np.arange(int(0.4 * sr)) / sr
            burst = rng.standard_normal(t.size) * np.exp(-t / 0.1) * (1 - np.exp(-t / 0.005))
            a = int(start * sr)
            y[a:a + t.size] += (0.4 * burst / np.abs(burst).max()).astype(np.float32)
        out.append(folder / f"clip{i:03d}.wav")
        sf.write(str(out[-1]), y, sr, subtype="PCM_16")
    return out


def prepared_inputs(classifier: object, path: Path) -> tuple[object, object]:
    """The run's features and log-mel for ``path`` (its own preprocessing)."""
    import dataclasses

    import numpy as np

    from engine.audio import clean, decode
    from engine.features import compute_batch

    cfg = classifier.config.preprocess  # type: ignore[attr-defined]
    raw, sr = decode(path)
    audio = clean(raw, sr, dataclasses.replace(cfg, clip_fraction=1.0))
    return compute_batch(audio.samples[None, :], np.array([len(audio.samples)]), cfg)


def time_ms(fn: object, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000 / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run id or directory (default: train a demo run)")
    parser.add_argument("--runs-dir", help="where --run is (default ./runs)")
    parser.add_argument("--clips", type=int, default=20, help="clips to time (median)")
    args = parser.parse_args()

    import torch

    from engine import paths
    from engine.inference import Classifier
    from engine.runs import resolve_run

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.run:
            run = resolve_run(args.run, paths.runs_dir(args.runs_dir))
        else:
            run_path, _ = train_demo_run(base)
            from engine.runs import RunDir

            run = RunDir(run_path)
        started = time.perf_counter()
        classifier = Classifier(run, MODELS)
        load_ms = (time.perf_counter() - started) * 1000
        clips = make_clips(base / "clips", args.clips)
        classifier.classify(clips[0])  # warm-up: imports, first-call allocations
        per_model: dict[str, list[float]] = {m: [] for m in MODELS}
        whole: list[float] = []
        for clip in clips:
            feats, logmel = prepared_inputs(classifier, clip)
            for name in MODELS:
                loaded = [m for m in classifier.models if m.spec.name == name]
                per_model[name].append(time_ms(lambda: [
                    m.predictor.predict_proba(m.inputs(feats, logmel)) for m in loaded]))
            whole.append(time_ms(lambda: classifier.classify(clip)))
        seeds = {m: sum(1 for x in classifier.models if x.spec.name == m) for m in MODELS}
        cfg = classifier.config.preprocess
        print(f"run {run.path} ({cfg.sample_rate} Hz, {cfg.duration:g} s input, "
              f"{cfg.n_mels} mels); torch {torch.__version__}, {torch.get_num_threads()} "
              f"threads; loading ann+cnn took {load_ms:.0f} ms")
        print(f"median over {len(clips)} clips of 5 s; goal: <= {GOAL_MS:.0f} ms model time "
              "per clip (ratio < 1 meets it)")
        for name in MODELS:
            ms = statistics.median(per_model[name])
            print(f"  {name:<4} model time, {seeds[name]} seeds      {ms:8.2f} ms  = "
                  f"{ms / GOAL_MS:5.2f}x goal")
        both = statistics.median([a + b for a, b in zip(*per_model.values())])
        print(f"  ann+cnn model time                {both:8.2f} ms  = {both / GOAL_MS:5.2f}x goal")
        ms = statistics.median(whole)
        print(f"  ann+cnn with preprocessing        {ms:8.2f} ms  = {ms / GOAL_MS:5.2f}x goal "
              "(decode, checks, clean, features, log-mel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
