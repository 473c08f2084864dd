"""Builds hostile inputs at test time (issue 13): nothing large is committed.

Every maker writes into a folder the caller owns (a pytest ``tmp_path``) and returns the path
it made. Large files are *sparse*: a real WAV header followed by a hole made with
``truncate``, so a "1 TB" recording costs a few bytes of disk and no time -- unless a program
reads it whole, which is exactly what the tests catch. FIFOs come from ``os.mkfifo``; a
program that opens one for reading blocks until a writer comes, which a test also catches.

Good clips come from the synthetic demo generator (:func:`engine.sources.demo.generate_demo`),
so a hostile entry always sits among usable ones, as it would in a real data set.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path


def wav_header(sample_rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header announcing ``data_bytes`` of samples."""
    block = channels * bits // 8
    riff = min(36 + data_bytes, 0xFFFFFFFF)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                    sample_rate * block, block, bits)
            + b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF)))


def sparse_wav(path: Path, *, sample_rate: int = 22050, channels: int = 1,
               size: int = 1 << 40) -> Path:
    """A WAV file of ``size`` bytes (default 1 TB): a header, then a hole (reads as zeros)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(wav_header(sample_rate, channels, size - 44))
    os.truncate(path, size)
    return path


def silent_wav(path: Path, *, sample_rate: int, seconds: float, channels: int = 1) -> Path:
    """A PCM WAV of the given rate and length whose samples are a hole (sparse zeros)."""
    data = int(sample_rate * seconds) * channels * 2
    return sparse_wav(path, sample_rate=sample_rate, channels=channels, size=44 + data)


def random_bytes(path: Path, n: int = 8192, seed: int = 0) -> Path:
    """``n`` random bytes (not audio), whatever the name says."""
    import random

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(n))
    return path


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def dangling_link(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.parent / "no-such-file.wav", path)
    return path


def loop_link(path: Path) -> Path:
    """A symbolic link that points at itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.name, path)
    return path


def good_clips(folder: Path, n: int = 8, seed: int = 0) -> list[tuple[Path, str, str]]:
    """``n`` usable synthetic clips: ``(path, label, group)``, both labels present."""
    import csv

    from engine.sources.demo import generate_demo

    generate_demo(folder, n=n, seed=seed)
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return [(folder / r["path"], r["label"], r["group"]) for r in csv.DictReader(fh)]


def manifest(path: Path, rows: list[tuple[str, str]] | list[list[str]],
             header: str = "path,label") -> Path:
    """A manifest CSV with ``header`` and one line per row (cells joined by commas)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header, *(",".join(str(c) for c in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def manifest_with(folder: Path, extra: list[tuple[str, str]], n_good: int = 8) -> Path:
    """``folder/manifest.csv``: ``n_good`` usable clips plus the ``extra`` (path, label) rows."""
    rows = [(str(p), label) for p, label, _ in good_clips(folder / "good", n_good)]
    return manifest(folder / "manifest.csv", [*rows, *extra])


def coswara(root: Path, participants: dict[str, str], tables: dict[str, list[tuple[str, str]]],
            date: str = "20200413") -> Path:
    """A tiny Coswara tree: ``participants`` (id -> label of a synthetic clip copied in as
    ``cough-heavy.wav``) and metadata ``tables`` (file name relative to root -> (id,
    covid_status) rows)."""
    import shutil

    clips = {label: [] for label in ("positive", "negative")}
    for path, label, _ in good_clips(root / ".good", max(8, 2 * len(participants))):
        clips[label].append(path)
    for pid, label in participants.items():
        folder = root / "Extracted_data" / date / pid
        folder.mkdir(parents=True)
        shutil.copy(clips[label].pop(), folder / "cough-heavy.wav")
    for name, rows in tables.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id,covid_status\n" + "".join(f"{i},{s}\n" for i, s in rows),
                        encoding="utf-8")
    shutil.rmtree(root / ".good")
    return root


def covid19_download(root: Path, records: list[dict[str, object]]) -> Path:
    """A covid19-cough download as ``data get`` leaves it: ``metadata.json``, ``raw/`` with
    a synthetic clip per record that names one, and the ``.coughscope`` marker folder."""
    import shutil

    good = good_clips(root / ".good", max(8, len(records)))
    (root / "raw").mkdir(parents=True)
    for rec, (path, _, _) in zip(records, good):
        name = rec.get("filename")
        if isinstance(name, str) and "/" not in name:
            shutil.copy(path, root / "raw" / name)
    shutil.rmtree(root / ".good")
    (root / "metadata.json").write_text(json.dumps(records), encoding="utf-8")
    (root / ".coughscope").mkdir()
    (root / ".coughscope" / "extracted-test").write_text("test\n", encoding="utf-8")
    return root


def gsm_wav(path: Path, seed: int = 0) -> Path:
    """A GSM 6.10 WAV (8 kHz), written by libsndfile: a real format that libsndfile can read
    but not seek in."""
    import soundfile as sf

    from tests.conftest import cough_signal

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, cough_signal(sr=8000, seconds=0.4, seed=seed), 8000, format="WAV",
             subtype="GSM610")
    return path
