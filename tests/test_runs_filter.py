"""Issue 20, Runs list: the filter (engine.runfilter), tags and notes (engine.annotations),
and their command line (``coughscope runs --filter``, ``runs tag``, ``runs note``). Runs are
written by the record's own writer (tests/test_tui_support.make_finished_run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from test_tui_support import make_finished_run
except ImportError:  # tests/ is a package
    from tests.test_tui_support import make_finished_run

from engine.annotations import (Annotations, add_tags, read_annotations, set_note, set_tags,
                                write_annotations)
from engine.errors import RunError
from engine.runfilter import FilterError, RunFacts, facts_of, parse

REPO = Path(__file__).resolve().parents[1]

CNN = RunFacts(id="20260101-cnn", status="finished", data="/d/covid19-cough/manifest.csv",
               models=("cnn", "logreg"), tags=("paper",), note="mic gain too high",
               numbers={"auc": 0.83, "trust": 0.71, "seeds": 4.0, "epochs": 30.0},
               text={"preset": "default", "holdout": "source=lab", "balance": "source"})
ANN = RunFacts(id="20260102-ann", status="running", data="demo", models=("ann",),
               numbers={"auc": None, "trust": None, "seeds": 2.0, "epochs": 5.0},
               text={"preset": "paper"})
FAILED = RunFacts(id="20260103-x", status="failed", data="/d/coswara", models=("resnet50",),
                  tags=("gpu", "retry"), numbers={"auc": 0.79, "seeds": 1.0})
ALL = [CNN, ANN, FAILED]


def kept(text: str) -> list[str]:
    keep = parse(text)
    return [f.id.split("-")[1] for f in ALL if keep.matches(f)]


@pytest.mark.parametrize("text, ids", [
    ("", ["cnn", "ann", "x"]),
    ("model:cnn", ["cnn"]),
    ("model:c*", ["cnn"]),
    ("models:res*", ["x"]),
    ("model:cn", []),  # a model is matched whole, never "cn" inside "cnn"
    ("auc>.8", ["cnn"]),
    ("auc>=0.79", ["cnn", "x"]),
    ("auc<0.8", ["x"]),  # a run with no AUC never matches a comparison
    ("auc:<=.79", ["x"]),
    ("auc=0.83", ["cnn"]),
    ("NOT auc>.8", ["ann", "x"]),
    ("data:covid19", ["cnn"]),
    ("data:COSWARA", ["x"]),
    ("status:running", ["ann"]),
    ("state:fin", ["cnn"]),
    ("tag:paper", ["cnn"]),
    ("tag:gpu tag:retry", ["x"]),
    ("gain", ["cnn"]),  # free text reads the note
    ('"gain too"', ["cnn"]),
    ('note:"gain too"', ["cnn"]),
    ("model:cnn OR model:ann", ["cnn", "ann"]),
    ("model:cnn or status:failed", ["cnn", "x"]),
    ("seeds>1 auc>.5", ["cnn"]),
    ("seeds>1 AND NOT model:cnn", ["ann"]),
    ("-model:cnn", ["ann", "x"]),
    ("(model:cnn OR model:ann) seeds>=2", ["cnn", "ann"]),
    ("NOT (status:running OR status:failed)", ["cnn"]),
    ("model:cnn OR model:ann seeds>3", ["cnn"]),  # AND binds tighter than OR
    ("preset:paper", ["ann"]),
    ("holdout:source=lab", ["cnn"]),
    ("balance:source", ["cnn"]),
    ("trust>.7", ["cnn"]),
    ("epochs<10", ["ann"]),
])
def test_filter_keeps_what_it_says(text: str, ids: list[str]) -> None:
    assert kept(text) == ids


@pytest.mark.parametrize("text, said", [
    ("colour:red", "no field 'colour'"),
    ("auc>high", "'high' is not a number"),
    ("data>3", "data is text"),
    ("(model:cnn", "without its ')'"),
    ("model:cnn)", "without its '('"),
    ("model:cnn OR", "ends with OR"),
    ("AND model:cnn", "AND with nothing before it"),
    ("NOT", "ends too early"),
    ("model:", "has no value"),
])
def test_a_filter_that_cannot_be_read_names_the_term(text: str, said: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(text)
    assert said in info.value.message and info.value.hint


def test_facts_read_the_run_config() -> None:
    config = {"data": "demo:40", "models": ["ann"], "seeds": 3, "device": "cpu",
              "balance_by": "source", "split": {"test_group": "source=lab"},
              "recipe": {"epochs": 7, "preset": "paper"}}
    facts = facts_of("r1", "finished", config, best_auc=0.7, trusted_auc=None, tags=("a",))
    assert facts.numbers == {"auc": 0.7, "trust": None, "seeds": 3.0, "epochs": 7.0}
    assert facts.text_of("holdout") == "source=lab" and facts.text_of("balance") == "source"
    assert parse("preset:paper seeds=3 device:cpu tag:a").matches(facts)


# ---------------------------------------------------------------------- annotations

def test_tags_and_note_round_trip_and_keep_each_other(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path)
    assert read_annotations(run) == Annotations()
    add_tags(run, ["paper", "baseline", "paper"])
    set_note(run, "  re-ran with --pad zero \n")
    assert read_annotations(run) == Annotations(("baseline", "paper"), "re-ran with --pad zero")
    add_tags(run, ["baseline"], remove=True)
    set_tags(run, [*read_annotations(run).tags, "x"])
    assert read_annotations(run) == Annotations(("paper", "x"), "re-ran with --pad zero")
    saved = json.loads((run / "annotations.json").read_text())
    assert saved == {"v": 1, "tags": ["paper", "x"], "note": "re-ran with --pad zero"}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("tag", ["", "two words", "a,b", "x" * 41, "\x1b[31m"])
def test_a_tag_that_cannot_be_filtered_on_is_refused(tmp_path: Path, tag: str) -> None:
    run = make_finished_run(tmp_path)
    with pytest.raises(RunError, match="cannot be used"):
        add_tags(run, [tag])
    assert not (run / "annotations.json").exists()


def test_a_damaged_annotations_file_is_named_and_hides_nothing(tmp_path: Path) -> None:
    from engine.runs import RunDir

    run = make_finished_run(tmp_path)
    (run / "annotations.json").write_text('{"tags": "not a list"}')
    with pytest.raises(RunError) as info:
        read_annotations(run)
    assert str(run / "annotations.json") in info.value.message
    assert "delete" in info.value.hint
    assert RunDir(run).problem() is None  # the run itself is whole
    listed = cs(tmp_path, "runs", "--json")
    row = json.loads(listed.stdout)["runs"][0]
    assert row["state"] == "finished" and row["tags"] == []
    assert "annotations.json" in row["annotations_problem"]


def test_annotations_are_not_signed_and_do_not_break_trust(tmp_path: Path) -> None:
    from engine import trust

    run = make_finished_run(tmp_path)
    model_dir = run / "ann" / "0"
    (model_dir / "model.pt").write_bytes(b"weights")
    trust.sign_model_dir(model_dir, root=run)
    signed = trust.verify_model_dir(model_dir)
    add_tags(run, ["checked"])
    set_note(run, "trusted after the tag")
    assert trust.verify_model_dir(model_dir) == signed
    assert all("annotations" not in rel for rel in signed)


def test_annotations_stay_inside_the_run_folder(tmp_path: Path) -> None:
    run = make_finished_run(tmp_path / "runs")
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (run / "annotations.json").symlink_to(outside)
    with pytest.raises(Exception):
        write_annotations(run, Annotations(("x",), ""))
    assert outside.read_text() == "{}"


# ---------------------------------------------------------------------- the command line

def cs(runs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *argv, "--runs-dir", str(runs)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_runs_tag_note_and_filter_from_the_command_line(tmp_path: Path) -> None:
    make_finished_run(tmp_path, "20240501-120000-aaaa")
    make_finished_run(tmp_path, "20240502-120000-bbbb")
    done = cs(tmp_path, "runs", "tag", "20240501-120000-aaaa", "paper", "baseline")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "20240501-120000-aaaa: tags baseline paper"
    done = cs(tmp_path, "runs", "tag", "20240501-120000-aaaa", "baseline", "--remove")
    assert done.stdout.strip() == "20240501-120000-aaaa: tags paper"
    done = cs(tmp_path, "runs", "note", "20240502-120000-bbbb", "noisy\x1b[2J mic")
    assert done.returncode == 2 and "the note holds control characters" in done.stderr
    done = cs(tmp_path, "runs", "note", "20240502-120000-bbbb", "noisy\u202e mic")
    assert done.returncode == 0 and "\u202e" not in done.stdout

    listed = json.loads(cs(tmp_path, "runs", "--json", "--filter", "tag:paper").stdout)
    assert [r["id"] for r in listed["runs"]] == ["20240501-120000-aaaa"]
    assert listed["runs"][0]["tags"] == ["paper"]
    listed = json.loads(cs(tmp_path, "runs", "--json", "--filter", "NOT tag:paper mic").stdout)
    assert [r["id"] for r in listed["runs"]] == ["20240502-120000-bbbb"]
    # best AUC 0.81 (ann, mean of 0.80 and 0.82): the numbers come from summary.json
    assert len(json.loads(cs(tmp_path, "runs", "--json", "--filter", "auc>.8").stdout)
               ["runs"]) == 2
    assert json.loads(cs(tmp_path, "runs", "--json", "--filter", "auc>.82").stdout)["runs"] == []

    table = cs(tmp_path, "runs", "--filter", "model:ann tag:paper")
    assert "20240501-120000-aaaa" in table.stdout and "bbbb" not in table.stdout
    assert "#paper" in table.stdout
    shown = cs(tmp_path, "runs", "show", "20240502-120000-bbbb")
    assert "note: noisy\\u202e mic" in shown.stdout

    bad = cs(tmp_path, "runs", "--filter", "colour:red")
    assert bad.returncode == 2 and "no field 'colour'" in bad.stderr and "fields:" in bad.stderr
    bad = cs(tmp_path, "runs", "tag", "20240501-120000-aaaa", "two words")
    assert bad.returncode == 2 and "'two words' cannot be used" in bad.stderr
