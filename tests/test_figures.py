"""Run figures: training curves, ROC with baselines, pooled confusion (engine.figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.figures import write_figures
from engine.metrics import binary_metrics, group_only_baseline


def fake_results(models=("cnn", "log reg/v2"), seeds=(0, 1)) -> dict:
    rng = np.random.default_rng(0)
    results = {}
    for model in models:
        per_seed = {}
        for seed in seeds:
            y = (rng.random(60) < 0.3).astype(int)
            p = np.clip(rng.random(60) * 0.7 + 0.3 * y, 0, 1)
            history = [
                {"epoch": e, "train_loss": 1 / (e + 1), "train_acc": 0.5 + 0.05 * e,
                 "val_loss": 1.1 / (e + 1), "val_acc": 0.5 + 0.04 * e, "val_auc": 0.6}
                for e in range(4)
            ]
            per_seed[seed] = {"history": history, "test_y": y.tolist(), "test_p": p.tolist(),
                              "metrics": binary_metrics(y, p, 0.5, n_boot=20)}
        results[model] = {"seeds": per_seed}
    src = rng.choice(["phone", "web"], 60)
    base = group_only_baseline(rng.integers(0, 2, 60), src, rng.integers(0, 2, 60), src,
                               n_boot=20)
    results[models[0]]["group_baseline"] = {"source": base}
    return results


def test_write_figures_makes_png_and_svg_per_model(tmp_path: Path) -> None:
    import matplotlib.image

    results = fake_results()
    paths = write_figures(tmp_path, results)
    names = sorted(p.name for p in paths)
    expected = sorted(
        f"{kind}_{model}.{fmt}"
        for kind in ("curves", "roc", "confusion")
        for model in ("cnn", "log_reg_v2")
        for fmt in ("png", "svg")
    )
    assert names == expected
    for path in paths:
        assert path.parent == tmp_path / "figures"
        assert path.stat().st_size > 1000
    image = matplotlib.image.imread(tmp_path / "figures" / "roc_cnn.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 0.01  # not a blank canvas
    roc_svg = (tmp_path / "figures" / "roc_cnn.svg").read_text()
    assert "cnn" in roc_svg and "source only" in roc_svg and "majority baseline" in roc_svg
    confusion_svg = (tmp_path / "figures" / "confusion_cnn.svg").read_text()
    pooled_tp = sum(s["metrics"]["confusion"]["tp"] for s in results["cnn"]["seeds"].values())
    assert f">{pooled_tp}" in confusion_svg  # the pooled count is drawn as text
    assert "log reg/v2" in (tmp_path / "figures" / "curves_log_reg_v2.svg").read_text()
    assert not list((tmp_path / "figures").glob("*.tmp"))


def test_figures_are_deterministic(tmp_path: Path) -> None:
    results = fake_results(models=("ann",), seeds=(3,))
    first = {p.name: p.read_bytes() for p in write_figures(tmp_path / "a", results)}
    second = {p.name: p.read_bytes() for p in write_figures(tmp_path / "b", results)}
    assert first == second
    assert b"<dc:date>" not in first["roc_ann.svg"]


def test_missing_parts_are_skipped_not_faked(tmp_path: Path) -> None:
    """No history: no curves; one-class test labels: no ROC; confusion still drawn."""
    results = {"majority": {"seeds": {0: {
        "history": [], "test_y": [0, 0, 0], "test_p": [0.2, 0.2, 0.2],
        "metrics": binary_metrics([0, 0, 0], [0.2, 0.2, 0.2], 0.5, n_boot=10)}}}}
    names = [p.name for p in write_figures(tmp_path, results)]
    assert names == ["confusion_majority.png", "confusion_majority.svg"]


def test_importing_figures_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, engine.figures, engine.metrics, engine.splits; " \
           "print(sorted(m for m in ('matplotlib', 'sklearn', 'torch', 'pandas') " \
           "if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
