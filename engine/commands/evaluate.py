"""Score a finished run's models on another data set (external validation).

Every usable clip of the other data set is a test clip, classified at each model's own
operating point (the threshold its run chose without the test part), and its calibrated
probabilities are scored too: Brier score, expected calibration error (with intervals) and
the reliability bins -- a model that ranks well on a new channel can still be miscalibrated
there. Prints a table (or one JSON object with --json) with, per model,
mean and std over seeds of every metric, the test AUC's 95% bootstrap interval
(``roc_auc_ci``), the results per metadata group (with intervals), the AUC within each value
of every metadata column pooled (``stratified_auc``) and, when the run found a column
confounded with the label, that one as the headline ``confound_controlled``. The result is also
saved under RUN/evaluations/.

  coughscope evaluate runs/20261126-101500-ab12 --data ../other/manifest.csv --json
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from .. import paths
from ..runs import write_json
from .experiment import preprocess_bar, results_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory, run id, or 'latest'")
    parser.add_argument("--data", metavar="SPEC", required=True,
                        help="the data set to score on (Coswara root, manifest CSV, folder, demo)")
    parser.add_argument("--models", metavar="LIST", help="only these models (comma-separated)")
    parser.add_argument("--runs-dir", metavar="DIR",
                       help=f"where to look for RUN ({paths.RUNS_DIR_HELP})")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="where the networks run (default auto: a GPU when there is one; "
                             "a whole data set pays for its start-up)")


def run(args: argparse.Namespace) -> int:
    from ..devices import inference_device
    from ..inference import check_writable, evaluate_run, find_run

    from ..cli import library_output_to_stderr
    from ..config import ExperimentConfig
    from ..partial import LeftOut
    from ..sources import load_source, require_both_classes

    run_dir = find_run(args.run, paths.runs_dir(args.runs_dir), finished=True)
    # before the work, not after it; evaluations/ must be a real folder of the run
    check_writable(run_dir.path / "evaluations", root=run_dir.path)
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    # before any audio work: a data set with one class cannot be scored (AUC is undefined)
    sound = ExperimentConfig.from_toml(run_dir.config_path).sound
    require_both_classes(load_source(args.data, sound=sound), "evaluation")
    with library_output_to_stderr():
        result = evaluate_run(run_dir, args.data, models=models, progress=preprocess_bar(),
                              device=inference_device(args.device))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", args.data)[-60:]
    write_json(run_dir.path / "evaluations" / f"{stamp}-{name}.json", result, root=run_dir.path)
    from .predict import state_notes

    for note in state_notes(result["run_note"],
                            [LeftOut(**{**x, "seeds": tuple(x["seeds"])})
                             for x in result["left_out"]]):
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        from ..runs import dumps

        print(dumps(result))
    else:
        table = {"models": {k: {"metrics": v, "roc_auc_ci": v.get("roc_auc_ci"),
                                "confound_controlled": v.get("confound_controlled"),
                                "calibration_method": v.get("calibration")}
                            for k, v in result["models"].items()},
                 "warnings": []}
        d = result["data"]
        print(f"{d['description']}: {d['usable']} clips ({d['positive']} positive)")
        print(results_table(table))
    return 0
