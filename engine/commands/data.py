"""Look at data sets and fetch public ones.

  coughscope data summary SPEC [--json]   what SPEC holds: labels, participants, durations,
                                          sample rates, and every excluded clip with its reason
  coughscope data get coswara|covid19-cough [--dest DIR]
                                          download a public data set (resumes if interrupted)
  coughscope data list                    the data sets `data get` knows, with licences
  coughscope data split SPEC --out FILE   write the participant-disjoint split a run with
                                          the same options would use (a published split;
                                          a run uses one with --split-file FILE)

SPEC is `demo` (synthetic, not real coughs), a Coswara root (holding Extracted_data/), a
manifest CSV (path,label[,group,...]) or a folder with positive/ and negative/ subfolders.
Coswara statuses other than positive_*/healthy/no_resp_illness_exposed/
resp_illness_not_identified are excluded unless mapped, e.g.
`--include-status recovered_full=negative`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    summary = sub.add_parser("summary", help="describe a data set and what is excluded")
    summary.add_argument("spec", metavar="SPEC", help="demo[:N] | Coswara root | manifest.csv | folder")
    summary.add_argument("--json", action="store_true", help="one JSON object on stdout")
    summary.add_argument("--sound", default="cough-heavy", help="Coswara sound file (default cough-heavy)")
    summary.add_argument(
        "--include-status", action="append", default=[], metavar="STATUS=LABEL",
        help="map an extra Coswara covid_status to a label, e.g. recovered_full=negative (repeatable)",
    )
    summary.add_argument("--min-quality", type=int, metavar="N",
                         help="Coswara: keep clips rated at least N (0 bad, 1 good, 2 excellent)")
    summary.add_argument("--sample-rate", type=int, metavar="HZ", help="resample to HZ (default 22050)")
    summary.add_argument("--cache-dir", metavar="DIR", help="preprocessing cache (default: data dir/cache)")
    summary.add_argument("--seed", type=int, default=0, help="demo generator seed (default 0)")
    summary.add_argument("--workers", type=int, metavar="N", help="preprocessing processes (default: all cores)")
    summary.add_argument("--export-images", metavar="DIR",
                         help="also save every usable clip's log-mel as an image in DIR "
                              "(the paper's spectrogram images)")
    summary.add_argument("--image-format", choices=("png", "jpg"), default="png",
                         help="format for --export-images (default png)")

    get = sub.add_parser("get", help="download a public data set")
    get.add_argument("name", metavar="NAME",
                     help="coswara, covid19-cough or coughvid (see `data list`)")
    get.add_argument("--dest", metavar="DIR", help="where to put it (default: data dir/NAME)")
    get.add_argument("--dates", metavar="LIST", help="Coswara: only these date folders (comma-separated)")
    get.add_argument("--base-url", metavar="URL", help="fetch from this mirror instead of GitHub")
    get.add_argument("--keep-archives", action="store_true", help="keep downloaded archives after extracting")

    split = sub.add_parser("split", help="write the split a run with these options would use")
    split.add_argument("spec", metavar="SPEC", help="demo[:N] | Coswara root | manifest.csv | folder")
    split.add_argument("--out", metavar="FILE", required=True,
                       help="the split file to write (CSV: clip,group,label,split)")
    split.add_argument("--force", action="store_true", help="replace FILE if it exists")
    split.add_argument("--config", metavar="FILE.toml",
                       help="take the split and preprocessing settings from a config file")
    split.add_argument("--sound", metavar="NAME", help="Coswara recording (default cough-heavy)")
    split.add_argument("--sample-rate", type=int, metavar="HZ",
                       help="as the run's --sample-rate (it decides which clips are usable)")
    split.add_argument("--duration", type=float, metavar="S", help="as the run's --duration")
    split.add_argument("--test-size", type=float, metavar="F", help="as the run's (default 0.3)")
    split.add_argument("--val-size", type=float, metavar="F", help="as the run's (default 0.2)")
    split.add_argument("--split-seed", type=int, metavar="N", help="as the run's (default 0)")
    split.add_argument("--folds", type=int, metavar="K", help="as the run's: K fold columns")
    split.add_argument("--test-group", metavar="COLUMN=VALUE",
                       help="as the run's: those clips are the held-out 'ood' part")

    listing = sub.add_parser("list", help="the public data sets coughscope can fetch")
    listing.add_argument("--json", action="store_true", help="one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    if args.action == "summary":
        return _summary(args)
    if args.action == "get":
        return _get(args)
    if args.action == "split":
        return _split(args)
    return _list(args)


# --------------------------------------------------------------------------- split


def _split(args: argparse.Namespace) -> int:
    """Write the split :func:`engine.runner.prepare_data` makes for these options."""
    from ..config import ExperimentConfig
    from ..errors import DataError
    from ..paths import atomic_write_text
    from .experiment import FLAG_NAMES

    out = Path(args.out).expanduser()
    if out.exists() and not args.force:
        raise DataError(f"{out} already exists", "choose another --out, or add --force to "
                                                 "replace it")
    if out.is_dir():
        raise DataError(f"--out {out} is a folder", "give a file name, e.g. split.csv")
    flags = {"data": args.spec, "sound": args.sound, "preprocess.sample_rate": args.sample_rate,
             "preprocess.duration": args.duration, "split.test": args.test_size,
             "split.val": args.val_size, "split.seed": args.split_seed,
             "split.folds": args.folds, "split.test_group": args.test_group}
    config = ExperimentConfig.from_sources(args.config, flags, {**FLAG_NAMES, "data": "SPEC"})
    from ..cli import library_output_to_stderr
    from ..runner import prepare_data
    from ..split_file import split_csv
    from .experiment import preprocess_bar

    with library_output_to_stderr():
        prepared = prepare_data(config.replace(split=_without_file(config.split)),
                                preprocess_bar())
    ds = prepared.dataset
    atomic_write_text(out, split_csv(ds, prepared.splits), root=out.parent)
    counts = prepared.split.describe(ds.y, ds.groups)
    print(out)
    print(", ".join(f"{part} {d['clips']} clips ({d['positives']} positive, {d['groups']} "
                    f"groups)" for part, d in counts.items())
          + f"; {len(ds.excluded)} clips excluded", file=sys.stderr)
    print(f"next: coughscope --headless --data {args.spec} --split-file {out}", file=sys.stderr)
    return int(ExitCode.OK)


def _without_file(split: Any) -> Any:
    """The split settings with no split file: `data split` draws the split."""
    import dataclasses

    return dataclasses.replace(split, file=None)


# --------------------------------------------------------------------------- summary


def _summary(args: argparse.Namespace) -> int:
    from ..sources import load_source

    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be at least 0",
                          "the demo generator's seed, a whole number such as 0 or 7")
    if args.export_images:
        from ..preprocess import check_image_dir

        check_image_dir(Path(args.export_images).expanduser(), "--export-images")
    clipset = load_source(
        args.spec,
        sound=args.sound,
        include_statuses=args.include_status,
        min_quality=args.min_quality,
        seed=args.seed,
    )
    summary = _preprocess_and_summarize(clipset, args)
    if args.json:
        from ..runs import dumps

        print(dumps(summary))  # allow_nan=False
    else:
        print(format_summary(summary))
    return int(ExitCode.OK)


def _preprocess_and_summarize(clipset: Any, args: argparse.Namespace) -> dict[str, Any]:
    from ..config import PreprocessConfig
    from ..progress import Progress
    from ..sources import summarize

    from ..preprocess import export_images, preprocess  # librosa and friends (~1 s)

    from ..config import check_field

    if args.sample_rate is not None:
        check_field(PreprocessConfig, "sample_rate", args.sample_rate,
                    f"--sample-rate {args.sample_rate}")
        config = PreprocessConfig(sample_rate=args.sample_rate)
    else:
        config = PreprocessConfig()
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers} must be at least 1",
                          "the number of preprocessing processes, e.g. 4")
    bar = Progress("preprocess", unit="clips")
    cache_dir = Path(args.cache_dir).expanduser() if args.cache_dir else None
    try:
        dataset = preprocess(clipset, config, cache_dir=cache_dir, workers=args.workers, progress=bar)
    finally:
        bar.close()
    if args.export_images:
        written = export_images(dataset, Path(args.export_images).expanduser(), args.image_format)
        print(f"wrote {len(written)} spectrogram images to {args.export_images}", file=sys.stderr)
    return summarize(dataset)


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable form of a :func:`engine.sources.summarize` dict."""
    labels = s.get("labels", {})
    lines = [
        f"data       {s.get('description', '')}",
        f"kind       {s.get('kind')}{'  (SYNTHETIC: not real coughs)' if s.get('synthetic') else ''}",
        f"clips      {s.get('clips', 0)} found, {s.get('usable', 0)} usable, "
        f"{len(s.get('excluded', []))} excluded",
        f"labels     {labels.get('positive', 0)} positive, {labels.get('negative', 0)} negative",
        f"groups     {s.get('groups', 0)} "
        + ("(each recording is its own: no participant id, so splits cannot keep a "
           "person's recordings apart)" if s.get("kind") == "coughvid"
           else "(participants; splits keep them apart)"),
    ]
    d = s.get("durations") or {}
    if d:
        lines.append(f"durations  min {d['min']:.2f} s, median {d['median']:.2f} s, max {d['max']:.2f} s")
    if s.get("sample_rates"):
        lines.append("rates      " + ", ".join(f"{k} Hz: {v}" for k, v in s["sample_rates"].items()))
    if s.get("channels"):
        lines.append("channels   " + ", ".join(f"{k}: {v}" for k, v in s["channels"].items()))
    for column, values in (s.get("meta") or {}).items():
        shown = list(values.items())
        text = ", ".join(f"{k} {v}" for k, v in shown[:8]) + (", ..." if len(shown) > 8 else "")
        lines.append(f"meta       {column}: {text}")
    for key, value in (s.get("counts") or {}).items():
        lines.append(f"count      {key.replace('_', ' ')}: {value}")
    missing = [lab for lab, n in labels.items() if not n]
    if s.get("usable") and missing:
        lines.append(
            f"warning    no usable {' or '.join(missing)} clips: training and evaluation need both "
            "classes (loading and preprocessing work)"
        )
    for note in s.get("notes") or []:
        lines.append(f"note       {note}")
    for warning in s.get("warnings") or []:
        lines.append(f"warning    {warning}")
    excluded = s.get("excluded") or []
    if excluded:
        lines.append(f"excluded ({len(excluded)}):")
        root = str(s.get("root", ""))
        lines += [
            f"  {_short(e['path'], root)}: {e['reason']} [{e.get('stage', 'source')}]" for e in excluded
        ]
    from ..bounded import printable  # names and values come from the data set's files

    return "\n".join(printable(line) for line in lines)


def _short(path: str, root: str) -> str:
    """``path`` relative to the data set's root when it lies under it."""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if root and path.startswith(prefix) else path


# --------------------------------------------------------------------------- get / list


def _get(args: argparse.Namespace) -> int:
    from ..download import get_dataset
    from ..progress import Progress

    bars: list[Progress] = []

    def bar(label: str) -> Progress:
        for old in bars:
            old.close()
        bars.append(Progress(f"  {label}", unit="bytes"))
        return bars[-1]

    dates = [d.strip() for d in args.dates.split(",") if d.strip()] if args.dates else None
    try:
        result = get_dataset(
            args.name,
            Path(args.dest) if args.dest else None,
            base_url=args.base_url,
            dates=dates,
            progress_factory=bar,
            keep_archives=args.keep_archives,
        )
    finally:
        for old in bars:
            old.close()
    print(result)
    print(f"next: coughscope data summary {result}", file=sys.stderr)
    return int(ExitCode.OK)


def _list(args: argparse.Namespace) -> int:
    from ..download import load_catalogue

    catalogue = load_catalogue()
    if args.json:
        print(json.dumps(allow_nan=False, obj={
            name: {**{k: getattr(e, k) for k in ("title", "licence", "homepage", "size", "holds")},
                   "get": (f"{e.extra.get('request')}; then --data {e.extra.get('spec')}"
                           if e.method == "request" else f"coughscope data get {name}")}
            for name, e in catalogue.items()
        }))
        return int(ExitCode.OK)
    for name, e in catalogue.items():
        get = (f"{e.extra.get('request')}; then --data {e.extra.get('spec')}"
               if e.method == "request" else f"coughscope data get {name}")
        print(f"{name}\n  {e.title}\n  licence  {e.licence}\n  source   {e.homepage}\n"
              f"  size     {e.size}\n  holds    {e.holds}\n  get it   {get}\n")
    return int(ExitCode.OK)
