"""Cross-dataset studies: train on each data set, test on every other.

  coughscope study cross --data A --data B [--data C] [run options] [--json]
                                  one run per data set, each scored on every other: a matrix
                                  of AUCs with 95% intervals (diagonal: in-set test part;
                                  off it: the other set), saved as one study record
  coughscope study cross --data A --by source [run options]
                                  leave one value of a metadata column out, in turn
  coughscope study list           the study records under --studies-dir
  coughscope study show STUDY [--json]
                                  print a saved study's matrix and caption

Run options are those of `coughscope --headless` (--models, --seeds, --epochs, --preset,
--sample-rate, ...): every run of the study uses them. Every clip is resampled to the
--sample-rate (default 22050 Hz); the caption names sets recorded at a lower native rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    cross = sub.add_parser("cross", help="train on each data set, test on every other",
                           conflict_handler="resolve")
    from .experiment import add_arguments as run_options

    run_options(cross)  # the run options of --headless; --data is redefined below
    cross.add_argument("--data", metavar="SPEC", action="append", default=[],
                       help="a data set (repeat: --data A --data B ...)")
    cross.add_argument("--by", metavar="COLUMN",
                       help="with one --data: leave each value of this metadata column out "
                            "in turn (e.g. source)")
    cross.add_argument("--studies-dir", metavar="DIR", help="where study records go")
    cross.add_argument("--study-id", metavar="ID", help="name of the new study folder")
    cross.add_argument("--continue", dest="continue_study", action="store_true",
                       help="finish the study --study-id that stopped part-way: its finished "
                            "runs are reused, interrupted ones continued (same options)")
    listing = sub.add_parser("list", help="the study records under --studies-dir")
    listing.add_argument("--studies-dir", metavar="DIR", help="where study records are")
    listing.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show = sub.add_parser("show", help="print a saved study")
    show.add_argument("study", metavar="STUDY", help="a study folder, or an id under --studies-dir")
    show.add_argument("--studies-dir", metavar="DIR", help="where study records are")
    show.add_argument("--json", action="store_true", help="print matrix.json's object")


def run(args: argparse.Namespace) -> int:
    if args.action == "cross":
        return _cross(args)
    if args.action == "list":
        return _list(args)
    return _show(args)


def _cross(args: argparse.Namespace) -> int:
    from ..cli import library_output_to_stderr
    from ..devices import inference_device
    from ..runs import check_run_id, new_run_id
    from ..study import run_study, studies_dir
    from .experiment import ConsolePrinter, build_config, preprocess_bar

    specs = list(args.data)
    for flag in ("resume", "run_id"):
        if getattr(args, flag, None) is not None:
            raise ConfigError(f"--{flag.replace('_', '-')} does not apply to a study",
                              "each run of a study is named after its data set; use "
                              "--study-id to name the study")
    args.data = None  # each run gets its own data set
    config = build_config(args)
    root = studies_dir(args.studies_dir)
    if args.continue_study and not args.study_id:
        raise ConfigError("--continue needs --study-id", "name the study to finish "
                          "(coughscope study list shows them)")
    study_id = check_run_id(args.study_id) if args.study_id else new_run_id("study-")
    path = root / study_id
    print(f"study folder: {path}", file=sys.stderr)
    with library_output_to_stderr():
        study = run_study(config, specs, path, by=args.by, listeners=[ConsolePrinter()],
                          preprocess_progress=preprocess_bar(),
                          say=lambda text: print(f"study: {text}", file=sys.stderr),
                          device=inference_device(config.device),
                          resume=args.continue_study)
    _print(study, args.json)
    return int(ExitCode.OK)


def _find(args: argparse.Namespace) -> Any:
    from ..errors import RunError
    from ..study import MATRIX, load_study, studies_dir

    for candidate in (Path(args.study).expanduser(), studies_dir(args.studies_dir) / args.study):
        if (candidate / MATRIX).is_file() or candidate.name == MATRIX:
            return load_study(candidate)
    raise RunError(f"study {args.study!r} not found (looked in "
                   f"{studies_dir(args.studies_dir)} and as a path)",
                   "coughscope study list shows the study records")


def _show(args: argparse.Namespace) -> int:
    _print(_find(args), args.json)
    return int(ExitCode.OK)


def _print(study: Any, as_json: bool) -> None:
    if as_json:
        from ..bounded import loads_json
        from ..runs import dumps
        from ..study import MATRIX

        record = loads_json((study.path / MATRIX).read_bytes())
        print(dumps({"study": str(study.path), **record}))
        return
    from ..bounded import printable
    from ..study import format_matrix

    for model in study.models:
        print(format_matrix(study, model))
        print()
    print("\n".join(printable(line) for line in study.caption.splitlines()))
    print(f"\nstudy record: {study.path}")


def _list(args: argparse.Namespace) -> int:
    import json

    from ..bounded import printable
    from ..errors import CoughscopeError
    from ..study import list_studies, load_study, studies_dir

    root = studies_dir(args.studies_dir)
    out = []
    for path in list_studies(root):
        try:
            s = load_study(path)
            out.append({"id": s.id, "path": str(s.path), "kind": s.kind, "by": s.by,
                        "rows": [r.name for r in s.rows], "models": s.models,
                        "created": s.created})
        except CoughscopeError as err:
            out.append({"id": path.name, "path": str(path), "damaged": err.message})
    if args.json:
        print(json.dumps({"studies_dir": str(root), "studies": out}, allow_nan=False))
        return int(ExitCode.OK)
    if not out:
        print(f"no study records in {root}", file=sys.stderr)
    for s in out:
        what = (f"damaged: {s['damaged']}" if "damaged" in s else
                f"{s['kind']}{' by ' + s['by'] if s['by'] else ''}: {', '.join(s['rows'])} "
                f"({', '.join(s['models'])})")
        print(printable(f"{s['id']}  {what}"))
    return int(ExitCode.OK)
