"""Training throughput: coughscope's Fabric epoch loop against a plain PyTorch loop.

For each model, both loops train the same architecture (random weights) with the same
optimiser, loss, batch size and precision over the *same* device-resident tensors, in this
process, and report samples (images) per second; the ratio trainer/plain is the figure of
merit (goal on a GPU: >= 0.9). ``--compile`` also times the trainer with ``torch.compile``
(``compiled/trainer``: what the opt-in ``--compile`` buys; compilation happens in the
unmeasured warm-up). ``--tabular`` times a pytorch-tabular ``cne`` fit on the CPU and, when
there is one, on the GPU (seconds per epoch): whether these tiny MLPs belong on the GPU.

``--augment`` trains both loops on augmented batches (the default recipe's
:mod:`engine.augment`: the plain loop calls the same augmenter), so the ratio is the loop's
overhead at the default recipe (cnn: batch 16, augmentation on).

    python bench/train_throughput.py --device auto --steps 50 --compile --tabular
    python bench/train_throughput.py --device cuda --models cnn --batch-size 16 --augment
    python bench/train_throughput.py --device cpu --models ann,cnn --steps 10 --frames 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Callable

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--models", default="ann,cnn,resnet50")
    p.add_argument("--n", type=int, default=0, help="training rows (default: steps x batch)")
    p.add_argument("--steps", type=int, default=30, help="measured batches per repeat")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured batches first")
    p.add_argument("--repeats", type=int, default=3, help="alternating measurements; best kept")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--frames", type=int, default=130, help="log-mel frames (paper: 130 = 3 s)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0: torch's default); 1 is steadier on a busy machine")
    p.add_argument("--compile", action="store_true", help="also time the trainer compiled")
    p.add_argument("--augment", action="store_true",
                   help="augment the spectrogram models' batches in both loops (default recipe)")
    p.add_argument("--tabular", action="store_true",
                   help="also time pytorch-tabular's cne per epoch on the CPU and the GPU")
    return p.parse_args()


def make_data(name: str, n: int, frames: int) -> Any:
    from engine.models import Part, TrainData

    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.2).astype(np.int64)
    if name == "ann":
        X = rng.normal(size=(n, 26)).astype(np.float32)
    else:
        X = rng.normal(-40, 10, size=(n, 128, frames)).astype(np.float16)
    val = slice(0, max(8, n // 10))
    return TrainData(Part(X, y), Part(X[val], y[val]))


def synced(device: Any) -> Callable[[], None]:
    import torch

    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def time_trainer(loop: Any, steps: int, warmup: int) -> float:
    sync = synced(loop.device)
    loop.train_epoch(0, max_batches=warmup)
    sync()
    t = time.perf_counter()
    loop.train_epoch(1, max_batches=steps)
    sync()
    return time.perf_counter() - t


def plain_loop(loop: Any, name: str) -> Callable[[int], float]:
    """A textbook loop: same net architecture, data tensors, optimiser, loss and batch size."""
    import torch
    import torch.nn.functional as F

    from engine.models.nets import build_net, uses_channels_last
    from engine.trainer import AUTOCAST_DTYPES

    torch.manual_seed(1)
    shape = loop.X.shape
    net = build_net(name, n_features=shape[1], n_mels=shape[-2] if name != "ann" else 128,
                    n_frames=shape[-1] if name != "ann" else 130).to(loop.device)
    channels_last = uses_channels_last(name)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    fused = {"fused": True} if loop.device.type == "cuda" else {}
    opt = torch.optim.AdamW(net.parameters(), lr=loop.recipe.lr,
                            weight_decay=loop.recipe.weight_decay, **fused)
    X, y, bs = loop.X, loop.y, loop.recipe.batch_size
    weight = loop.class_weights
    dtype = AUTOCAST_DTYPES.get(loop.ctx.precision)
    autocast = loop.device.type == "cuda" and dtype is not None
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16 and autocast)
    sync = synced(loop.device)
    augmenter = loop.augmenter  # the same augmentation as the trainer's, or None
    from engine.augment import mixup_loss

    def loss_fn(logits: Any, target: Any) -> Any:
        return F.cross_entropy(logits.float(), target.long(), weight=weight)

    def run(steps: int) -> float:
        net.train()
        perm = torch.randperm(len(X), device=X.device)
        sync()
        t = time.perf_counter()
        for i in range(steps):
            idx = perm[(i * bs) % len(X):][:bs]
            xb = X[idx].to(loop.device, non_blocking=True).float()
            mix = None
            if augmenter is not None:
                xb, mix = augmenter(xb, 1, i)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(loop.device.type, dtype=dtype or torch.bfloat16, enabled=autocast):
                logits = net(xb)
            loss = mixup_loss(loss_fn, logits, y[idx], mix)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        sync()
        return time.perf_counter() - t

    return run


def bench_model(name: str, args: argparse.Namespace, device: str, precision: str) -> dict[str, float]:
    from engine import trainer
    from engine.config import TrainRecipe
    from engine.models import FitContext, get_spec

    n = args.n or args.steps * args.batch_size
    data = make_data(name, n, args.frames)
    augment = None
    if args.augment:
        from engine.augment import Augmentation
        from engine.config import AugmentConfig

        augment = Augmentation(AugmentConfig(), 22050)
    with TemporaryDirectory() as tmp:
        def make_loop(compile: bool) -> Any:
            ctx = FitContext(recipe=TrainRecipe(batch_size=args.batch_size, compile=compile),
                             seed=0, workdir=Path(tmp), device=device, precision=precision,
                             pretrained=False, augment=augment)
            return trainer.EpochLoop(get_spec(name), data, ctx, trainer.make_fabric(ctx))

        loop = make_loop(False)
        compiled = make_loop(True) if args.compile else None
        steps = min(args.steps, -(-len(loop.X) // args.batch_size))
        plain = plain_loop(loop, name)
        plain(args.warmup)
        if compiled is not None:
            t = time.perf_counter()
            compiled.train_epoch(0, max_batches=args.warmup)  # compiles
            print(f"  ({name}: torch.compile warm-up {time.perf_counter() - t:.1f} s)", flush=True)
        ours, base, comp = [], [], []
        for _ in range(args.repeats):
            ours.append(steps * args.batch_size / time_trainer(loop, steps, args.warmup))
            base.append(steps * args.batch_size / plain(steps))
            if compiled is not None:
                comp.append(steps * args.batch_size / time_trainer(compiled, steps, args.warmup))
    return {"trainer": max(ours), "plain": max(base), "compiled": max(comp) if comp else 0.0}


def bench_tabular(args: argparse.Namespace, devices: list[str]) -> None:
    """Seconds per epoch of pytorch-tabular's cne (1,146 training rows as in the paper's
    split, batch 64) per device: the difference between a 2- and an 8-epoch fit over 6, so
    set-up (and the import, done first) is left out."""
    from engine.config import TrainRecipe
    from engine.models import FitContext, Part, TrainData, fit, get_spec
    from engine.models.tabular import _import_pytorch_tabular

    _import_pytorch_tabular()
    n = 1146
    data = make_data("ann", n + 286, 0)
    X, y = data.train.X, data.train.y
    parts = TrainData(Part(X[:n], y[:n]), Part(X[n:], y[n:]), [f"f{i}" for i in range(26)])

    def seconds(device: str, epochs: int) -> float:
        with TemporaryDirectory() as tmp:
            ctx = FitContext(recipe=TrainRecipe(epochs=epochs, batch_size=64,
                                                early_stopping_patience=None),
                             seed=0, workdir=Path(tmp), device=device)
            t = time.perf_counter()
            fit(get_spec("cne"), parts, ctx)
            return time.perf_counter() - t

    from engine.models import tabular

    tabular.ON_GPU = True  # time the GPU too, not only the default (the CPU)
    for device in devices:
        short, long = seconds(device, 2), seconds(device, 8)
        print(f"cne on {device}: {(long - short) / 6:.3f} s/epoch "
              f"(set-up and 2 epochs {short:.1f} s)", flush=True)


def main() -> None:
    args = parse_args()
    import torch

    from engine.devices import describe_device, precision_for, resolve_device

    device, notice = resolve_device(args.device)
    if notice:
        print(f"note: {notice}")
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = precision_for(device)
    print(f"device: {describe_device(device)}, precision {precision}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats, log-mel 128 x {args.frames}, "
          f"{torch.get_num_threads()} CPU threads"
          + (", augmentation on (both loops)" if args.augment else ""))
    compiled = f" {'compiled img/s':>15} {'compiled/trainer':>17}" if args.compile else ""
    print(f"{'model':<10} {'trainer img/s':>14} {'plain img/s':>12} {'ratio':>6}{compiled}")
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        r = bench_model(name, args, device, precision)
        line = f"{name:<10} {r['trainer']:>14.1f} {r['plain']:>12.1f} {r['trainer'] / r['plain']:>6.2f}"
        if args.compile:
            line += f" {r['compiled']:>15.1f} {r['compiled'] / r['trainer']:>17.2f}"
        print(line, flush=True)
    if args.tabular:
        bench_tabular(args, ["cpu"] + (["cuda"] if device == "cuda" else []))


if __name__ == "__main__":
    main()
