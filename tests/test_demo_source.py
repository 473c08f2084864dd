"""The synthetic demo set: deterministic, labelled as synthetic, grouped, learnable."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.sources import load_source
from engine.sources.demo import generate_demo


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_demo(tmp_path / "a", n=12, seed=3)
    b = generate_demo(tmp_path / "b", n=12, seed=3)
    c = generate_demo(tmp_path / "c", n=12, seed=4)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_manifest_groups_and_readme(tmp_path):
    folder = generate_demo(tmp_path / "d", n=21, seed=0)
    rows = list(csv.DictReader(open(folder / "manifest.csv", encoding="utf-8")))
    assert list(rows[0]) == ["path", "label", "group", "source"]
    assert len(rows) == 21 and {r["source"] for r in rows} == {"synthetic"}
    groups: dict[str, set[str]] = {}
    for r in rows:
        groups.setdefault(r["group"], set()).add(r["label"])
    assert len(groups) == 11  # two clips per participant, the last one alone
    assert all(len(labels) == 1 for labels in groups.values())  # a participant has one label
    n_pos_groups = sum("positive" in labels for labels in groups.values())
    assert n_pos_groups == round(11 * 0.4)
    readme = (folder / "README.txt").read_text()
    assert "SYNTHETIC" in readme and "NOT REAL COUGHS" in readme


def test_audio_is_plausible(tmp_path):
    folder = generate_demo(tmp_path / "d", n=10, seed=1)
    for path in sorted((folder / "audio").glob("*.wav")):
        audio, sr = sf.read(path)
        assert sr == 22050 and audio.ndim == 1
        assert 0.3 < audio.size / sr < 4.0
        peak = np.abs(audio).max()
        assert 0.1 < peak <= 1.0
        # sharp onset: the loudest 10 ms is far above the quietest (leading silence)
        frames = np.abs(audio[: audio.size // 220 * 220]).reshape(-1, 220).max(axis=1)
        assert frames.max() > 20 * np.median(frames[:5])


def spectral_centroid(path: Path) -> float:
    audio, sr = sf.read(path)
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / sr)
    return float((power * freqs).sum() / power.sum())


def test_classes_differ_but_overlap(tmp_path):
    folder = generate_demo(tmp_path / "d", n=60, seed=0)
    rows = list(csv.DictReader(open(folder / "manifest.csv", encoding="utf-8")))
    cents = {"positive": [], "negative": []}
    for r in rows:
        cents[r["label"]].append(spectral_centroid(folder / r["path"]))
    pos, neg = np.array(cents["positive"]), np.array(cents["negative"])
    assert np.median(pos) < 0.8 * np.median(neg)  # positives are "wetter" (lower band)
    # ...but not separable by this one number: rank AUC well below 1
    auc = (neg[:, None] > pos[None, :]).mean()
    assert 0.6 < auc < 0.99


def test_load_demo_is_generated_once_and_marked_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("COUGHSCOPE_DATA_DIR", str(tmp_path / "data"))
    cs = load_source("demo:16")
    folder = tmp_path / "data" / "demo" / "v1-n16-seed0"
    assert cs.root == folder and cs.kind == "demo" and cs.synthetic is True
    assert "synthetic demo data (not real coughs)" in cs.description
    assert len(cs.clips) == 16 and cs.n_groups() == 8
    assert not list((tmp_path / "data" / "demo").glob(".*tmp*"))  # temp folder renamed away
    stamp = (folder / "manifest.csv").stat().st_mtime_ns
    again = load_source("demo:16")
    assert (folder / "manifest.csv").stat().st_mtime_ns == stamp
    assert [c.path for c in again.clips] == [c.path for c in cs.clips]
    other = load_source("demo:16", demo_dir=tmp_path / "elsewhere", seed=2)
    assert other.root == tmp_path / "elsewhere" / "v1-n16-seed2"


def test_default_demo_size(tmp_path):
    cs = load_source("demo", demo_dir=tmp_path)
    assert len(cs.clips) == 120
    assert cs.label_counts() == {"negative": 72, "positive": 48}


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
