"""Import hygiene: `import engine` stays light, and nothing in engine/ imports the UI.

A linter cannot tell a module-level import from one deferred into a function, so each check
imports modules in a fresh interpreter and inspects ``sys.modules``.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine

HEAVY = ("torch", "torchvision", "lightning", "lightning_fabric", "pytorch_lightning",
         "pytorch_tabular", "sklearn", "librosa", "pandas", "matplotlib", "sounddevice",
         "textual", "opensmile", "ray")
ROOT = Path(__file__).resolve().parents[1]


def loaded_after(code: str) -> set[str]:
    probe = (f"import sys, json\n{code}\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_engine_loads_nothing_heavy():
    loaded = loaded_after("import engine")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_cli_parser_and_help_load_nothing_heavy():
    loaded = loaded_after("from engine.cli import build_run_parser; build_run_parser()")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def engine_modules() -> list[str]:
    names = ["engine"]
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return names


def test_no_engine_module_imports_textual_or_tui():
    code = "\n".join(f"import {m}" for m in engine_modules())
    loaded = loaded_after(code)
    assert "textual" not in loaded and "tui" not in loaded


def test_import_linter_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed in this environment")
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
