"""Every command shown in README.md is either run here or skipped for a stated reason.

The commands are the lines of the README's fenced code blocks that start with ``coughscope ``
or ``./dev `` (a ``$ `` prompt, a trailing ``# comment`` and ``\\`` continuations are handled).
Each is matched against :data:`RULES`, in order: the first rule whose pattern matches says
whether the command is cheap enough to run (with tmp data/cache/runs dirs, placeholders such
as RUN, FILE or SPEC replaced by real values made here, and training cut to one seed and one
epoch on a 40-clip demo set) or why it is not run (network, a microphone, several GPUs, the
user's own data set, the interactive app). A README command that no rule matches fails the
test: add a rule (run it, or say why not) so that the README cannot drift from the program.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEMO = "demo:40"  # the smallest demo set the runner splits into train/val/test
TIMEOUT = 300
STARTS = ("coughscope ", "./dev ")


@dataclass(frozen=True)
class Rule:
    """Commands matching ``pattern`` are run (``skip`` is None) or skipped for ``skip``."""

    pattern: str
    skip: str | None = None
    expect: str = ""  # a regex the output must contain when the command is run


RULES = (
    # not run, with the reason
    Rule(r"^\./dev (run|setup)\b", skip="sets up .venv (minutes, network) and opens the "
         "interactive app; CI runs ./dev itself"),
    Rule(r"^\./dev test\b", skip="runs this very test suite"),
    Rule(r"^\./dev\b", skip="a ./dev task: CI runs ./dev"),
    Rule(r"^coughscope data get\b(?!.*(--help|-h\b))",
         skip="downloads a public data set over the network"),
    Rule(r"^coughscope record\b(?!.*(--help|-h\b))", skip="needs a microphone"),
    Rule(r"^coughscope demo\b(?!.*(--help|-h\b))",
         skip="trains and drives the app for a minute: tests/test_demo.py runs it"),
    Rule(r"(--devices|--strategy|torchrun|srun|--nproc)", skip="needs several GPUs or nodes"),
    Rule(r"(--executor ray|--address)\b", skip="starts or joins Ray: tests/test_ray.py runs "
         "studies on a local Ray"),
    Rule(r"--resume\b", skip="needs an interrupted run: tests/test_runner.py interrupts and "
         "resumes one"),
    Rule(r"--models\s+\S*(resnet50|imagenet50)",
         skip="needs ImageNet weights (a download) and a GPU to finish in reasonable time"),
    Rule(r"--(data|config)\s+(?!demo|SPEC\b)\S+", skip="needs the user's own data set or config file, "
         "which is not here"),
    Rule(r"^coughscope data summary\s+(?!demo|SPEC\b)\S+",
         skip="needs the user's own data set, which is not here"),
    # run, cheaply
    Rule(r"(^|\s)(--help|-h)(\s|$)", expect=r"usage:"),
    Rule(r"^coughscope data summary demo\S*( |$)", expect=r"usable"),
    Rule(r"^coughscope data list\b", expect=r"(?i)coswara"),
    Rule(r"^coughscope data split demo\b", expect=r"split\.csv"),
    Rule(r"^coughscope runs compare\b", expect=r"ROC-AUC|\"rows\""),
    Rule(r"^coughscope runs export\b", expect=r"exported \d+ files"),
    Rule(r"^coughscope study cross\b(?!.*(--help|-h\b))(?=.*--data\s+demo)(?!.*--data\s+[^d])",
         expect=r"trained on"),
    Rule(r"^coughscope study cross\b", skip="needs the user's own data sets, which are not here"),
    Rule(r"^coughscope study list\b", expect=r""),
    Rule(r"^coughscope study show\b", skip="needs a study record (tests/test_study.py makes "
         "and shows them)"),
    Rule(r"^coughscope runs\b", expect=r""),
    Rule(r"^coughscope predict\b", expect=r"(?i)research tool"),
    Rule(r"^coughscope evaluate\b", expect=r""),
    Rule(r"^coughscope --headless\b.*--data\s+demo", expect=r"ann|logreg|cnn|AUC"),
    # not run: the app itself
    Rule(r"^coughscope( --(data|runs-dir|open|debug)\b.*)?$",
         skip="opens the interactive app: tests/test_tui_*.py drive it"),
)


# ---------------------------------------------------------------------------- extraction


def fenced_blocks(markdown: str) -> list[list[str]]:
    """The lines of each fenced (```) code block."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    fence = ""
    for line in markdown.splitlines():
        stripped = line.strip()
        if current is None:
            match = re.match(r"^(`{3,}|~{3,})", stripped)
            if match:
                current, fence = [], match.group(1)
        elif stripped.startswith(fence) and stripped.strip(fence[0]) == "":
            blocks.append(current)
            current = None
        else:
            current.append(line)
    return blocks


def strip_comment(line: str) -> str:
    """``cmd --x  # what it does`` -> ``cmd --x`` (a ``#`` inside quotes is kept)."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return line.strip()
    return " ".join(shlex.quote(t) if re.search(r"[\s'\"]", t) else t for t in tokens)


def readme_commands(markdown: str) -> list[str]:
    """Every ``coughscope ...``/``./dev ...`` command in the fenced blocks of ``markdown``."""
    commands: list[str] = []
    for block in fenced_blocks(markdown):
        pending = ""
        for raw in block:
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:].lstrip()
            if pending:
                line = pending + " " + line
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            if line == "coughscope" or line.startswith(STARTS):
                commands.append(strip_comment(line))
    return list(dict.fromkeys(commands))


def rule_for(command: str) -> Rule | None:
    return next((rule for rule in RULES if re.search(rule.pattern, command)), None)


# ---------------------------------------------------------------------------- running


@dataclass
class Workspace:
    """tmp dirs and the real values that replace the README's placeholders."""

    root: Path
    env: dict[str, str]
    values: dict[str, str]


def cheapen(argv: list[str]) -> list[str]:
    """One seed, one epoch, the 40-clip demo set: the same command, in seconds."""
    out = list(argv)
    for flag, value in (("--seeds", "1"), ("--epochs", "1")):
        if flag in out and out.index(flag) + 1 < len(out):
            out[out.index(flag) + 1] = value
    data_at = [i + 1 for i, a in enumerate(out) if a == "--data"]
    if out[:2] == ["data", "summary"]:
        data_at.append(2)
    return [DEMO if a == "demo" and i in data_at else a for i, a in enumerate(out)]


def to_argv(command: str, ws: Workspace) -> list[str]:
    """The command as an argument list: placeholders replaced, output redirection dropped."""
    tokens = shlex.split(command)
    if tokens[0] != "coughscope":
        raise AssertionError(f"only coughscope commands are run here, not {command!r}")
    argv: list[str] = []
    skip_next = False
    for token in tokens[1:]:
        if skip_next:
            skip_next = False
            continue
        if token in (">", ">>", "2>", "&>"):
            skip_next = True  # the output is captured instead
            continue
        if token in ("|", "&&", ";"):
            raise AssertionError(f"{command!r}: pipelines are not run; add a rule")
        argv.append(placeholder(token, ws, command))
    if "--runs-dir" in argv:
        argv[argv.index("--runs-dir") + 1] = ws.values["DIR_RUNS"]
    return [sys.executable, "-m", "tui.launch", *cheapen(argv)]


def placeholder(token: str, ws: Workspace, command: str) -> str:
    """``RUN`` -> a finished run's path, ``FILE.wav`` -> a demo clip, ``SPEC`` -> demo:40 …"""
    if re.fullmatch(r"[\w./~-]+\.(wav|flac|ogg|mp3|webm|m4a)", token) and "FILE" in ws.values:
        return ws.values["FILE"]  # an example recording's name: a real demo clip
    word = re.fullmatch(r"([A-Z][A-Z_]*)(\.\w+)?", token)
    if not word:
        return token
    if token in ws.values:
        return ws.values[token]
    if word.group(1) in ws.values:
        return ws.values[word.group(1)]
    raise AssertionError(f"README command {command!r} has the placeholder {token!r}: add a "
                         f"value for it to the workspace in tests/test_readme.py")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """tmp data/cache/runs dirs and one tiny finished demo run (for RUN, FILE …)."""
    root = tmp_path_factory.mktemp("readme")
    env = {**os.environ,
           "COUGHSCOPE_DATA_DIR": str(root / "data"),
           "COUGHSCOPE_CACHE_DIR": str(root / "cache"),
           "COUGHSCOPE_RUNS_DIR": str(root / "runs"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    ws = Workspace(root, env, {"DIR_RUNS": str(root / "runs")})
    return ws


def finished_run(ws: Workspace) -> Path:
    """Train the smallest run once (ann + logreg, 1 seed, 1 epoch on demo:40)."""
    run = ws.root / "runs" / "readme"
    if not (run / "summary.json").exists():
        argv = [sys.executable, "-m", "tui.launch", "--headless", "--data", DEMO, "--models",
                "ann,logreg", "--seeds", "1", "--epochs", "1", "--device", "cpu",
                "--run-id", "readme"]
        done = subprocess.run(argv, cwd=ws.root, env=ws.env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr[-3000:]
    return run


def fill_values(ws: Workspace, command: str) -> None:
    """Make the values the command's placeholders need (the run only when one is needed)."""
    tokens = set(re.findall(r"\b[A-Z][A-Z_]*\b", command))
    if tokens & {"RUN", "FILE"} or re.search(r"^coughscope (predict|evaluate)\b", command):
        run = finished_run(ws)
        clips = sorted((ws.root / "data").rglob("*.wav"))
        assert clips, "the demo set has no wav files"
        ws.values.update(RUN=str(run), FILE=str(clips[0]))
    ws.values.update(SPEC=DEMO, DIR=str(ws.root / "out"), N="1", LIST="ann,logreg",
                     NAME="coswara", PATH=str(ws.root / "out"))
    if command.startswith("coughscope predict"):  # predict DIR: a folder of recordings
        ws.values["DIR"] = str(Path(ws.values["FILE"]).parent)


# ---------------------------------------------------------------------------- tests


COMMANDS = readme_commands(README.read_text(encoding="utf-8")) if README.exists() else []


def test_readme_shows_commands() -> None:
    assert README.exists(), f"{README} is missing"
    assert COMMANDS, "README.md has no ``` block with a coughscope command: the parser is off"


def test_every_readme_command_has_a_rule() -> None:
    unmatched = [c for c in COMMANDS if rule_for(c) is None]
    assert not unmatched, (
        "README.md shows commands that tests/test_readme.py neither runs nor skips with a "
        f"reason: {unmatched}; add a Rule for each to RULES")


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command: str, workspace: Workspace) -> None:
    rule = rule_for(command)
    if rule is None:
        pytest.fail(f"no rule for README command {command!r}: add one to RULES")
    if rule.skip:
        pytest.skip(f"not run: {rule.skip}")
    fill_values(workspace, command)
    argv = to_argv(command, workspace)
    done = subprocess.run(argv, cwd=workspace.root, env=workspace.env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command!r} -> {argv[3:]} exited {done.returncode}:\n" \
                                 f"{output[-3000:]}"
    assert re.search(rule.expect, output), f"{command!r}: no {rule.expect!r} in:\n{output[-2000:]}"


# ---------------------------------------------------------------------------- the parser


SAMPLE = """\
# Title

Inline `coughscope data get coswara` in text is not a command.

```bash
$ coughscope data summary demo --json   # what the demo holds
./dev run     # set up and open the app
coughscope --headless --data demo \\
    --models ann --seeds 2
echo not ours
```

```toml
data = "coughscope"
```

~~~
coughscope predict FILE.wav --run RUN
~~~
"""


def test_extraction_handles_prompts_comments_and_continuations() -> None:
    assert readme_commands(SAMPLE) == [
        "coughscope data summary demo --json",
        "./dev run",
        "coughscope --headless --data demo --models ann --seeds 2",
        "coughscope predict FILE.wav --run RUN",
    ]


def test_rules_and_placeholders(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, {}, {"DIR_RUNS": str(tmp_path / "runs"), "RUN": "/r/x",
                                  "FILE": "/a/b.wav", "SPEC": DEMO})
    assert rule_for("coughscope data get coswara").skip
    assert rule_for("coughscope data get --help").skip is None
    assert rule_for("coughscope --headless --data ~/coswara --models ann").skip
    assert rule_for("coughscope --headless --data demo --devices 2 --strategy ddp").skip
    assert rule_for("coughscope frobnicate") is None
    argv = to_argv("coughscope --headless --data demo --seeds 4 --epochs 30 --json > out.json",
                   ws)
    assert argv[3:] == ["--headless", "--data", DEMO, "--seeds", "1", "--epochs", "1", "--json"]
    assert to_argv("coughscope predict FILE.wav --run RUN", ws)[3:] == [
        "predict", "/a/b.wav", "--run", "/r/x"]
    assert to_argv("coughscope predict cough.wav", ws)[3:] == ["predict", "/a/b.wav"]
    assert to_argv("coughscope demo --help", ws)[3:] == ["demo", "--help"]
    assert to_argv("coughscope data summary demo", ws)[3:] == ["data", "summary", DEMO]
    assert rule_for("coughscope data summary ~/coswara").skip
    assert rule_for("coughscope data summary demo:40 --json").skip is None
    with pytest.raises(AssertionError, match="placeholder 'WEIRD'"):
        to_argv("coughscope predict WEIRD", ws)


def test_readme_config_example_is_a_valid_config() -> None:
    import tomllib

    from engine.config import ExperimentConfig

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README shows no TOML config example"
    for block in blocks:
        config = ExperimentConfig.from_dict(tomllib.loads(block), source="README")
        assert config.models and config.preprocess.sample_rate > 0
        if "executor" in tomllib.loads(block):  # checked where it is read
            from engine.executors import executor_options

            executor_options(tomllib.loads(block)["executor"], "README")
