"""Classify recordings with a finished run's models.

For every file: input checks (unreadable, too short, silent, clipped, unusually loud or quiet,
no cough-like burst), then per model the probability of `positive` (mean over the run's seeds,
calibrated on predictions the models did not train on), the label at the run's operating point,
and the AUC the recording channel cannot inflate beside the in-distribution one, so you know
how far to trust it. Folders are searched for audio files.

coughscope is a research tool, not a diagnostic device.

  coughscope predict cough.wav
  coughscope predict recordings/ --run runs/20261126-101500-ab12 --json
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from .. import paths
from ..errors import ExitCode
from ..runs import trained_on_synthetic

SYNTHETIC_WARNING = ("the models of run {run} were trained on SYNTHETIC demo data: their "
                     "answers say nothing about real coughs (train on real data first)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", help="audio files or folders")
    parser.add_argument("--run", metavar="RUN", default="latest",
                        help="run directory or id (default: the latest finished run)")
    parser.add_argument("--models", metavar="LIST", help="only these models (comma-separated)")
    parser.add_argument("--runs-dir", metavar="DIR",
                       help=f"where runs are ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu",
                        help="where the networks run (default cpu: faster than a GPU's "
                             "start-up for a few clips)")


def state_notes(state_note: str | None, left_out: list[Any]) -> list[str]:
    """The run's state when it is not finished, and every model or seed left out, with why
    (:mod:`engine.partial`); each line is escaped, since it quotes run folder names."""
    from ..bounded import printable

    return [printable(n) for n in ([state_note] if state_note else [])
            + [x.describe() for x in left_out]]


def format_result(result: Any) -> str:
    lines = [f"{result.path}"]
    if result.error:
        lines.append(f"  cannot classify: {result.error}")
    for w in result.warnings:
        lines.append(f"  warning: {w}")
    for v in result.verdicts or []:
        if not math.isfinite(v.probability):  # refused upstream; never a crash here
            lines.append(f"  {v.model:<11} no finite probability: no verdict")
            continue
        p = v.calibrated if v.calibrated is not None else v.probability
        bar = "#" * int(round(min(max(p, 0.0), 1.0) * 20))
        cal = "calibrated" if v.calibration != "none" else "uncalibrated"
        lines.append(f"  {v.model:<11} P(positive) {p:5.2f} {cal:<12} [{bar:<20}] "
                     f"{v.label:<8} at {v.operating_point} ({v.agreement:.0%} of seeds agree)")
        lines.append(f"  {'':<11} {auc_note(v)}")
    return "\n".join(lines)


def auc_note(v: Any) -> str:
    """The AUC to trust beside the in-distribution one, labelled, with its interval."""
    test = f"test AUC {v.test_auc:.2f}" if v.test_auc is not None else "test AUC n/a"
    t = v.trusted_auc
    if not t or t.get("kind") == "test":
        return f"{test} (in distribution; no confound found)"
    ci = t.get("roc_auc_ci")
    span = f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else ""
    return (f"AUC to trust: {t['roc_auc']:.2f}{span} {t['label']} "
            f"(in distribution: {test.removeprefix('test AUC ')})")


def classify_paths(files: list[str], run_spec: str, runs_dir: str | None,
                   models: str | None, device: str = "cpu") -> tuple[Any, list[Any], float]:
    from ..devices import inference_device
    from ..inference import Classifier, collect_audio_files, find_run

    run_dir = find_run(run_spec, paths.runs_dir(runs_dir), finished=True)
    names = [m.strip() for m in models.split(",")] if models else None
    classifier = Classifier(run_dir, names, inference_device(device))
    started = time.perf_counter()
    results = [classifier.classify(f) for f in collect_audio_files(files)]
    return classifier, results, time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    from ..inference import DISCLAIMER

    from ..cli import library_output_to_stderr

    with library_output_to_stderr():
        classifier, results, _ = classify_paths(args.files, args.run, args.runs_dir,
                                                args.models, args.device)
    synthetic = trained_on_synthetic(classifier.run)
    warning = SYNTHETIC_WARNING.format(run=classifier.run.id) if synthetic else None
    print(f"using run {classifier.run.id} ({classifier.run.path})", file=sys.stderr)
    notes = state_notes(classifier.state_note, classifier.left_out)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        from ..runs import dumps  # allow_nan=False: never a bare NaN on stdout

        print(dumps({"run_dir": str(classifier.run.path), "run_id": classifier.run.id,
                          "run_state": classifier.state, "run_note": classifier.state_note,
                          "left_out": [x.as_dict() for x in classifier.left_out],
                          "synthetic": synthetic, "warning": warning,
                          "disclaimer": DISCLAIMER,
                          "files": [r.as_dict() for r in results]}))
    else:
        print(f"models of run {classifier.run.id} ({classifier.run.path})")
        for note in notes:
            print(f"NOTE: {note}")
        if warning:
            print(f"WARNING: {warning}")
        for r in results:
            print(format_result(r))
        print(DISCLAIMER)
    return int(ExitCode.OK if any(r.error is None for r in results) else ExitCode.USAGE)
