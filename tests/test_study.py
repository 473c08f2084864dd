"""Cross-dataset studies on real clips: covid19-cough's two sources (as two data sets, and
leave-one-source-out within one), and Coswara's sample against covid19-cough. Each number of
the matrix is checked against the same number obtained by hand: `evaluate` for a cross-set
cell (and for a held-out source, on a manifest of its clips), the run's own summary for the
in-set test part."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ConfigError, RunError
from engine.study import cell_text, format_matrix, load_study, set_names

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--models", "logreg", "--seeds", "1", "--device", "cpu"]


def manifest(shared: Path, out: Path, picks: dict[tuple[str, str], int]) -> Path:
    """A manifest of the first N real covid19-cough clips of each (source, label)."""
    src = shared / "covid19-cough" / "manifest.csv"
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "source"])
        for (source, label), n in picks.items():
            for r in [r for r in rows if r["source"] == source and r["label"] == label][:n]:
                w.writerow([str(src.parent / r["path"]), r["label"], r["source"]])
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("study-home")
    return {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
            "COUGHSCOPE_CACHE_DIR": str(base / "cache"),
            "COUGHSCOPE_STUDIES_DIR": str(base / "studies"), "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p)}


def cs(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def sources(shared_data, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sets")
    return {
        "call-center": manifest(shared_data, base / "call-center.csv",
                                {("call-center", "positive"): 30, ("call-center", "negative"): 24}),
        "telegram": manifest(shared_data, base / "telegram.csv",
                             {("telegram", "positive"): 20, ("telegram", "negative"): 34}),
        "both": manifest(shared_data, base / "mixed" / "manifest.csv",
                         {("call-center", "positive"): 30, ("call-center", "negative"): 20,
                          ("telegram", "positive"): 18, ("telegram", "negative"): 32}),
    }


def evaluate(run: Path, spec: Path | str, env: dict[str, str]) -> dict:
    return json.loads(cs(["evaluate", str(run), "--data", str(spec), "--json"], env).stdout)


@pytest.mark.slow
def test_cross_study_of_the_two_sources_matches_evaluate_by_hand(sources, env):
    done = cs(["study", "cross", "--data", str(sources["call-center"]), "--data",
               str(sources["telegram"]), *RUN, "--study-id", "sources", "--json"], env)
    printed = json.loads(done.stdout)
    study = load_study(Path(env["COUGHSCOPE_STUDIES_DIR"]) / "sources")
    assert printed["matrices"]["logreg"][0][1]["auc"] == study.cell("logreg", "call-center",
                                                                    "telegram").auc
    assert [r.name for r in study.rows] == study.columns == ["call-center", "telegram"]
    for row in study.columns:
        run = study.run_path(row)
        summary = json.loads((run / "summary.json").read_text())["models"]["logreg"]
        diag = study.cell("logreg", row, row)
        assert diag.kind == "in-set"
        assert diag.auc == pytest.approx(summary["metrics"]["roc_auc"]["mean"], abs=1e-12)
        assert list(diag.ci) == pytest.approx(summary["roc_auc_ci"], abs=1e-12)
        for column in study.columns:
            if column == row:
                continue
            cell = study.cell("logreg", row, column)
            by_hand = evaluate(run, sources[column], env)["models"]["logreg"]
            assert cell.kind == "cross-set" and cell.clips == 54
            assert cell.auc == pytest.approx(by_hand["roc_auc"]["mean"], abs=1e-12)
            assert list(cell.ci) == pytest.approx(by_hand["roc_auc_ci"], abs=1e-12)
    # the call-centre clips are 8 kHz phone audio: the caption says so
    assert "call-center has clips recorded below 22050 Hz (54 at 8000 Hz" in study.caption
    assert "telegram has clips recorded below" not in study.caption
    text = cs(["study", "show", "sources"], env).stdout
    assert "trained on \\ tested on" in text and cell_text(study.cell(
        "logreg", "telegram", "call-center")) in text
    listed = json.loads(cs(["study", "list", "--json"], env).stdout)["studies"]
    assert [s["id"] for s in listed] == ["sources"]


@pytest.mark.slow
def test_leave_one_source_out_rows_match_the_runs_and_evaluate(sources, env, tmp_path):
    cs(["study", "cross", "--data", str(sources["both"]), "--by", "source", *RUN,
        "--study-id", "loso"], env)
    study = load_study(Path(env["COUGHSCOPE_STUDIES_DIR"]) / "loso")
    assert study.kind == "by" and study.by == "source"
    assert [r.name for r in study.rows] == ["call-center", "telegram"]
    assert study.columns == ["in-set", "held-out"]
    for row in study.rows:
        run = study.run_path(row.name)
        summary = json.loads((run / "summary.json").read_text())
        m = summary["models"]["logreg"]
        assert m["ood"]["group"] == f"source={row.name}"
        held = study.cell("logreg", row.name, "held-out")
        assert held.auc == pytest.approx(m["ood"]["metrics"]["roc_auc"]["mean"], abs=1e-12)
        assert held.clips == 50  # every clip of the held-out source
        inset = study.cell("logreg", row.name, "in-set")
        assert inset.auc == pytest.approx(m["metrics"]["roc_auc"]["mean"], abs=1e-12)
        # by hand: evaluate the run on a manifest of the held-out source's clips alone
        only = tmp_path / f"{row.name}.csv"
        with open(sources["both"], newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r["source"] == row.name]
        with open(only, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        by_hand = evaluate(run, only, env)["models"]["logreg"]
        assert held.auc == pytest.approx(by_hand["roc_auc"]["mean"], abs=1e-9)
    assert "Leave one source out" in study.caption
    assert "call-center has clips recorded below 22050 Hz" in study.caption


@pytest.mark.slow
def test_coswara_sample_against_covid19_cough(shared_data, sources, env):
    coswara = shared_data / "coswara-sample"
    cs(["study", "cross", "--data", str(coswara), "--data", str(sources["both"]), *RUN,
        "--study-id", "coswara"], env)
    study = load_study(Path(env["COUGHSCOPE_STUDIES_DIR"]) / "coswara")
    assert study.columns == ["coswara-sample", "mixed"]
    cos = study.rows[0]
    # the sample holds one collection date, all negative: it cannot be trained on ...
    assert cos.run is None and "only negative clips (76)" in cos.note
    assert study.matrices["logreg"][0] == [None, None]
    # ... and has no AUC as a test set: the share called negative is given instead
    cell = study.cell("logreg", "mixed", "coswara-sample")
    specificity, usable = evaluate_one_class(study.run_path("mixed"), coswara, env)
    assert cell.auc is None and cell.clips == usable and cell.positives == 0
    assert usable <= 76  # preprocessing may exclude some (too short, silent...)
    assert f"specificity {specificity:.3f} at the model's threshold" in cell.note
    diag = study.cell("logreg", "mixed", "mixed")
    summary = json.loads((study.run_path("mixed") / "summary.json").read_text())
    assert diag.auc == pytest.approx(summary["models"]["logreg"]["metrics"]["roc_auc"]["mean"])
    assert "coswara-sample: not trained" in study.caption
    assert "n/a" in format_matrix(study, "logreg") and "—" in format_matrix(study, "logreg")


def evaluate_one_class(run: Path, spec: Path, env: dict[str, str]) -> tuple[float, int]:
    """The specificity of the run's logreg on an all-negative set, computed by hand from
    the engine's evaluate_run (the CLI refuses a one-class set: AUC is undefined)."""
    code = ("import json, sys; from pathlib import Path; from engine.inference import "
            "evaluate_run; from engine.runs import RunDir; "
            "r = evaluate_run(RunDir(Path(sys.argv[1])), sys.argv[2]); "
            "print(json.dumps([r['models']['logreg']['specificity']['mean'], "
            "r['data']['usable']]))")
    done = subprocess.run([sys.executable, "-c", code, str(run), str(spec)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    specificity, usable = json.loads(done.stdout.strip().splitlines()[-1])
    return float(specificity), int(usable)


def test_set_names_are_short_unique_and_safe():
    assert set_names(["/a/covid19-cough/manifest.csv", "/b/coswara-sample", "demo:40",
                      "coughvid:/x/public_dataset?cough_detected=0.5", "/c/coswara-sample/",
                      "/d/my list.csv"]) == [
        "covid19-cough", "coswara-sample", "demo_40", "public_dataset", "coswara-sample-2",
        "my_list"]


def test_study_requests_that_cannot_work_are_refused(tmp_path):
    from engine.config import ExperimentConfig, SplitConfig
    from engine.study import run_study

    config = ExperimentConfig(models=("logreg",), seeds=1)
    with pytest.raises(ConfigError, match="at least two --data"):
        run_study(config, ["demo:40"], tmp_path / "s")
    with pytest.raises(ConfigError, match="--by source takes one data set"):
        run_study(config, ["demo:40", "demo:60"], tmp_path / "s", by="source")
    with pytest.raises(ConfigError, match="--test-group cannot be used"):
        run_study(config.replace(split=SplitConfig(test_group="source=x")),
                  ["demo:40", "demo:60"], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_damaged_study_record_is_named(tmp_path):
    (tmp_path / "s").mkdir()
    with pytest.raises(RunError, match="holds no matrix.json"):
        load_study(tmp_path / "s")
    (tmp_path / "s" / "matrix.json").write_text('{"v": 1, "kind": "cross", "columns": ["a"], '
                                                '"rows": [{"name": "a", "spec": "x", "run": '
                                                '"../../elsewhere"}], "matrices": {}, '
                                                '"models": [], "sample_rate": 22050}')
    with pytest.raises(RunError, match="not a folder inside the study"):
        load_study(tmp_path / "s")
    (tmp_path / "s" / "matrix.json").write_text("[1, 2")
    with pytest.raises(RunError, match="cannot be read"):
        load_study(tmp_path / "s")


def test_by_value_study_runs_each_held_out_value_and_says_why_one_cannot(tmp_path):
    """Leave-one-source-out on small real audio files: source C has no positive clip, so it
    cannot be held out (no AUC), and its row says so instead of disappearing."""
    from engine.config import ExperimentConfig
    from engine.study import run_study

    manifest = abc_manifest(tmp_path)
    config = ExperimentConfig(models=("logreg",), seeds=1, device="cpu")
    study = run_study(config, [str(manifest)], tmp_path / "studies" / "by", by="source")
    assert [r.name for r in study.rows] == ["A", "B", "C"]
    assert study.rows[2].run is None and "only negative clips (6)" in study.rows[2].note
    assert study.matrices["logreg"][2] == [None, None]
    for name in ("A", "B"):
        held = study.cell("logreg", name, "held-out")
        assert held.kind == "held-out" and held.clips == 16 and held.positives == 8
        assert held.auc is not None and 0.0 <= held.auc <= 1.0
        assert (study.run_path(name) / "summary.json").is_file()
    assert "A has clips recorded below 22050 Hz (16 at 8000 Hz, of 16)" in study.caption
    assert "C: not run" in study.caption
    assert (study.path / "caption.txt").read_text().strip() == study.caption.strip()


def abc_manifest(tmp_path: Path) -> Path:
    """Real audio files in three sources: A (8 kHz) and B with both classes, C negatives."""
    from conftest import write_cough

    rows = []
    for source, pos, neg in (("A", 8, 8), ("B", 8, 8), ("C", 0, 6)):
        for i in range(pos + neg):
            label = "positive" if i < pos else "negative"
            # positives: a longer burst; sample rates differ by source
            path = write_cough(tmp_path / "clips" / f"{source}{i}.wav",
                               sr=8000 if source == "A" else 22050, seed=len(rows),
                               seconds=0.6 if label == "positive" else 0.3)
            rows.append(f"{path},{label},{source}")
    manifest = tmp_path / "clips" / "manifest.csv"
    manifest.write_text("path,label,source\n" + "\n".join(rows) + "\n")
    return manifest


def test_a_study_that_stopped_part_way_is_continued(tmp_path):
    import shutil

    from engine.config import ExperimentConfig
    from engine.study import run_study

    manifest = abc_manifest(tmp_path)
    config = ExperimentConfig(models=("logreg",), seeds=1, device="cpu")
    path = tmp_path / "studies" / "part"
    first = run_study(config, [str(manifest)], path, by="source")
    # as if it had stopped while training without B: no matrix, no run for B
    (path / "matrix.json").unlink()
    shutil.rmtree(path / "runs" / "source_B")
    events_a = (path / "runs" / "source_A" / "events.jsonl").read_bytes()
    with pytest.raises(RunError, match="already exists"):
        run_study(config, [str(manifest)], path, by="source")
    with pytest.raises(RunError, match=r"other options \(seeds differ\)"):
        run_study(config.replace(seeds=2), [str(manifest)], path, by="source", resume=True)
    said: list[str] = []
    again = run_study(config, [str(manifest)], path, by="source", resume=True, say=said.append)
    assert "source_A: finished before, reused" in said
    assert (path / "runs" / "source_A" / "events.jsonl").read_bytes() == events_a  # untouched
    assert (path / "runs" / "source_B" / "summary.json").is_file()  # trained now
    assert again.matrices["logreg"][0] == first.matrices["logreg"][0]
    assert again.cell("logreg", "B", "held-out").auc == first.cell("logreg", "B", "held-out").auc
