"""``coughscope runs compare`` and ``runs export`` (issue 20, Compare, Export and the domain
views) on real runs made by the real headless runner: two tiny demo runs (the same models in
another order, another epoch count), and -- with ``../shared/data`` -- two tiny covid19-cough
runs, one holding the Telegram clips out (``--test-group source=telegram``), the other
scored by ``coughscope evaluate`` on a disjoint subset. Every number the commands print or
write is checked against the run's own ``summary.json``/``evaluations`` files; exported CSV,
JSON, SVG, PNG and ``.tex`` files are parsed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

try:
    from test_ood import real_manifests
except ImportError:  # tests/ is a package
    from tests.test_ood import real_manifests

REPO = Path(__file__).resolve().parents[1]
GROUP = "source=telegram"


def cs(base: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COUGHSCOPE_DATA_DIR": str(base / "data"),
           "COUGHSCOPE_CACHE_DIR": str(base / "cache"), "PYTHONPATH": str(REPO),
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "engine", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def summary(run: Path) -> dict[str, Any]:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/one`` (majority,logreg, 2 epochs) and ``runs/two`` (logreg,majority: the same
    models in another order, 3 epochs), two seeds each, on 24 demo clips."""
    base = tmp_path_factory.mktemp("compare-demo")
    for run_id, models, epochs in (("one", "majority,logreg", "2"),
                                   ("two", "logreg,majority", "3")):
        done = cs(base, "--headless", "--data", "demo:24", "--models", models, "--seeds", "2",
                  "--epochs", epochs, "--runs-dir", str(base / "runs"), "--run-id", run_id)
        assert done.returncode == 0, done.stderr[-3000:]
    return base


@pytest.fixture(scope="module")
def real_runs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/held`` holds source=telegram out; ``runs/whole`` does not, and is scored by
    ``evaluate`` on a disjoint subset of covid19-cough (both real clips, 2 seeds)."""
    base = tmp_path_factory.mktemp("compare-real")
    dev, other = real_manifests(shared_data, base)
    for run_id, extra in (("held", ["--test-group", GROUP]), ("whole", [])):
        done = cs(base, "--headless", "--data", str(dev), "--models", "logreg,ann", "--seeds",
                  "2", "--epochs", "3", *extra, "--runs-dir", str(base / "runs"), "--run-id",
                  run_id)
        assert done.returncode == 0, done.stderr[-3000:]
    done = cs(base, "evaluate", str(base / "runs" / "whole"), "--data", str(other))
    assert done.returncode == 0, done.stderr[-3000:]
    return base


def compare_json(base: Path, *argv: str) -> dict[str, Any]:
    done = cs(base, "runs", "compare", "--runs-dir", str(base / "runs"), *argv, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def row_of(result: dict[str, Any], run: str, model: str) -> dict[str, Any]:
    found = [r for r in result["rows"] if r["run"] == run and r["model"] == model]
    assert len(found) == 1, (run, model, result["rows"])
    return found[0]


# ------------------------------------------------------------------ compare


def test_compare_puts_each_runs_summary_side_by_side(demo_runs: Path) -> None:
    result = compare_json(demo_runs, "one", "two")
    assert [r["label"] for r in result["runs"]] == ["A", "B"]
    assert result["baseline"] == "one"
    for run in ("one", "two"):
        s = summary(demo_runs / "runs" / run)
        for model in ("majority", "logreg"):
            test = row_of(result, run, model)["aucs"]["test"]
            entry = s["models"][model]
            assert test["mean"] == pytest.approx(entry["metrics"]["roc_auc"]["mean"])
            assert test["std"] == pytest.approx(entry["metrics"]["roc_auc"]["std"])
            assert test["ci"] == pytest.approx(entry["roc_auc_ci"])
            assert test["n_seeds"] == 2
    one, two = (summary(demo_runs / "runs" / r)["models"]["logreg"]["metrics"]["roc_auc"]["mean"]
                for r in ("one", "two"))
    assert row_of(result, "two", "logreg")["delta"]["test"] == pytest.approx(two - one)
    assert row_of(result, "one", "logreg")["delta"]["test"] == 0
    # demo data has no metadata column: nothing within, held out, external, or shortcut
    assert all(row_of(result, "one", "logreg")["aucs"][k] is None
               for k in ("within", "held_out", "external", "shortcut"))


def test_compare_lists_only_differing_fields_and_not_the_model_order(demo_runs: Path) -> None:
    differences = compare_json(demo_runs, "one", "two")["differences"]
    assert differences["config"]["recipe.epochs"] == [2, 3]
    assert "models" not in differences["config"]  # the same models, in another order
    assert "seeds" not in differences["config"] and "data" not in differences["config"]
    assert "time" not in differences["env"]


def test_compare_pins_a_baseline_by_letter_and_prints_the_table(demo_runs: Path) -> None:
    done = cs(demo_runs, "runs", "compare", "--runs-dir", str(demo_runs / "runs"), "one",
              "two", "--baseline", "B")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "differences are to B, the baseline" in out
    assert re.search(r"B  two  finished .*◆ baseline", out)
    s = summary(demo_runs / "runs" / "one")["models"]["logreg"]
    mean, ci = s["metrics"]["roc_auc"]["mean"], s["roc_auc_ci"]
    cell = f"{mean:.2f}".lstrip("0")
    line = next(line for line in out.splitlines() if line.startswith("logreg    A"))
    assert cell in line and f"{ci[0]:.2f}".lstrip("0") in line, line
    assert "recipe.epochs: A 2  |  B 3" in out
    # the Δ table lists A against B, never B against itself
    deltas = out.split("differences to the baseline (B)")[1].split("what each")[0]
    assert re.search(r"logreg\s+A", deltas) and not re.search(r"logreg\s+B", deltas)


@pytest.mark.parametrize("argv, words", [
    (["one", "one"], "given twice"),
    (["one", "two", "--baseline", "nowhere"], "nowhere"),
    (["one", "gone"], "gone"),
])
def test_compare_refuses_with_a_reason(demo_runs: Path, argv: list[str], words: str) -> None:
    done = cs(demo_runs, "runs", "compare", "--runs-dir", str(demo_runs / "runs"), *argv)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "hint:" in done.stderr


@pytest.mark.slow
def test_compare_reads_held_out_within_external_and_shortcut(real_runs: Path) -> None:
    runs = real_runs / "runs"
    result = compare_json(real_runs, "whole", "held")
    whole, held = summary(runs / "whole"), summary(runs / "held")
    (evaluation,) = (runs / "whole" / "evaluations").glob("*.json")
    external = json.loads(evaluation.read_text())
    for model in ("logreg", "ann"):
        a, b = row_of(result, "whole", model)["aucs"], row_of(result, "held", model)["aucs"]
        ood = held["models"][model]["ood"]
        assert b["held_out"]["mean"] == pytest.approx(ood["metrics"]["roc_auc"]["mean"])
        assert b["held_out"]["ci"] == pytest.approx(ood["roc_auc_ci"])
        assert b["held_out"]["what"] == GROUP and a["held_out"] is None
        cc = whole["models"][model]["confound_controlled"]  # the subset is confounded
        assert a["within"]["mean"] == pytest.approx(cc["roc_auc"]["mean"])
        assert a["within"]["ci"] == pytest.approx(cc["roc_auc_ci"])
        ev = external["models"][model]
        assert a["external"]["mean"] == pytest.approx(ev["roc_auc"]["mean"])
        assert a["external"]["ci"] == pytest.approx(ev["roc_auc_ci"])
        assert a["external"]["what"] == "compare-real0/other.csv" or \
            a["external"]["what"].endswith("other.csv")
        base = whole["group_baselines"]["source"]["metrics"]
        assert a["shortcut"]["mean"] == pytest.approx(base["roc_auc"])
        assert a["shortcut"]["what"] == "source"


@pytest.mark.slow
def test_leave_one_source_out_matrix_from_test_group_runs(real_runs: Path) -> None:
    result = compare_json(real_runs, "whole", "held")
    held = summary(real_runs / "runs" / "held")["models"]["logreg"]
    matrix = result["loso"]["logreg"]
    assert matrix["column"] == "source"
    assert matrix["test_values"] == ["call-center", "telegram"]
    (row,) = matrix["rows"]
    assert row["run"] == "held" and row["held_out"] == "telegram"
    assert row["train"] == ["call-center"]  # read from split.csv and the manifest
    assert row["cells"]["telegram"]["mean"] == pytest.approx(
        held["ood"]["metrics"]["roc_auc"]["mean"])
    # trained on call-center only: its test part is all call-center
    assert row["cells"]["call-center"]["mean"] == pytest.approx(
        held["metrics"]["roc_auc"]["mean"])
    assert "whole: no held-out group" in matrix["skipped"]
    text = cs(real_runs, "runs", "compare", "--runs-dir", str(real_runs / "runs"), "whole",
              "held").stdout
    assert "leave one source out, logreg" in text
    line = next(line for line in text.splitlines() if line.startswith("call-center  "))
    assert "◆ " in line


@pytest.mark.slow
def test_roc_per_source_keeps_the_held_out_source_apart(real_runs: Path) -> None:
    from engine.compare import roc_by_value
    from engine.runs import RunDir

    curves = roc_by_value(RunDir(real_runs / "runs" / "held"), "logreg", "source")
    assert set(curves) == {"call-center", "telegram (held out)"}
    held = curves["telegram (held out)"]
    assert held["clips"] == 60 and len(held["fpr"]) == 101 and held["n_seeds"] == 2
    assert held["tpr"][0] >= 0 and held["tpr"][-1] == pytest.approx(1.0)
    whole = roc_by_value(RunDir(real_runs / "runs" / "whole"), "logreg", "source")
    s = summary(real_runs / "runs" / "whole")["models"]["logreg"]["by_group"]["source"]
    for value in ("call-center", "telegram"):
        assert whole[value]["auc"]["mean"] == pytest.approx(s[value]["roc_auc"]["mean"])


# ------------------------------------------------------------------ export


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def tex_coordinates(tex: str) -> list[list[tuple[float, float]]]:
    """The coordinates of every drawn (not shaded) ``\\addplot`` of a pgfplots figure."""
    out = []
    for options, body in re.findall(r"\\addplot\[([^\]]*)\] coordinates \{([^}]*)\};", tex):
        if "draw=none" in options:
            continue
        out.append([tuple(map(float, p.split(","))) for p in re.findall(r"\(([^)]*)\)", body)])
    return out


def test_export_writes_tables_and_figures_that_match_the_runs(demo_runs: Path) -> None:
    out = demo_runs / "paper"
    done = cs(demo_runs, "runs", "export", "--runs-dir", str(demo_runs / "runs"), "one", "two",
              "--out", str(out))
    assert done.returncode == 0, done.stderr
    listed = [line.strip() for line in done.stdout.splitlines()[1:] if line.startswith("  ")]
    assert sorted(listed) == sorted(p.name for p in out.iterdir())
    for name in ("aucs.csv", "aucs.json", "aucs.tex", "metrics.csv", "differences.csv",
                 "roc_logreg.svg", "roc_logreg.png", "roc_logreg.tex",
                 "curves_logreg.svg", "curves_logreg.png", "curves_logreg.tex"):
        assert name in listed, listed
    one = summary(demo_runs / "runs" / "one")["models"]["logreg"]
    with open(out / "aucs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    test = next(r for r in rows if r["run_id"] == "one" and r["model"] == "logreg"
                and r["kind"] == "test")
    assert float(test["roc_auc_mean"]) == pytest.approx(one["metrics"]["roc_auc"]["mean"],
                                                        abs=1e-5)
    assert float(test["ci_low"]) == pytest.approx(one["roc_auc_ci"][0], abs=1e-5)
    assert float(test["ci_high"]) == pytest.approx(one["roc_auc_ci"][1], abs=1e-5)
    assert json.loads((out / "aucs.json").read_text())["baseline"] == "one"
    with open(out / "metrics.csv", newline="") as fh:
        metrics = {(r["run_id"], r["model"], r["metric"]): r for r in csv.DictReader(fh)}
    acc = metrics[("one", "logreg", "accuracy")]
    assert float(acc["mean"]) == pytest.approx(one["metrics"]["accuracy"]["mean"], abs=1e-5)
    with open(out / "scalars.csv", newline="") as fh:
        scalars = [r for r in csv.DictReader(fh) if r["run_id"] == "one"
                   and r["model"] == "logreg"]
    for seed in (0, 1):
        history = json.loads((demo_runs / "runs" / "one" / "logreg" / str(seed)
                              / "metrics.json").read_text())["history"]
        mine = [r for r in scalars if r["seed"] == str(seed)]
        assert [int(r["epoch"]) for r in mine] == [h["epoch"] for h in history]
        assert [float(r["val_auc"]) for r in mine] == pytest.approx(
            [h["val_auc"] for h in history], abs=1e-5)
    with open(out / "differences.csv", newline="") as fh:
        diff = {r["field"]: r for r in csv.DictReader(fh)}
    assert diff["recipe.epochs"]["A"] == "2" and diff["recipe.epochs"]["B"] == "3"
    assert "models" not in diff
    tex = (out / "aucs.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    line = next(line for line in tex.splitlines() if line.startswith("logreg & A &"))
    mean = one["metrics"]["roc_auc"]["mean"]
    assert f"${mean:.3f} \\pm" in line and f"[{one['roc_auc_ci'][0]:.2f}," in line
    # the ROC figure: what pgfplots draws is the seeds' mean ROC, on the 101-point grid
    from engine.compare import mean_roc, test_parts
    from engine.runs import RunDir

    expected = mean_roc(test_parts(RunDir(demo_runs / "runs" / "one"), "logreg"))
    drawn = tex_coordinates((out / "roc_logreg.tex").read_text())
    assert len(drawn) == 2 and len(drawn[0]) == 101  # one curve per run
    assert [y for _, y in drawn[0]] == pytest.approx(expected["tpr"], abs=1e-4)
    assert "\\addlegendentry{A logreg (AUC" in (out / "roc_logreg.tex").read_text()
    svg = ET.parse(out / "roc_logreg.svg").getroot()
    texts = "".join(svg.itertext())
    assert "logreg: test ROC" in texts and f"A logreg (AUC {mean:.3f})" in texts
    width, height = png_size((out / "roc_logreg.png").read_bytes())
    assert width > 300 and height > 300
    curve = tex_coordinates((out / "curves_logreg.tex").read_text())
    assert [x for x, _ in curve[1]] == [1.0]  # logreg: one fit, one validation point


def test_export_never_overwrites(demo_runs: Path) -> None:
    out = demo_runs / "again"
    first = cs(demo_runs, "runs", "export", "--runs-dir", str(demo_runs / "runs"), "one",
               "--out", str(out), "--no-figures", "--json")
    assert first.returncode == 0, first.stderr
    files = json.loads(first.stdout)["files"]
    assert {Path(f).name for f in files} == {"aucs.csv", "aucs.json", "aucs.tex",
                                             "metrics.csv", "scalars.csv", "differences.csv"}
    (out / "aucs.csv").write_text("mine\n")
    again = cs(demo_runs, "runs", "export", "--runs-dir", str(demo_runs / "runs"), "one",
               "--out", str(out), "--no-figures")
    assert again.returncode == 2
    assert "aucs.csv exists already" in again.stderr and "never overwrites" in again.stderr
    assert (out / "aucs.csv").read_text() == "mine\n"


def test_export_refuses_a_link_inside_the_folder(demo_runs: Path, tmp_path: Path) -> None:
    """A link planted in the folder under an exported name is never written through."""
    from engine.errors import CoughscopeError
    from engine.export import export_comparison
    from engine.runs import RunDir

    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.csv"
    target.write_text("keep\n")
    os.symlink(target, out / "metrics.csv")
    with pytest.raises(CoughscopeError) as err:
        export_comparison([RunDir(demo_runs / "runs" / "one")], out, figures=False)
    assert "metrics.csv exists already" in err.value.message
    assert target.read_text() == "keep\n" and sorted(p.name for p in out.iterdir()) == [
        "metrics.csv"]


@pytest.mark.slow
def test_export_of_per_source_roc_and_loso(real_runs: Path) -> None:
    out = real_runs / "paper"
    done = cs(real_runs, "runs", "export", "--runs-dir", str(real_runs / "runs"), "whole",
              "held", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    names = {Path(f).name for f in json.loads(done.stdout)["files"]}
    assert {"roc_by_source_held_logreg.tex", "roc_by_source_held_logreg.svg",
            "roc_by_source_held_logreg.png", "loso_logreg.csv", "loso_logreg.tex"} <= names
    held = summary(real_runs / "runs" / "held")["models"]["logreg"]
    with open(out / "loso_logreg.csv", newline="") as fh:
        cells = {r["tested_on"]: r for r in csv.DictReader(fh)}
    assert cells["telegram"]["held_out"] == "True"
    assert float(cells["telegram"]["roc_auc_mean"]) == pytest.approx(
        held["ood"]["metrics"]["roc_auc"]["mean"], abs=1e-5)
    tex = (out / "roc_by_source_held_logreg.tex").read_text()
    assert "\\addlegendentry{telegram (held out) (AUC" in tex
    assert "held out: $" in (out / "loso_logreg.tex").read_text()


def test_export_confusion_writes_counts_and_figure(demo_runs: Path, tmp_path: Path) -> None:
    from engine.export import export_confusion
    from engine.runs import RunDir

    run = RunDir(demo_runs / "runs" / "one")
    pooled = summary(run.path)["models"]["logreg"]["confusion_pooled"]
    done = export_confusion(run, "logreg", "pooled", pooled, None, tmp_path / "c")
    assert [p.name for p in done.files] == ["confusion.csv", "confusion.json", "confusion.tex",
                                            "confusion.svg", "confusion.png"]
    with open(tmp_path / "c" / "confusion.csv", newline="") as fh:
        rows = {r["true"]: r for r in csv.DictReader(fh)}
    assert int(rows["negative"]["predicted_negative"]) == pooled["tn"]
    assert int(rows["positive"]["predicted_positive"]) == pooled["tp"]
    record = json.loads((tmp_path / "c" / "confusion.json").read_text())
    assert record["confusion"] == pooled
    tex = (tmp_path / "c" / "confusion.tex").read_text()
    assert f"positive &  & {pooled['fn']} & {pooled['tp']} \\\\" in tex
    assert "confusion" in "".join(ET.parse(tmp_path / "c" / "confusion.svg").getroot().itertext())


def test_compare_says_what_it_could_not_read(demo_runs: Path, tmp_path: Path) -> None:
    """A run without summary.json is listed with why; a damaged evaluation is named, not
    silently dropped."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(demo_runs / "runs" / "one", runs / "one")
    shutil.copytree(demo_runs / "runs" / "two", runs / "two")
    (runs / "two" / "summary.json").unlink()
    (runs / "one" / "evaluations").mkdir()
    (runs / "one" / "evaluations" / "20260101-000000-x.json").write_text("{not json")
    done = cs(demo_runs, "runs", "compare", "--runs-dir", str(runs), "one", "two")
    assert done.returncode == 0, done.stderr
    assert "no summary.json yet" in done.stdout
    assert "evaluations/20260101-000000-x.json skipped" in done.stdout
    assert not re.search(r"^\w+\s+B\s", done.stdout, re.M)  # B has no rows
