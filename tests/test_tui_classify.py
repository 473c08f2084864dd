"""Pilot tests of the Classify screen on a real finished demo run (shared with
tests/test_predict.py): a file -> the same numbers as ``Classifier.classify``, the real
no-microphone path, recording from an injected fake stream, an unreadable file, and a run with
no finished models."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    from conftest import cough_signal
    from test_predict import DemoRun, demo_run
    from test_tui_support import drive, text_of, wait_for
except ImportError:  # tests/ is a package
    from tests.conftest import cough_signal
    from tests.test_predict import DemoRun, demo_run
    from tests.test_tui_support import drive, text_of, wait_for


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    return demo_run(tmp_path_factory)


def make_app(runs: Path) -> Any:
    from tui.app import build_app

    return build_app(runs_dir=runs, detect_device=False, device_text="cpu (test)")


async def open_classify(pilot: Any) -> Any:
    await pilot.press("7")
    await wait_for(pilot, lambda: bool(pilot.app.query("#classify-view")) and
                   pilot.app.query_one("#classify-view").mic_ok is not None, 20)
    return pilot.app.query_one("#classify-view")


def test_disclaimer_is_the_engines() -> None:
    from engine.inference import DISCLAIMER
    from tui.screens.classify import DISCLAIMER as SHOWN

    assert SHOWN == DISCLAIMER


def test_file_gives_the_classifiers_numbers(demo: DemoRun, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from textual.widgets import DataTable, Input, Select

    from engine.inference import DISCLAIMER, Classifier
    from engine.runs import RunDir

    wav = demo.wavs[0]
    expected = Classifier(RunDir(demo.run)).classify(str(wav))
    app = make_app(demo.runs_dir)

    async def body(pilot: Any) -> None:
        view = await open_classify(pilot)
        assert text_of(app, "#classify-disclaimer") == DISCLAIMER
        assert app.query_one("#classify-run", Select).value == "r"  # the latest finished run
        app.query_one("#classify-path", Input).value = str(wav)
        await pilot.click("#classify-go")
        await wait_for(pilot, lambda: view.last_result is not None, 60)
        await pilot.pause(0.1)
        got = view.last_result
        assert got.warnings == expected.warnings
        assert [v.model for v in got.verdicts] == ["ann", "cnn", "logreg"]
        table = app.query_one("#classify-models", DataTable)
        for verdict, want in zip(got.verdicts, expected.verdicts):
            assert verdict.probability == pytest.approx(want.probability, abs=1e-6)
            assert verdict.label == want.label
            # every column, whether the table shows it or (no room) the pane under it does
            row = view.table_rows[verdict.model]
            assert table.get_row(verdict.model) == row[:len(table.columns)]
            # the calibrated probability, read against the calibrated operating point
            assert want.calibration == "platt"
            assert str(row[1]).endswith(f"{want.calibrated:.2f}")
            assert str(row[2]) == want.label
            assert str(row[3]) == f"{want.calibrated_threshold:.2f}"
            assert str(row[4]) == f"± {want.spread:.2f}, {want.agreement:.0%} agree"
            # the AUC to trust beside it (demo data: no confound, so the test AUC, labelled)
            assert str(row[5]).startswith(f"{want.trusted_auc['roc_auc']:.2f}")
            assert str(row[5]).endswith("test, no confound")
        verdict = text_of(app, "#classify-verdict")
        assert verdict.startswith("Research result, not a diagnosis: ")
        assert "P: calibrated on predictions the models did not train on" in verdict
        assert "AUC to trust" in verdict.splitlines()[0]
        assert f"{expected.duration:.2f} s of sound" in text_of(app, "#classify-status")
        wave = text_of(app, "#classify-wave").splitlines()
        assert wave[0] == "waveform (cleaned)" and set(wave[1]) <= set("▁▂▃▄▅▆▇█")
        spec = text_of(app, "#classify-spec").splitlines()
        assert spec[0].startswith("log-mel spectrogram (128 mel bands")
        # the demo run repeats short clips (the default preset): the caption says so
        assert expected.filled == "repeat"
        assert spec[0].endswith("; the clip repeated to fill it)")
        assert len(spec) == 1 + 8 and set(spec[1]) == {"▀"}
        assert text_of(app, "#classify-disclaimer") == DISCLAIMER  # still there

    drive(app, body)


def test_no_microphone_disables_record_with_the_reason(tmp_path: Path) -> None:
    from textual.widgets import Button

    from engine.recording import recording_status

    ok, sentence = recording_status()
    if ok:
        pytest.skip("this machine has a microphone")
    app = make_app(tmp_path / "runs")

    async def body(pilot: Any) -> None:
        view = await open_classify(pilot)
        assert view.mic_ok is False
        assert app.query_one("#classify-record", Button).disabled
        assert text_of(app, "#classify-mic").startswith("No microphone here")
        shown = text_of(app, "#classify-mic-details")  # PortAudio's words behind "details"
        assert " ".join(shown.split()) == " ".join(sentence.split())
        assert "no input device" in shown and "Over SSH the microphone is the server's" in shown
        assert "No finished run yet" in text_of(app, "#classify-how")

    drive(app, body)


class CoughStream:
    """sounddevice.InputStream stand-in: feeds a cough-like burst to the callback."""

    def __init__(self, samplerate: int, channels: int, callback: Any, blocksize: int,
                 dtype: str) -> None:
        self.callback, self.blocksize = callback, blocksize
        signal = cough_signal(samplerate, seconds=0.5, seed=3, lead=0.2, tail=0.2)
        self.signal = np.tile(signal, 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = 0
        while not self._stop.is_set():
            block = self.signal[start:start + self.blocksize]
            if len(block) < self.blocksize:
                block = np.zeros(self.blocksize, np.float32)
            self.callback(block[:, None], self.blocksize, None, None)
            start += self.blocksize
            self._stop.wait(0.002)

    def __enter__(self) -> "CoughStream":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_record_flow_with_an_injected_stream(demo: DemoRun, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf
    from textual.widgets import Button, Input

    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    app = make_app(demo.runs_dir)

    async def body(pilot: Any) -> None:
        view = await open_classify(pilot)
        view.use_stream(CoughStream)
        view.countdown, view.record_seconds = 1, 1.5
        assert not app.query_one("#classify-record", Button).disabled
        await pilot.click("#classify-record")
        await wait_for(pilot, lambda: "recording starts in 1" in text_of(app, "#classify-level"),
                       10)
        assert not app.query_one("#classify-stop", Button).disabled
        await wait_for(pilot, lambda: view.last_result is not None, 60)
        saved = Path(app.query_one("#classify-path", Input).value)
        assert saved.parent == tmp_path / "data" / "recordings" and saved.exists()
        y, sr = sf.read(str(saved))
        assert sr == 48000 and len(y) == int(1.5 * 48000)
        assert view.last_result.path == str(saved)
        assert view.last_result.error is None
        assert [v.model for v in view.last_result.verdicts] == ["ann", "cnn", "logreg"]
        assert f"saved {saved}" == text_of(app, "#classify-level")
        assert app.query_one("#classify-stop", Button).disabled
        assert not app.query_one("#classify-record", Button).disabled

    drive(app, body)


class SteppedStream:
    """sounddevice.InputStream stand-in that delivers a block only when the test says so:
    how much audio gets through never depends on how fast the machine is."""

    opened: list["SteppedStream"] = []

    def __init__(self, samplerate: int, channels: int, callback: Any, blocksize: int,
                 dtype: str) -> None:
        self.callback, self.blocksize = callback, blocksize
        self.signal = cough_signal(samplerate, seconds=0.5, seed=3, lead=0.0, tail=0.0)
        self.sent = 0
        SteppedStream.opened.append(self)

    def step(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            start = (self.sent * self.blocksize) % max(len(self.signal) - self.blocksize, 1)
            block = self.signal[start:start + self.blocksize]
            self.callback(block[:, None], self.blocksize, None, None)
            self.sent += 1

    def __enter__(self) -> "SteppedStream":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_stop_ends_a_recording_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf
    from textual.widgets import Input

    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    SteppedStream.opened.clear()
    app = make_app(tmp_path / "runs")  # no run: the recording is kept, not classified

    async def body(pilot: Any) -> None:
        view = await open_classify(pilot)
        view.use_stream(SteppedStream)
        view.countdown, view.record_seconds = 0, 60.0
        await pilot.click("#classify-record")
        await wait_for(pilot, lambda: bool(SteppedStream.opened), 60)
        stream = SteppedStream.opened[0]
        stream.step(10)  # 10 blocks of 50 ms: the meter reads 0.5 s once all are consumed
        await wait_for(pilot, lambda: "0.5 s / 60.0 s" in text_of(app, "#classify-level"), 60)
        await pilot.click("#classify-stop")
        await wait_for(pilot, lambda: not view.recording, 60)
        saved = Path(app.query_one("#classify-path", Input).value)
        y, sr = sf.read(str(saved))
        assert len(y) == 10 * stream.blocksize  # exactly the blocks sent before Stop
        assert "no finished run to classify with" in text_of(app, "#classify-status")

    drive(app, body)


def test_unreadable_file_shows_a_message_and_app_keeps_going(demo: DemoRun, tmp_path: Path
                                                             ) -> None:
    from textual.widgets import Input

    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n" * 20)
    app = make_app(demo.runs_dir)

    async def body(pilot: Any) -> None:
        view = await open_classify(pilot)
        path = app.query_one("#classify-path", Input)
        path.value = str(tmp_path / "missing.wav")
        await pilot.click("#classify-go")
        assert f"{tmp_path / 'missing.wav'} does not exist" in text_of(app, "#classify-status")
        path.value = str(bad)
        # Enter, not a second click on the same button: two quick clicks on one spot can be
        # taken as a double click, which a busy machine makes more or less likely
        path.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.last_result is not None, 60)
        await pilot.pause(0.1)
        status = text_of(app, "#classify-status")
        assert status.startswith("cannot classify notes.wav: unreadable: not an audio file")
        assert text_of(app, "#classify-wave") == ""
        # the app keeps going: a good file classifies next
        view.last_result = None
        path.value = str(demo.wavs[1])
        path.focus()  # Enter in the path field classifies it
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.last_result is not None, 60)
        assert view.last_result.error is None

    drive(app, body)


def test_run_without_finished_models_is_explained(demo: DemoRun, tmp_path: Path) -> None:
    from textual.widgets import Input

    runs = tmp_path / "runs"
    run = runs / "no-models"
    run.mkdir(parents=True)
    for name in ("config.toml", "status.json", "events.jsonl", "data.json", "summary.json"):
        shutil.copy(demo.run / name, run / name)
    app = make_app(runs)

    async def body(pilot: Any) -> None:
        await open_classify(pilot)
        app.query_one("#classify-path", Input).value = str(demo.wavs[0])
        await pilot.click("#classify-go")
        await wait_for(pilot, lambda: "has no finished models" in text_of(app, "#classify-status"),
                       60)
        status = text_of(app, "#classify-status")
        assert f"{run} has no finished models" in status
        assert "hint: let the run finish (or resume it) first" in status

    drive(app, body)
