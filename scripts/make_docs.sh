#!/usr/bin/env bash
# Regenerate the README's screenshots in docs/ by running the demo (`coughscope demo`) at its
# normal setting: docs/data.svg, models.svg, training.svg, results.svg, confusion.svg and
# classify.svg. The same command writes the same files, so a diff in docs/ means the app changed.
# The asciinema cast is not kept in the repository: `coughscope demo --out DIR` writes one.
#   scripts/make_docs.sh [DEMO OPTIONS...]     e.g. --epochs 6
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$PY" -m tui.launch demo --out "$out" --no-cast "$@" >/dev/null
mkdir -p docs
for svg in "$out"/[0-9][0-9]-*.svg; do
  name=$(basename "$svg")
  cp "$svg" "docs/${name#[0-9][0-9]-}"
done
ls docs/*.svg
