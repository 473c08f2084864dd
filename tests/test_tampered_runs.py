"""Damaged, altered or unreadable run files, and wrong ``--weights``: refused up front, the file
named, exit code 2, never a traceback (issue 13, items 5, 6 and 13).

Model files are signed (tests/test_security.py); here a file is damaged and, where the case
is "the user trusted it anyway", the folder is signed again, so that the checks behind the
signature are what is tested.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from engine import trust
from engine.cli import main

try:
    from conftest import write_cough
    from signed_run import REPO, SignedRun, planted_pickle, signed_run
except ImportError:  # tests/ is a package
    from tests.conftest import write_cough
    from tests.signed_run import REPO, SignedRun, planted_pickle, signed_run

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> SignedRun:
    return signed_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cough(tmp_path_factory.mktemp("wav") / "cough.wav", seed=4)


def predict(capsys: pytest.CaptureFixture[str], wav: Path, run: Path,
            *models: str) -> tuple[int, str]:
    argv = ["predict", str(wav), "--run", str(run)]
    code = main(argv + (["--models", ",".join(models)] if models else []))
    out, err = capsys.readouterr()
    return code, err


def refused(code: int, err: str, *named: Path | str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("coughscope: error: ")
    for name in named:
        assert str(name) in err, err


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


# ----------------------------------------------------------------------------- model files


def test_a_truncated_checkpoint_is_refused_signed_or_not(made: SignedRun, wav: Path,
                                                         tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    run = made.copy(tmp_path / "run")
    best = run / "ann" / "0" / "best.pt"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    code, err = predict(capsys, wav, run, "ann")
    refused(code, err, best, "changed after it was signed")
    trust.sign_model_dir(best.parent)  # the user trusted the damaged run
    code, err = predict(capsys, wav, run, "ann")
    refused(code, err, best, "is damaged")


@pytest.mark.parametrize(("case", "change", "says"), [
    ("not JSON", None, "is not valid JSON"),
    ("input_shape 1e12", lambda m: {**m, "input_shape": [1e12]}, "input_shape [1000000000000.0]"),
    ("input_shape 10**12", lambda m: {**m, "input_shape": [10**12]}, "input_shape"),
    ("input_shape text", lambda m: {**m, "input_shape": ["26"]}, "input_shape"),
    ("no input_shape", lambda m: {k: v for k, v in m.items() if k != "input_shape"},
     "input_shape None"),
    ("another model", lambda m: {**m, "model": "cnn"}, "describes model 'cnn'"),
    ("norm of another size", lambda m: {**m, "norm": {"mean": [0.0], "std": [1.0]}}, "norm"),
    ("zero std", lambda m: {**m, "norm": {"mean": m["norm"]["mean"],
                                         "std": [0.0] * len(m["norm"]["std"])}}, "norm"),
    ("a list", lambda m: [m], "holds a list"),
])
def test_a_damaged_torch_model_json_is_refused(made: SignedRun, wav: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str], case: str,
                                               change: Any, says: str) -> None:
    run = made.copy(tmp_path / "run")
    model_json = run / "ann" / "0" / "model.json"
    if change is None:
        model_json.write_text('{"model": "ann", "input_shape": [26')
    else:
        edit_json(model_json, change)
    code, err = predict(capsys, wav, run, "ann")
    refused(code, err, model_json, "changed after it was signed")  # caught by the signature
    trust.sign_model_dir(model_json.parent)  # and behind it, by the checks
    code, err = predict(capsys, wav, run, "ann")
    refused(code, err, model_json, says)


@pytest.mark.parametrize(("model", "broken"), [
    ("gbm", "{not json"), ("cne", "{not json"), ("logreg", "[]"),
    ("majority", json.dumps({"format": "coughscope.sklearn/1", "model": "majority",
                             "prior": "abc", "files": {}})),
])
def test_a_damaged_model_json_of_the_other_families_is_refused(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        model: str, broken: str) -> None:
    run = made.copy(tmp_path / "run")
    model_json = run / model / "0" / "model.json"
    model_json.write_text(broken)
    trust.sign_model_dir(model_json.parent)
    code, err = predict(capsys, wav, run, model)
    refused(code, err, model_json)


def test_a_pickled_object_in_a_checkpoint_is_not_run_even_when_signed(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """best.pt is loaded as tensors only: a signed but planted checkpoint still runs nothing."""
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    best = run / "ann" / "0" / "best.pt"
    best.write_bytes(planted_pickle(marker))
    trust.sign_model_dir(best.parent)
    code, err = predict(capsys, wav, run, "ann")
    assert not marker.exists()
    refused(code, err, best)


# ----------------------------------------------------------------------------- run files


@pytest.mark.parametrize(("case", "change", "says"), [
    ("threshold text", lambda m: {**m, "threshold": "abc"}, "threshold is 'abc'"),
    ("threshold above 1", lambda m: {**m, "threshold": 7.5}, "threshold 7.5"),
    ("threshold NaN", lambda m: {**m, "threshold": float("nan")}, "threshold nan"),
    ("no threshold", lambda m: {k: v for k, v in m.items() if k != "threshold"},
     "threshold is None"),
    ("majority label", lambda m: {**m, "majority_label": "x"}, "majority_label 'x'"),
    ("test AUC", lambda m: {**m, "test": {**m["test"], "roc_auc": "high"}},
     "roc_auc 'high'"),
    ("a list", lambda m: [m], "is not a metrics object"),
])
def test_a_damaged_metrics_json_is_refused(made: SignedRun, wav: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], case: str,
                                           change: Any, says: str) -> None:
    run = made.copy(tmp_path / "run")
    metrics = run / "logreg" / "0" / "metrics.json"
    edit_json(metrics, change)
    code, err = predict(capsys, wav, run, "logreg")
    refused(code, err, metrics, says)


def test_unreadable_or_invalid_run_files_are_refused(made: SignedRun, wav: Path,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    metrics = run / "logreg" / "0" / "metrics.json"
    metrics.write_text('{"threshold": 0.5')
    refused(*predict(capsys, wav, run, "logreg"), metrics, "not valid JSON")
    metrics.unlink()
    metrics.mkdir()  # a folder where the file should be
    refused(*predict(capsys, wav, run, "logreg"), metrics, "is a directory")

    run = made.copy(tmp_path / "run2")
    data = run / "data.json"
    edit_json(data, lambda d: {**d, "reference": {"rms_db": {"p01": "low", "p99": 3}}})
    refused(*predict(capsys, wav, run, "logreg"), data, "p01 and p99")
    edit_json(data, lambda d: {**d, "reference": "loud"})
    refused(*predict(capsys, wav, run, "logreg"), data, "'reference'")

    stray = run / "evil" / "0"
    stray.mkdir(parents=True)
    (stray / "metrics.json").write_text("{}")
    refused(*predict(capsys, wav, run), stray, "not a model coughscope knows")


def test_a_damaged_config_toml_is_refused(made: SignedRun, wav: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    config = run / "config.toml"
    text = config.read_text()
    config.write_text(text.replace("sample_rate = 22050", 'sample_rate = "abc"'))
    refused(*predict(capsys, wav, run, "logreg"), config)
    config.write_bytes(bytes(range(256)) * 4)
    refused(*predict(capsys, wav, run, "logreg"), config)


@pytest.mark.skipif(AS_ROOT, reason="root reads files whatever their permissions")
def test_a_run_directory_without_read_permission_is_refused(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    metrics = run / "logreg" / "0" / "metrics.json"
    metrics.chmod(0)
    try:
        refused(*predict(capsys, wav, run, "logreg"), metrics, "cannot be read")
    finally:
        metrics.chmod(0o644)
    run.chmod(0)
    try:
        refused(*predict(capsys, wav, run, "logreg"), run, "permission denied")
    finally:
        run.chmod(0o755)


# ----------------------------------------------------------------------------- evaluate


def evaluate(run: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COUGHSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "engine", "evaluate", str(run), "--data",
                           "demo:24", "--models", "logreg"], cwd=REPO, env=env,
                          capture_output=True, text=True)


def test_evaluate_that_cannot_save_its_result_fails_before_the_work(
        made: SignedRun, tmp_path: Path) -> None:
    run = made.copy(tmp_path / "run")
    (run / "evaluations").write_text("a file where the folder goes")
    done = evaluate(run, tmp_path)
    refused(done.returncode, done.stderr, run / "evaluations", "cannot write into")
    assert "preprocessing" not in done.stderr
    assert not (tmp_path / "cache").exists()  # no clip was preprocessed


@pytest.mark.skipif(AS_ROOT, reason="root writes whatever the permissions")
def test_evaluate_on_a_read_only_run_fails_before_the_work(made: SignedRun,
                                                           tmp_path: Path) -> None:
    run = made.copy(tmp_path / "run")
    run.chmod(0o555)
    try:
        done = evaluate(run, tmp_path)
    finally:
        run.chmod(0o755)
    refused(done.returncode, done.stderr, run / "evaluations", "cannot write into")
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- --weights


def headless_with_weights(capsys: pytest.CaptureFixture[str], weights: Path,
                          runs: Path) -> tuple[int, str]:
    code = main(["--headless", "--data", "demo:8", "--models", "resnet50", "--seeds", "1",
                 "--epochs", "1", "--weights", str(weights), "--runs-dir", str(runs)])
    return code, capsys.readouterr().err


def test_wrong_weights_files_are_refused_before_any_work(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    import torch

    marker = tmp_path / "planted-code-ran"
    files = {"text": tmp_path / "passwd", "folder": tmp_path / "folder",
             "empty": tmp_path / "empty.pth", "truncated": tmp_path / "truncated.pth",
             "other net": tmp_path / "other.pth", "pickle": tmp_path / "planted.pth"}
    files["text"].write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    files["folder"].mkdir()
    files["empty"].write_bytes(b"")
    torch.save({"conv1.weight": torch.zeros(2, 3)}, files["other net"])
    files["truncated"].write_bytes(files["other net"].read_bytes()[:100])
    files["pickle"].write_bytes(planted_pickle(marker))
    says = {"text": "is not a plain state dict", "folder": "is not a regular file",
            "empty": "is not a plain state dict", "truncated": "is not a plain state dict",
            "other net": "does not fit ResNet-50", "pickle": "is not a plain state dict"}
    for case, path in files.items():
        runs = tmp_path / f"runs-{case.replace(' ', '-')}"
        code, err = headless_with_weights(capsys, path, runs)
        refused(code, err, f"weights file {path}", says[case])
        assert not runs.exists(), case  # no run directory, no preprocessing
    assert not marker.exists()
    code, err = headless_with_weights(capsys, tmp_path / "absent.pth", tmp_path / "runs")
    assert code == 3 and "Traceback" not in err  # UNAVAILABLE: something needed is absent
    assert f"weights file {tmp_path / 'absent.pth'} does not exist" in err
    assert not (tmp_path / "runs").exists()


def test_a_resnet50_state_dict_passes_the_check(tmp_path: Path) -> None:
    import torch
    from torchvision.models import resnet50

    from engine.errors import ConfigError
    from engine.weights import check_weights

    state = resnet50().state_dict()
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    check_weights(path)
    del state["layer4.2.bn3.running_var"]
    torch.save(state, path)
    with pytest.raises(ConfigError, match="'layer4.2.bn3.running_var' is missing"):
        check_weights(path)


@pytest.mark.parametrize(("content", "says"), [
    (pickle.dumps({"not": "a model"}), "holds a dict, not a fitted two-class "
                                       "HistGradientBoostingClassifier"),
    (pickle.dumps([1, 2, 3])[:-3], "cannot be loaded (UnpicklingError"),
])
def test_a_trusted_gbm_pickle_that_is_no_model_is_refused(made: SignedRun, wav: Path,
                                                          tmp_path: Path, content: bytes,
                                                          says: str,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    run = made.copy(tmp_path / "run")
    pkl = run / "gbm" / "0" / "gbm.pkl"
    pkl.write_bytes(content)
    from engine.models.baselines import FORMAT, MANIFEST, write_manifest

    manifest = json.loads((pkl.parent / MANIFEST).read_text())
    write_manifest(pkl.parent, FORMAT, ["gbm.pkl"], model="gbm", n_iter=manifest["n_iter"])
    assert main(["runs", "trust", str(run), "--yes"]) == 0  # the user trusted it anyway
    capsys.readouterr()
    code, err = predict(capsys, wav, run, "gbm")
    refused(code, err, pkl, says)
