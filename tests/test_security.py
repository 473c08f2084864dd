"""No planted code runs: model files are loaded only when signed with the user's key.

A real run (every model family but the ResNets, trained once per session by the headless
runner) is copied per test; then a pickle that would create a marker file is planted in each
artefact a loader reads, the way an attacker would (rewriting the SHA-256 in ``model.json``
too). ``predict``, ``evaluate`` and the app's classifier must refuse, name the file, exit 2,
print no traceback, and the marker must not exist. Then the visible way in: ``coughscope
runs trust RUN``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine import trust
from engine.cli import main
from engine.errors import ConfigError

try:
    from conftest import write_cough
    from signed_run import REPO, SignedRun, planted_pickle, signed_run
except ImportError:  # tests/ is a package
    from tests.conftest import write_cough
    from tests.signed_run import REPO, SignedRun, planted_pickle, signed_run


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> SignedRun:
    return signed_run(tmp_path_factory)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cough(tmp_path_factory.mktemp("wav") / "cough.wav", seed=3)


def plant(run: Path, rel: str, marker: Path) -> Path:
    """Replace ``run/rel`` with a planted pickle and, like an attacker, fix the SHA-256 that
    ``model.json`` keeps for it."""
    target = run / rel
    payload = planted_pickle(marker)
    target.write_bytes(payload)
    manifest_path = target.parent / "model.json"
    if target.parent.name == "tabular":
        manifest_path = target.parent.parent / "model.json"
    if target == manifest_path:
        return target
    manifest = json.loads(manifest_path.read_text())
    if isinstance(manifest.get("files"), dict):
        key = target.relative_to(manifest_path.parent).as_posix()
        manifest["files"][key] = hashlib.sha256(payload).hexdigest()
        manifest_path.write_text(json.dumps(manifest))
    return target


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_planted_pickle_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The payload the other tests plant is live: unpickled, it creates its marker."""
    marker = tmp_path / "ran"
    pickle.loads(planted_pickle(marker))
    assert marker.exists()


def test_every_saved_model_is_signed_with_the_users_key(made: SignedRun) -> None:
    key = trust.key_path()
    assert key.is_file() and Path(os.environ["COUGHSCOPE_CONFIG_DIR"]) in key.parents
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    expected = {
        "ann": {"best.pt", "model.json"},
        "majority": {"model.json"},
        "logreg": {"logreg.npz", "model.json"},
        "gbm": {"gbm.pkl", "model.json"},
        "cne": {"model.json", "tabular/datamodule.sav", "tabular/model.ckpt",
                "tabular/config.yml", "tabular/custom_params.sav", "tabular/callbacks.sav"},
    }
    for name, files in expected.items():
        model_dir = made.run / name / "0"
        signature = json.loads((model_dir / trust.SIGNATURE).read_text())
        assert set(signature["files"]) == files, name
        assert signature["key_id"] == trust.key_id(trust.load_key())
        assert trust.verify_model_dir(model_dir) == signature["files"]
    tabnet = json.loads((made.run / "tabnet" / "0" / trust.SIGNATURE).read_text())
    assert set(tabnet["files"]) == expected["cne"]


PLANTS = [
    ("gbm", "gbm/0/gbm.pkl"),
    ("cne", "cne/0/tabular/datamodule.sav"),
    ("cne", "cne/0/tabular/model.ckpt"),
    ("cne", "cne/0/tabular/custom_params.sav"),
    ("cne", "cne/0/tabular/callbacks.sav"),
    ("cne", "cne/0/tabular/config.yml"),
    ("tabnet", "tabnet/0/tabular/datamodule.sav"),
    ("tabnet", "tabnet/0/tabular/model.ckpt"),
    ("logreg", "logreg/0/logreg.npz"),
    ("ann", "ann/0/best.pt"),
    ("majority", "majority/0/model.json"),
]


@pytest.mark.parametrize(("model", "rel"), PLANTS, ids=[r for _, r in PLANTS])
def test_predict_refuses_a_planted_file_and_no_code_runs(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        model: str, rel: str) -> None:
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    planted = plant(run, rel, marker)
    code, out, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", model)
    assert not marker.exists()
    assert code == 2
    assert str(planted) in err and "changed after" in err
    assert f"coughscope runs trust {run}" in err
    assert "Traceback" not in err and out == ""


def test_a_file_added_to_a_model_folder_is_refused(made: SignedRun, wav: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    extra = run / "cne" / "0" / "tabular" / "extra.sav"
    extra.write_bytes(planted_pickle(marker))
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "cne")
    assert code == 2 and f"{extra} is not covered by the signature" in err
    assert not marker.exists()


def test_links_and_fifos_in_place_of_model_files_are_never_opened(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    elsewhere = tmp_path / "elsewhere.pkl"
    elsewhere.write_bytes(planted_pickle(marker))
    gbm = run / "gbm" / "0" / "gbm.pkl"
    gbm.unlink()
    gbm.symlink_to(elsewhere)
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "gbm")
    assert code == 2 and f"{gbm} is not a plain file" in err
    fifo = run / "cne" / "0" / "tabular" / "datamodule.sav"
    fifo.unlink()
    os.mkfifo(fifo)  # opening it for reading would block: the check must not open it
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "cne")
    assert code == 2 and f"{fifo} is not a plain file" in err
    code, out, err = cli(capsys, "runs", "trust", str(run), "--yes")
    assert code == 2 and "cannot be trusted" in err and "plain files only" in err
    assert not marker.exists()


def test_evaluate_refuses_before_any_work(made: SignedRun, tmp_path: Path) -> None:
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    plant(run, "cne/0/tabular/model.ckpt", marker)
    env = {**os.environ, "COUGHSCOPE_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "engine", "evaluate", str(run), "--data",
                           "demo:24", "--models", "cne"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "model.ckpt" in done.stderr and "runs trust" in done.stderr
    assert "Traceback" not in done.stderr and "preprocessing" not in done.stderr
    assert not marker.exists()
    assert not (tmp_path / "cache").exists()  # nothing was preprocessed


def test_the_apps_classifier_refuses_too(made: SignedRun, tmp_path: Path) -> None:
    from engine.inference import Classifier
    from engine.runs import RunDir

    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    plant(run, "gbm/0/gbm.pkl", marker)
    with pytest.raises(trust.UntrustedModel, match="gbm.pkl, .*model.json were changed") as err:
        Classifier(RunDir(run), ["gbm"])
    assert "coughscope runs trust" in err.value.hint
    assert not marker.exists()


def test_trusting_a_planted_run_is_what_lets_its_code_run(made: SignedRun,
                                                          tmp_path: Path) -> None:
    """The signature is the only thing standing between a planted pickle and its code: once
    the user signs the folder (``runs trust``), coughscope's own loader unpickles it."""
    from engine.models import get_spec, load

    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    plant(run, "gbm/0/gbm.pkl", marker)
    with pytest.raises(trust.UntrustedModel):
        load(get_spec("gbm"), run / "gbm" / "0")
    assert not marker.exists()
    trust.sign_model_dir(run / "gbm" / "0")
    from engine.errors import RunError

    with pytest.raises(RunError, match="holds a TextIOWrapper, not a fitted two-class"):
        load(get_spec("gbm"), run / "gbm" / "0")  # what it unpickles is then no model
    assert marker.exists()


# ----------------------------------------------------------------------------- foreign runs


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_run_from_another_user_is_refused_until_trusted(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = made.copy(tmp_path / "run")
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(tmp_path / "another-user"))
    predict = ("predict", str(wav), "--run", str(run), "--models", "gbm,cne", "--json")
    code, _, err = cli(capsys, *predict)
    assert code == 2 and "has no" not in err
    assert f"{run}/cne/0/signature.json was made with another key" in err \
        or f"{run}/gbm/0/signature.json was made with another key" in err
    assert f"coughscope runs trust {run}" in err

    # without a terminal and without --yes: the list, and nothing signed
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = cli(capsys, "runs", "trust", str(run))
    assert code == 2 and "--yes" in err
    assert "gbm.pkl" in out and "tabular/model.ckpt" in out and "can run code" in out
    assert "NOT TRUSTED" in out and f"cne/0: NOT TRUSTED: {run}/cne/0/signature.json" in out
    assert "best.pt" in out and "best.pt" not in [
        line.split()[0] for line in out.splitlines() if "can run code" in line]
    assert cli(capsys, *predict)[0] == 2

    # at a terminal, answering no
    monkeypatch.setattr(sys, "stdin", _Terminal("n\n"))
    code, out, _ = cli(capsys, "runs", "trust", str(run))
    assert code == 2 and "nothing was trusted" in out
    assert cli(capsys, *predict)[0] == 2

    # answering yes: every model folder is signed with this user's key, and loads
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    code, out, _ = cli(capsys, "runs", "trust", str(run))
    assert code == 0 and "trusted 6 model folder(s)" in out
    assert (tmp_path / "another-user" / "run-key").is_file()
    code, out, err = cli(capsys, *predict)
    assert code == 0, err
    models = json.loads(out)["files"][0]["models"]
    assert set(models) == {"gbm", "cne"}

    # the same probabilities as the original owner gets
    monkeypatch.undo()
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "d"))
    code, out, err = cli(capsys, "predict", str(wav), "--run", str(made.run), "--models",
                         "gbm,cne", "--json")
    assert code == 0, err
    assert json.loads(out)["files"][0]["models"] == models

    # trusting again has nothing to do
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(tmp_path / "another-user"))
    code, out, _ = cli(capsys, "runs", "trust", str(run), "--yes")
    assert code == 0 and "already signed with your key" in out


def test_runs_trust_lists_a_model_folder_without_model_json(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted seed folder (no model.json) is refused by predict, and ``runs trust`` shows
    it -- the hint never points at a command that would not list the file."""
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    planted = run / "gbm" / "7"
    planted.mkdir()
    (planted / "gbm.pkl").write_bytes(planted_pickle(marker))
    (planted / "metrics.json").write_bytes((run / "gbm" / "0" / "metrics.json").read_bytes())
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "gbm")
    assert code == 2 and f"{planted} has no signature.json" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = cli(capsys, "runs", "trust", str(run))
    assert code == 2 and "sign 1 model folder(s)" in err
    assert "gbm/7: NOT TRUSTED" in out and "can run code" in out.split("gbm/7:")[1]
    assert not marker.exists()


def test_a_copied_signature_does_not_vouch_for_another_models_files(
        made: SignedRun, tmp_path: Path) -> None:
    run = made.copy(tmp_path / "run")
    marker = tmp_path / "planted-code-ran"
    gbm = run / "gbm" / "0"
    (gbm / "gbm.pkl").write_bytes(planted_pickle(marker))
    (gbm / "model.json").write_bytes((run / "logreg" / "0" / "model.json").read_bytes())
    (gbm / trust.SIGNATURE).write_bytes((run / "logreg" / "0" / trust.SIGNATURE).read_bytes())
    with pytest.raises(trust.UntrustedModel, match="was signed for model 'logreg', but the "
                                                   "folder is now model 'gbm'"):
        trust.verify_model_dir(gbm)
    assert not marker.exists()


def test_a_hand_made_signature_is_refused(made: SignedRun, tmp_path: Path) -> None:
    """Someone without the key can compute hashes, not the HMAC."""
    run = made.copy(tmp_path / "run")
    gbm = run / "gbm" / "0"
    (gbm / "gbm.pkl").write_bytes(planted_pickle(tmp_path / "ran"))
    signature = json.loads((gbm / trust.SIGNATURE).read_text())
    signature["files"]["gbm.pkl"] = hashlib.sha256((gbm / "gbm.pkl").read_bytes()).hexdigest()
    (gbm / trust.SIGNATURE).write_text(json.dumps(signature))
    with pytest.raises(trust.UntrustedModel, match="does not match the files it lists"):
        trust.verify_model_dir(gbm)
    for broken in ("not json", "[]", json.dumps({**signature, "files": {"gbm.pkl": 1}})):
        (gbm / trust.SIGNATURE).write_text(broken)
        with pytest.raises(trust.UntrustedModel, match="is not a coughscope signature"):
            trust.verify_model_dir(gbm)
    (gbm / trust.SIGNATURE).unlink()
    with pytest.raises(trust.UntrustedModel, match="has no signature.json"):
        trust.verify_model_dir(gbm)


# ----------------------------------------------------------------------------- the key


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, wav: Path, made: SignedRun,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(tmp_path / "cfg"))
    key = trust.load_key(create=True)
    assert key is not None and len(key) == 32
    path = trust.key_path()
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read or written by other users") as err:
        trust.load_key()
    assert f"chmod 600 {path}" in err.value.hint
    code, _, err_text = cli(capsys, "predict", str(wav), "--run", str(made.run))
    assert code == 2 and str(path) in err_text and "Traceback" not in err_text
    path.chmod(0o600)
    assert trust.load_key() == key  # fixed by the hint, same key
    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="is damaged"):
        trust.load_key()


def test_a_missing_key_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert trust.load_key() is None  # verifying never creates one
    first = trust.load_key(create=True)
    assert trust.load_key(create=True) == first
    assert [p.name for p in (tmp_path / "cfg").iterdir()] == ["run-key"]  # no temp left


def test_processes_making_the_key_at_once_end_with_one_key(tmp_path: Path) -> None:
    env = {**os.environ, "COUGHSCOPE_CONFIG_DIR": str(tmp_path / "cfg")}
    code = "from engine import trust; print(trust.load_key(create=True).hex())"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    keys = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1 and (tmp_path / "cfg" / "run-key").read_text().strip() in keys
    assert [p.name for p in (tmp_path / "cfg").iterdir()] == ["run-key"]


def test_a_key_folder_that_cannot_be_made_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COUGHSCOPE_CONFIG_DIR", str(blocker / "cfg"))
    with pytest.raises(ConfigError, match="cannot create the key file") as err:
        trust.sign_model_dir(tmp_path)
    assert str(blocker) in str(err.value)


# ----------------------------------------------------------------------------- context (issue 21)


def _trust(capsys: pytest.CaptureFixture[str], run: Path) -> None:
    code, _, err = cli(capsys, "runs", "trust", str(run), "--yes")
    assert code == 0, err


def test_a_model_folder_copied_from_another_run_is_refused_until_trusted(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    other, run = made.copy(tmp_path / "other"), made.copy(tmp_path / "run")
    shutil.rmtree(run / "gbm" / "0")
    shutil.copytree(other / "gbm" / "0", run / "gbm" / "0")  # same bytes, another run's model
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "gbm")
    assert code == 2
    assert (f"{run / 'gbm' / '0'} was signed for run 'other', but the folder is now run 'run': "
            "it was copied or moved from elsewhere") in err
    assert f"coughscope runs trust {run}" in err
    _trust(capsys, run)
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "gbm")
    assert code == 0, err


def test_a_model_folder_copied_to_another_seed_is_refused(made: SignedRun,
                                                         tmp_path: Path) -> None:
    import shutil

    run = made.copy(tmp_path / "run")
    shutil.copytree(run / "logreg" / "0", run / "logreg" / "1")
    with pytest.raises(trust.UntrustedModel, match="was signed for seed '0', but the folder is "
                                                   "now seed '1'"):
        trust.verify_model_dir(run / "logreg" / "1")
    trust.verify_model_dir(run / "logreg" / "0")  # the original still verifies


def test_an_edited_sample_rate_is_refused_until_trusted(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = made.copy(tmp_path / "run")
    config = run / "config.toml"
    config.write_text(config.read_text().replace("sample_rate = 22050", "sample_rate = 16000"))
    for model in ("logreg", "ann"):
        code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", model)
        assert code == 2
        assert "was signed with other preprocessing in the run's config.toml (sample_rate = " \
               "22050 when signed, 16000 now)" in err
    _trust(capsys, run)
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "logreg")
    assert code == 0, err


def test_a_signature_of_the_old_scheme_must_be_trusted_again(
        made: SignedRun, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import hmac as hmac_

    run = made.copy(tmp_path / "run")
    sig_path = run / "logreg" / "0" / trust.SIGNATURE
    old = json.loads(sig_path.read_text())
    files = old["files"]
    body = json.dumps({"format": "coughscope.signature/1", "files": files}, sort_keys=True,
                      separators=(",", ":"))  # what the contents-only scheme signed
    key = trust.load_key()
    sig_path.write_text(json.dumps({
        "format": "coughscope.signature/1", "key_id": trust.key_id(key), "files": files,
        "hmac": hmac_.new(key, body.encode(), hashlib.sha256).hexdigest()}))
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "logreg")
    assert code == 2
    assert "was made by an older coughscope that signed the files only" in err
    assert f"coughscope runs trust {run}" in err
    _trust(capsys, run)
    assert json.loads(sig_path.read_text())["context"]["run_id"] == "run"
    code, _, err = cli(capsys, "predict", str(wav), "--run", str(run), "--models", "logreg")
    assert code == 0, err


def test_a_seed_folder_in_other_digits_is_not_a_seed(made: SignedRun, tmp_path: Path) -> None:
    import shutil

    from engine import runs

    run = made.copy(tmp_path / "run")
    for name in ("\u0661", "\u00b2", "\uff11"):  # Arabic-Indic one, superscript two, fullwidth one
        shutil.copytree(run / "logreg" / "0", run / "logreg" / name)
    assert [d.name for d in trust.run_model_dirs(run) if d.parent.name == "logreg"] == ["0"]
    assert runs.model_seeds(runs.RunDir(run), "logreg") == [0]
    assert ("logreg", 0) in runs.finished_parts(runs.RunDir(run))
    assert not [p for p in runs.finished_parts(runs.RunDir(run)) if p[0] == "logreg"
                and p[1] != 0]
