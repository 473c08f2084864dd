"""Wall time of the paper's whole study on a Coswara-size synthetic set.

The paper trained ann, cnn, resnet50, imagenet50, cne and tabnet, 4 runs each, up to 100
epochs, on 2,046 clips. This script generates a synthetic set of that size with the demo
generator (``engine.sources.demo.generate_demo``; its positive share is the generator's, not
Coswara's 419/2,046), then runs the real headless runner on it with the paper preset and
reports the wall time, split into data generation, the runner as a whole, and per model
(from the run's ``model_end`` events). Goal: <= 10 min on one H100/H200.

    python bench/paper_study.py                                 # the full study
    python bench/paper_study.py --epochs 2 --seeds 1 --models ann,cnn --n 200   # a smoke run

``--tensors`` skips audio and the runner: random tensors of the right shapes go straight
to each model family's ``fit`` (a check of training time alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from tempfile import mkdtemp

PAPER_MODELS = "ann,cnn,resnet50,imagenet50,cne,tabnet"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2046, help="clips (the paper's code used 2,046)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--models", default=PAPER_MODELS)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--weights", help="ResNet-50 state dict (else the torchvision cache, else "
                                     "random weights: timing does not depend on them)")
    p.add_argument("--workdir", type=Path, help="where data, cache and runs go (default: a temp dir)")
    p.add_argument("--tensors", action="store_true",
                   help="random tensors straight into fit(), no audio and no runner")
    return p.parse_args()


def weights_flags(args: argparse.Namespace) -> list[str]:
    from engine.weights import weights_available

    if args.weights:
        return ["--weights", args.weights]
    ok, reason = weights_available()
    if ok:
        return []
    print(f"note: {reason}; timing resnet50/imagenet50 with random weights (--no-pretrained)")
    return ["--no-pretrained"]


def run_study(args: argparse.Namespace, work: Path) -> None:
    from engine.sources.demo import generate_demo

    env = dict(os.environ, COUGHSCOPE_DATA_DIR=str(work / "data"),
               COUGHSCOPE_CACHE_DIR=str(work / "cache"))
    t = time.perf_counter()
    data = generate_demo(work / "set", n=args.n, seed=0)
    print(f"generated {args.n} synthetic clips in {time.perf_counter() - t:.1f} s")
    cmd = [sys.executable, "-m", "engine", "--headless", "--data", str(data / "manifest.csv"),
           "--models", args.models, "--seeds", str(args.seeds), "--epochs", str(args.epochs),
           "--preset", "paper", "--device", args.device, "--runs-dir", str(work / "runs"),
           "--json", *weights_flags(args)]
    print("$", " ".join(cmd), flush=True)
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"the runner failed (exit {done.returncode}); see its stderr above")
    result = json.loads(done.stdout)
    run_dir = Path(result["run_dir"]) if "run_dir" in result else None
    print(f"runner wall time: {wall:.1f} s ({wall / 60:.2f} min) for {args.models} x "
          f"{args.seeds} seeds x {args.epochs} epochs")
    if run_dir is not None:
        report_models(run_dir / "events.jsonl")


def report_models(events: Path) -> None:
    from engine.runs import read_events

    seconds: dict[str, float] = defaultdict(float)
    epochs: dict[str, int] = defaultdict(int)
    for event in read_events(events)[0]:
        if event.get("type") == "model_end":
            seconds[event["model"]] += float(event.get("seconds") or 0.0)
        elif event.get("type") == "epoch_end":
            epochs[event["model"]] += 1
        elif event.get("type") == "data_ready":
            print(f"device: {event.get('device')}, precision {event.get('precision')}")
    for model, s in seconds.items():
        print(f"  {model:<11} {s:8.1f} s over all seeds, {epochs[model]} epochs")


def run_tensors(args: argparse.Namespace, work: Path) -> None:
    """Random inputs of the paper's shapes straight into each family's fit()."""
    import numpy as np

    from engine import models
    from engine.config import TrainRecipe
    from engine.devices import precision_for, resolve_device

    device, _ = resolve_device(args.device)
    rng = np.random.default_rng(0)
    n_train, n_val = int(args.n * 0.56), int(args.n * 0.14)  # test 0.3, val 0.2 of the rest
    recipe = TrainRecipe(preset="paper", epochs=args.epochs, class_weighting=False,
                         early_stopping_patience=None)
    total = time.perf_counter()
    for name in args.models.split(","):
        spec = models.get_spec(name)
        shape = (26,) if spec.input == "features" else (128, 130)
        dtype = np.float32 if spec.input == "features" else np.float16

        def part(n: int) -> models.Part:
            return models.Part(rng.normal(size=(n, *shape)).astype(dtype),
                               (rng.random(n) < 419 / 2046).astype(np.int64))

        data = models.TrainData(part(n_train), part(n_val), [f"f{i}" for i in range(26)])
        t = time.perf_counter()
        for seed in range(args.seeds):
            ctx = models.FitContext(recipe=recipe, seed=seed, workdir=work / name / str(seed),
                                    device=device, precision=precision_for(device),
                                    pretrained=bool(args.weights),
                                    weights=Path(args.weights) if args.weights else None)
            models.fit(spec, data, ctx)
        print(f"  {name:<11} {time.perf_counter() - t:8.1f} s for {args.seeds} seeds", flush=True)
    print(f"total training time: {time.perf_counter() - total:.1f} s")


def main() -> None:
    args = parse_args()
    work = args.workdir or Path(mkdtemp(prefix="coughscope-paper-study-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work directory: {work}")
    if args.tensors:
        run_tensors(args, work)
    else:
        run_study(args, work)


if __name__ == "__main__":
    main()
