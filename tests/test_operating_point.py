"""Operating points and calibrated probabilities that survive refit (issue 18).

Unit tests of the rules, intervals and calibrators; then real runs (demo data, real sklearn
and Fabric fits) checking where the threshold and the calibration come from, what each
file records, and what ``predict`` and ``evaluate`` report; then the real covid19-cough
recordings: the refit model's test part agrees with what its out-of-fold predictions
promised.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.calibration import Calibrator, fit_calibrator
from engine.config import ExperimentConfig, TrainRecipe
from engine.errors import ConfigError
from engine.metrics import (OperatingPoint, calibration_metrics, confusion_at,
                            expected_calibration_error, operating_threshold, pool_reliability,
                            rates_with_intervals, roc_auc, wilson_interval)
from engine.runner import run_experiment
from engine.runs import RunDir, read_predictions, read_summary, trusted_auc

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------- operating points


def _scores(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(1.5 * (y - 0.5) + rng.normal(0, 1, n))))
    return y, p


def test_operating_point_parses_the_three_rules_and_refuses_others() -> None:
    assert str(OperatingPoint.parse("youden")) == "youden"
    assert OperatingPoint.parse(" Sensitivity = 0.8 ") == OperatingPoint("sensitivity", 0.8)
    assert OperatingPoint.parse("specificity=0.95").target == 0.95
    for bad in ("sens=0.8", "sensitivity=1.5", "sensitivity=x", "specificity", "f1"):
        with pytest.raises(ValueError):
            OperatingPoint.parse(bad)


def test_sensitivity_point_is_the_most_specific_threshold_reaching_it() -> None:
    y, p = _scores()
    t = operating_threshold(y, p, "sensitivity=0.8")
    c = confusion_at(y, p, t)
    sens = c["tp"] / (c["tp"] + c["fn"])
    assert sens >= 0.8
    # the next stricter threshold (just above the lowest score called positive) misses it
    stricter = np.nextafter(p[p >= t].min(), np.inf)
    c2 = confusion_at(y, p, stricter)
    assert c2["tp"] / (c2["tp"] + c2["fn"]) < 0.8


def test_specificity_point_reaches_its_target_and_threshold_sits_between_scores() -> None:
    y, p = _scores(seed=1)
    t = operating_threshold(y, p, "specificity=0.95")
    c = confusion_at(y, p, t)
    assert c["tn"] / (c["tn"] + c["fp"]) >= 0.95
    assert t not in set(p.tolist())  # halfway between two distinct scores


def test_youden_point_maximises_sensitivity_plus_specificity() -> None:
    y, p = _scores(seed=2)
    t = operating_threshold(y, p, "youden")

    def j(th: float) -> float:
        c = confusion_at(y, p, th)
        return c["tp"] / (c["tp"] + c["fn"]) + c["tn"] / (c["tn"] + c["fp"]) - 1

    assert j(t) == pytest.approx(max(j(float(v)) for v in np.unique(p)))


def test_degenerate_inputs_give_half() -> None:
    assert operating_threshold([1, 1, 1], [0.2, 0.3, 0.4], "youden") == 0.5
    assert operating_threshold([0, 1, 0, 1], [0.4] * 4, "sensitivity=0.8") == 0.5


def test_wilson_interval_and_rates() -> None:
    lo, hi = wilson_interval(8, 10)
    assert 0.44 < lo < 0.5 and 0.94 < hi < 0.97  # the textbook 0.490-0.943
    assert wilson_interval(0, 0) is None
    r = rates_with_intervals([1, 1, 0, 0, 0], [0.9, 0.2, 0.8, 0.1, 0.1], 0.5)
    assert r["sensitivity"] == 0.5 and r["specificity"] == pytest.approx(2 / 3)
    assert r["positive_share"] == 0.4 and r["n"] == 5


# ----------------------------------------------------------------------------- calibration


def test_platt_recovers_a_known_miscalibration() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z))).astype(int)
    squashed = 1 / (1 + np.exp(-(z / 4 + 1)))  # right order, wrong scale and offset
    cal = fit_calibrator("platt", y, squashed)
    assert cal.a == pytest.approx(4.0, rel=0.1) and cal.b == pytest.approx(-4.0, rel=0.15)
    before = expected_calibration_error(y, squashed)
    after = expected_calibration_error(y, cal.apply(squashed))
    assert after < 0.03 < before
    assert roc_auc(y, cal.apply(squashed)) == pytest.approx(roc_auc(y, squashed))


def test_isotonic_is_monotone_and_round_trips() -> None:
    y, p = _scores(seed=4)
    cal = fit_calibrator("isotonic", y, p)
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(cal.apply(grid)) >= 0)
    assert Calibrator.from_json(json.loads(json.dumps(cal.to_json()))) == cal


def test_a_model_that_ranks_backwards_gets_the_base_rate() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.25, 0.85])
    cal = fit_calibrator("platt", y, p)
    assert not cal.informative
    assert np.allclose(cal.apply([0.1, 0.9]), 0.5)
    assert "did not rank" in cal.describe()


def test_calibrator_from_json_refuses_damage() -> None:
    for bad in ({"method": "magic"}, {"method": "platt", "a": "1"},
                {"method": "platt", "a": float("nan")},
                {"method": "isotonic", "x": [0.5, 0.1], "y": [0.1, 0.2]},
                {"method": "isotonic", "x": [0.1], "y": [1.5]},
                {"method": "platt", "base_rate": 3}):
        with pytest.raises(ValueError):
            Calibrator.from_json(bad)


def test_calibration_metrics_and_pooled_reliability() -> None:
    rng = np.random.default_rng(5)
    p = rng.random(3000)
    y = (rng.random(3000) < p).astype(int)  # calibrated by construction
    m = calibration_metrics(y, p)
    # ECE is an absolute gap: resampling only adds noise to it, so its percentile interval
    # sits above a well-calibrated model's estimate (documented in calibration_metrics)
    assert m["ece"] < 0.03 and m["ece_ci"][0] <= m["ece_ci"][1] and m["ece_ci"][1] > m["ece"]
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert sum(b["n"] for b in m["reliability"]) == 3000
    pooled = pool_reliability([m["reliability"], m["reliability"]])
    assert [b["n"] for b in pooled] == [2 * b["n"] for b in m["reliability"]]
    assert [b["observed"] for b in pooled] == pytest.approx(
        [b["observed"] for b in m["reliability"]])


def test_config_checks_the_operating_point(tmp_path: Path) -> None:
    assert TrainRecipe(operating_point="sensitivity=0.8").operating_point == "sensitivity=0.8"
    with pytest.raises(ConfigError) as err:
        TrainRecipe(operating_point="sensitivity=80%")
    assert "operating_point" in str(err.value) and "sensitivity=0.8" in err.value.hint
    toml = tmp_path / "c.toml"
    toml.write_text('data = "demo:40"\n[recipe]\noperating_point = "specificity=0.9"\n'
                    'calibration = "isotonic"\noof_folds = 3\n')
    config = ExperimentConfig.from_toml(toml)
    assert (config.recipe.operating_point, config.recipe.calibration,
            config.recipe.oof_folds) == ("specificity=0.9", "isotonic", 3)


# --------------------------------------------------------------------- real runs (demo)


@pytest.fixture(scope="module")
def point_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """A refit run (default preset) at the DiCOVA point, logreg + ann + their ensemble."""
    import torch

    base = tmp_path_factory.mktemp("point")
    mp = pytest.MonkeyPatch()
    mp.setenv("COUGHSCOPE_DATA_DIR", str(base / "data"))
    mp.setenv("COUGHSCOPE_CACHE_DIR", str(base / "cache"))
    torch.set_num_threads(1)
    try:
        config = ExperimentConfig(
            data="demo:60", models=("logreg", "ann", "ensemble"), seeds=2,
            recipe=TrainRecipe(epochs=3, operating_point="sensitivity=0.8", oof_folds=3))
        run = RunDir(base / "runs" / "r")
        run_experiment(config, run)
    finally:
        mp.undo()
    return run


def _metrics(run: RunDir, model: str, seed: int) -> dict[str, Any]:
    return json.loads((run.model_dir(model, seed) / "metrics.json").read_text())


def test_threshold_and_calibration_come_from_out_of_fold_predictions(point_run: RunDir) -> None:
    split = {}
    with open(point_run.path / "split.csv", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            split[i] = row["split"]
    for model in ("logreg", "ann"):
        for seed in (0, 1):
            m = _metrics(point_run, model, seed)
            op = m["operating_point"]
            assert op["rule"] == "sensitivity=0.8" and op["source"] == "out-of-fold"
            assert op["folds"] == 3 and m["refit"]["oof_folds"] == 3
            preds = read_predictions(point_run, model, seed)
            oof = np.asarray(preds.oof)
            y = np.asarray(preds.labels)
            inside = np.array([split[i] in ("train", "val") for i in range(len(y))])
            # every train + validation clip has an out-of-fold prediction, no test clip has
            assert np.all(np.isfinite(oof[inside])) and np.all(np.isnan(oof[~inside]))
            # the recorded threshold is the rule applied to exactly those predictions
            assert m["threshold"] == pytest.approx(
                operating_threshold(y[inside], oof[inside], "sensitivity=0.8"))
            assert op["expected"]["sensitivity"] >= 0.8
            assert m["calibration"]["source"] == "out-of-fold"
            cal = Calibrator.from_json(m["calibration"])
            assert np.allclose(preds.calibrated, cal.apply(preds.probabilities), atol=1e-4)
            # the fold files cover train + validation once, and the fold models are gone
            folds = sorted((point_run.model_dir(model, seed) / "oof").iterdir())
            assert [f.name for f in folds] == ["fold1.json", "fold2.json", "fold3.json"]
            rows = sorted(r for f in folds for r in json.loads(f.read_text())["rows"])
            assert rows == sorted(np.flatnonzero(inside).tolist())


def test_test_metrics_carry_calibration_and_measured_intervals(point_run: RunDir) -> None:
    test = _metrics(point_run, "logreg", 0)["test"]
    for key in ("brier", "ece", "brier_uncalibrated", "positive_share"):
        assert isinstance(test[key], float)
    for key in ("brier_ci", "ece_ci", "sensitivity_ci", "specificity_ci", "positive_share_ci"):
        assert test[key][0] <= test[key][1]
    assert sum(b["n"] for b in test["reliability"]) == test["n"]
    assert test["positive_share"] == pytest.approx(
        (test["confusion"]["tp"] + test["confusion"]["fp"]) / test["n"])


def test_ensemble_decides_on_its_members_out_of_fold_average(point_run: RunDir) -> None:
    m = _metrics(point_run, "ensemble", 0)
    assert m["operating_point"]["source"] == "out-of-fold"
    preds = read_predictions(point_run, "ensemble", 0)
    weights = {(w["model"], w["seed"]): w["weight"] for w in m["members"]}
    expect = sum(w * np.asarray(read_predictions(point_run, name, seed).oof)
                 for (name, seed), w in weights.items())
    got = np.asarray(preds.oof)
    ok = np.isfinite(expect)
    assert np.allclose(got[ok], expect[ok], atol=2e-6)


def test_summary_and_model_json_record_the_decision(point_run: RunDir) -> None:
    from engine import trust

    summary = read_summary(point_run)
    entry = summary.models["logreg"].raw
    assert entry["operating_point"]["rule"] == "sensitivity=0.8"
    assert set(entry["operating_point"]["expected"]) == {"sensitivity", "specificity",
                                                         "positive_share"}
    assert entry["calibration"]["method"] == "platt"
    assert entry["calibration"]["brier"]["mean"] == pytest.approx(np.mean(
        [_metrics(point_run, "logreg", s)["test"]["brier"] for s in (0, 1)]))
    assert entry["trusted_auc"]["kind"] == "test"  # demo data: no column flagged
    for model in ("logreg", "ann", "ensemble"):
        body = json.loads((point_run.model_dir(model, 0) / "model.json").read_text())
        assert body["operating_point"]["threshold"] == _metrics(point_run, model, 0)["threshold"]
        trust.verify_model_dir(point_run.model_dir(model, 0))  # signed after it was added
    assert (point_run.path / "figures" / "reliability_logreg.png").stat().st_size > 1000


def test_trusted_auc_prefers_held_out_then_within_column() -> None:
    entry = {"metrics": {"roc_auc": {"mean": 0.9}}, "roc_auc_ci": [0.8, 0.95]}
    assert trusted_auc(entry)["kind"] == "test"
    entry["confound_controlled"] = {"column": "source", "roc_auc": {"mean": 0.7},
                                    "roc_auc_ci": [0.6, 0.8]}
    assert trusted_auc(entry) == {"kind": "within", "label": "within source", "roc_auc": 0.7,
                                  "roc_auc_ci": [0.6, 0.8]}
    entry["ood"] = {"group": "source=telegram", "metrics": {"roc_auc": {"mean": 0.55}},
                    "roc_auc_ci": [0.4, 0.7]}
    assert trusted_auc(entry)["label"] == "held-out source=telegram"


def _cli(*argv: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True,
                          text=True, env=env, timeout=600)


def test_predict_reports_calibrated_probability_and_the_auc_to_trust(point_run: RunDir) -> None:
    preds = read_predictions(point_run, "logreg", 0)
    clip = preds.clips[0]
    done = _cli("predict", clip, "--run", str(point_run.path), "--json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)["files"][0]["models"]["logreg"]
    assert verdict["calibration"] == "platt" and verdict["operating_point"] == "sensitivity=0.8"
    assert 0.0 <= verdict["calibrated_probability"] <= 1.0
    assert verdict["trusted_auc"]["label"] == "test (no confound found)"
    # the label compares the calibrated mean with the calibrated operating point
    expect = ("positive" if verdict["calibrated_probability"] >= verdict["calibrated_threshold"]
              else "negative")
    assert verdict["label"] == expect
    text = _cli("predict", clip, "--run", str(point_run.path))
    assert "calibrated" in text.stdout and "at sensitivity=0.8" in text.stdout
    assert "no confound found" in text.stdout


def test_evaluate_json_reports_calibration_on_the_new_set(point_run: RunDir,
                                                          tmp_path: Path) -> None:
    done = _cli("evaluate", str(point_run.path), "--data", "demo:30", "--json",
                env_extra={"COUGHSCOPE_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)["models"]["logreg"]
    assert isinstance(m["brier"]["mean"], float) and isinstance(m["ece"]["mean"], float)
    assert m["brier_ci"][0] <= m["brier"]["mean"] <= m["brier_ci"][1] + 1e-9
    assert sum(b["n"] for b in m["reliability"]) == 2 * m["n"]["mean"]  # 2 seeds pooled
    assert m["operating_point"] == "sensitivity=0.8" and m["calibration"] == "platt"


def test_runs_show_prints_the_reliability_table(point_run: RunDir) -> None:
    done = _cli("runs", "show", str(point_run.path))
    assert done.returncode == 0, done.stderr
    assert "[reliability (test part, calibrated P(positive), seeds pooled)]" in done.stdout
    assert "logreg.operating_point.rule = sensitivity=0.8" in done.stdout
    assert "logreg.trusted_auc.label = test (no confound found)" in done.stdout
    shown = json.loads(_cli("runs", "show", str(point_run.path), "--json").stdout)
    assert shown["reliability"]["logreg"][0]["n"] > 0


def test_a_run_made_before_calibration_still_predicts_uncalibrated(point_run: RunDir,
                                                                   tmp_path: Path) -> None:
    """Strip the new keys as an older coughscope would have written the files (and sign the
    model folder again, as that coughscope did): predict uses the metrics.json threshold."""
    import shutil

    from engine import trust

    old = tmp_path / "old"
    shutil.copytree(point_run.path, old)
    for seed in ("0", "1"):
        model_dir = old / "logreg" / seed
        body = json.loads((model_dir / "model.json").read_text())
        del body["operating_point"], body["calibration"]
        (model_dir / "model.json").write_text(json.dumps(body))
        trust.sign_model_dir(model_dir)
    done = _cli("predict", read_predictions(point_run, "logreg", 0).clips[0], "--run", str(old),
                "--models", "logreg", "--json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)["files"][0]["models"]["logreg"]
    assert verdict["calibration"] == "none"
    assert verdict["calibrated_probability"] == verdict["probability"]


def test_paper_preset_decides_on_validation(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    config = ExperimentConfig(data="demo:40", models=("logreg",), seeds=1,
                              recipe=TrainRecipe.from_preset("paper", epochs=2))
    run = RunDir(tmp_path / "r")
    run_experiment(config, run)
    m = _metrics(run, "logreg", 0)
    assert m["operating_point"]["source"] == "validation" and m["refit"] is None
    assert not (run.model_dir("logreg", 0) / "oof").exists()
    preds = read_predictions(run, "logreg", 0)
    assert all(math.isnan(v) for v in preds.oof)


# ------------------------------------------------------------ real recordings (covid19-cough)


@pytest.mark.slow
@pytest.mark.realdata
def test_refit_models_test_part_agrees_with_out_of_fold_promise(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's acceptance test: on the real covid19-cough clips, for refit models at the
    DiCOVA point, the share called positive and the sensitivity and specificity of the test
    part agree with what the out-of-fold predictions promised (their Wilson intervals
    overlap), and no model calls more than 90% of the test clips one class. (Before, the
    threshold of the first fit was applied to the refit model: ann called every clip
    positive.)"""
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    manifest = shared_data / "covid19-cough" / "manifest.csv"
    config = ExperimentConfig(
        data=str(manifest), models=("logreg", "ann"), seeds=1,
        recipe=TrainRecipe(epochs=12, operating_point="sensitivity=0.8", oof_folds=4))
    run = RunDir(tmp_path / "r")
    run_experiment(config, run)
    for model in ("logreg", "ann"):
        m = _metrics(run, model, 0)
        expected, test = m["operating_point"]["expected"], m["test"]
        assert m["operating_point"]["source"] == "out-of-fold"
        for key in ("positive_share", "sensitivity", "specificity"):
            lo_e, hi_e = expected[f"{key}_ci"]
            lo_t, hi_t = test[f"{key}_ci"]
            assert lo_t <= hi_e and lo_e <= hi_t, (model, key, expected[f"{key}_ci"],
                                                   test[f"{key}_ci"])
        assert 0.1 <= test["positive_share"] <= 0.9, (model, test["positive_share"])
        assert 0.65 <= test["sensitivity"] <= 0.95, (model, test["sensitivity"])


@pytest.mark.realdata
def test_runs_list_and_predict_show_the_within_source_auc_on_a_confounded_set(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real call-centre and Telegram clips, the source confounded with the label: the runs
    list and predict put the within-source AUC (with its interval) beside the test AUC."""
    from test_ood import real_manifests

    monkeypatch.setenv("COUGHSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    dev, _ = real_manifests(shared_data, tmp_path / "m")
    runs = tmp_path / "runs"
    config = ExperimentConfig(data=str(dev), models=("logreg",), seeds=1,
                              recipe=TrainRecipe(oof_folds=3))
    run = RunDir(runs / "confounded")
    run_experiment(config, run)
    entry = read_summary(run).models["logreg"].raw
    t = entry["trusted_auc"]
    assert t["kind"] == "within" and t["label"] == "within source"
    assert t["roc_auc"] == entry["confound_controlled"]["roc_auc"]["mean"]
    listing = _cli("runs", "--runs-dir", str(runs))
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("confounded"))
    assert f"{t['roc_auc']:.3f}" in row and "logreg, within source" in row
    clip = read_predictions(run, "logreg", 0).clips[0]
    text = _cli("predict", clip, "--run", str(run.path)).stdout
    assert f"AUC to trust: {t['roc_auc']:.2f}" in text and "within source" in text


def test_seed_ensemble_scores_the_average_predict_uses(point_run: RunDir) -> None:
    """summary.json's seed_ensemble is the seeds' calibrated probabilities averaged and
    labelled against their mean calibrated operating point: predict's rule, on test."""
    se = read_summary(point_run).models["logreg"].raw["seed_ensemble"]
    seeds = [read_predictions(point_run, "logreg", s) for s in (0, 1)]
    test = np.array([part == "test" for part in seeds[0].splits])
    p = np.mean([np.asarray(s.calibrated) for s in seeds], axis=0)[test]
    y = np.asarray(seeds[0].labels)[test]
    cut = np.mean([_metrics(point_run, "logreg", s)["operating_point"]["threshold_calibrated"]
                   for s in (0, 1)])
    assert se["seeds"] == 2 and se["threshold_calibrated"] == pytest.approx(cut)
    assert se["test"]["roc_auc"] == pytest.approx(roc_auc(y, p), abs=1e-4)
    c = confusion_at(y, p, cut)
    assert se["test"]["confusion"] == {k: c[k] for k in ("tn", "fp", "fn", "tp")}
