"""A study run in one process against the same study on a local Ray: wall time and results.

The same headless command (same data, models, seeds, epochs) runs once with ``--executor
sequential`` and once with ``--executor ray`` per ``--tasks-per-gpu`` value, each in a fresh
process, after the data has been preprocessed into a shared cache (so no run pays for the
audio work). Every model/seed's ``predictions.csv`` must be byte-identical across the runs
(same seeds, same results, whatever the executor); the ratio is the sequential wall time
over Ray's (above 1: Ray is faster). Ray's start-up is part of its time, as it is for a user.

    python3 bench/study_scale.py                                   # demo:80, 3 models, 2 seeds
    python3 bench/study_scale.py --data demo:2046 --models ann,cnn,cne --seeds 4 --epochs 100 \\
        --device cuda --tasks-per-gpu 1,4 --json-out results/study_scale.json

With ``--json-out`` a small JSON summary is written: the times, the ratios and ``identical``.
Exit status 1 when the results differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import mkdtemp

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="demo:80", help="a data SPEC (default demo:80)")
    p.add_argument("--models", default="logreg,ann,cnn", help="comma-separated models")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--tasks-per-gpu", default="4",
                   help="comma-separated: one Ray run per value (e.g. 1,4); on a CPU they "
                        "only differ in name")
    p.add_argument("--cpus-per-task", type=float, default=None,
                   help="CPU cores each Ray task holds (default: the runner's, 1)")
    p.add_argument("--workdir", type=Path, help="where cache and runs go (default: a temp dir)")
    p.add_argument("--json-out", type=Path, help="write a JSON summary here")
    return p.parse_args()


def prepare_cache(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Preprocess the data once into the shared cache (the runs then do no audio work)."""
    code = ("from engine.config import ExperimentConfig\n"
            "from engine.refit import resolve_preset_choices\n"
            "from engine.runner import prepare_data\n"
            f"prepare_data(resolve_preset_choices(ExperimentConfig(data={args.data!r})))\n")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)


def run_study(args: argparse.Namespace, env: dict[str, str], runs: Path, run_id: str,
              extra: list[str]) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "engine", "--headless", "--data", args.data, "--models",
           args.models, "--seeds", str(args.seeds), "--epochs", str(args.epochs), "--device",
           args.device, "--runs-dir", str(runs), "--run-id", run_id, "--json", *extra]
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"study_scale: {run_id} failed (exit {out.returncode})")
    return seconds, json.loads(out.stdout)


def predictions(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes()
            for p in sorted(run.glob("*/*/predictions.csv"))}


def main() -> int:
    args = parse_args()
    work = args.workdir or Path(mkdtemp(prefix="study-scale-"))
    runs = work / "runs"
    env = dict(os.environ, COUGHSCOPE_CACHE_DIR=str(work / "cache"),
               COUGHSCOPE_DATA_DIR=str(work / "data"), PYTHONPATH=str(ROOT))
    prepare_cache(args, env)
    seq_s, seq_json = run_study(args, env, runs, "sequential", ["--executor", "sequential"])
    reference = predictions(runs / "sequential")
    rows = []
    for k in [int(v) for v in args.tasks_per_gpu.split(",") if v.strip()]:
        extra = ["--executor", "ray", "--tasks-per-gpu", str(k)]
        if args.cpus_per_task:
            extra += ["--cpus-per-task", str(args.cpus_per_task)]
        seconds, result = run_study(args, env, runs, f"ray-{k}", extra)
        same = predictions(runs / f"ray-{k}") == reference and all(
            result["models"][m]["roc_auc"] == seq_json["models"][m]["roc_auc"]
            for m in seq_json["models"])
        rows.append({"tasks_per_gpu": k, "seconds": round(seconds, 2),
                     "ratio": round(seq_s / seconds, 3), "identical": same})
    identical = all(r["identical"] for r in rows)
    print(f"study: {args.data}, {args.models} x {args.seeds} seeds x {args.epochs} epochs, "
          f"device {args.device}, {os.cpu_count()} cores; {len(reference)} model/seed results")
    print(f"{'executor':<22}{'seconds':>10}{'ratio':>8}  identical")
    print(f"{'sequential':<22}{seq_s:>10.1f}{1.0:>8.2f}  (reference)")
    for r in rows:
        print(f"{'ray, ' + str(r['tasks_per_gpu']) + ' tasks/GPU':<22}{r['seconds']:>10.1f}"
              f"{r['ratio']:>8.2f}  {'yes' if r['identical'] else 'NO'}")
    print("ratio: sequential wall time / this one's (above 1: faster than in process)")
    if args.json_out:
        summary = {"data": args.data, "models": args.models.split(","), "seeds": args.seeds,
                   "epochs": args.epochs, "device": args.device, "cores": os.cpu_count(),
                   "sequential_seconds": round(seq_s, 2), "ray": rows, "identical": identical}
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
