"""preprocess(): exclusions with reasons, the cache (hits, no audio work, corruption), workers,
progress, image export, and the Coswara sample's bad files."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import audio
from engine.cache import FeatureCache
from engine.clips import Clip, ClipSet, Exclusion
from engine.config import PreprocessConfig
from engine.errors import DataError
from engine.preprocess import Dataset, export_images, preprocess

from conftest import write_cough

CFG = PreprocessConfig()
preprocess_module = importlib.import_module("engine.preprocess")  # engine.preprocess is also
# the name of the function, exported lazily by engine/__init__.py
GOOD = ("good1", "good2", "stereo48k", "flac16k")
BAD = {"empty": "empty file (0 bytes)", "zeros": "silent (all zeros)"}


def _clipset(files: dict[str, Path], names, root: Path) -> ClipSet:
    clips = [Clip(files[n], "positive" if i % 2 else "negative", f"p{i}", {"source": f"s{i % 2}"})
             for i, n in enumerate(names)]
    return ClipSet("folders", root, "test clips", clips,
                   excluded=[Exclusion("elsewhere.wav", "no label", "source")])


def _no_decoding(monkeypatch):
    def refuse(path):
        raise AssertionError(f"decoded {path}: the cache should have answered")

    monkeypatch.setattr(audio, "decode", refuse)


def test_dataset_rows_exclusions_and_accessors(tiny_wavs, tmp_path):
    names = [*GOOD, "empty", "text", "zeros", "clipped"]
    cs = _clipset(tiny_wavs, names, tmp_path)
    ds = preprocess(cs, CFG, cache_dir=tmp_path / "cache", workers=1)
    assert isinstance(ds, Dataset) and len(ds) == 4
    assert [c.path for c in ds.clips] == [tiny_wavs[n] for n in GOOD]
    assert ds.features.shape == (4, 26) and ds.features.dtype == np.float32
    assert ds.logmel.shape == (4, 128, CFG.n_frames) and ds.logmel.dtype == np.float16
    assert ds.feature_names[0] == "chroma_stft" and len(ds.feature_names) == 26
    assert ds.y.tolist() == [0, 1, 0, 1] and ds.y.dtype == np.int64
    assert ds.groups.tolist() == ["p0", "p1", "p2", "p3"]
    assert ds.meta("source").tolist() == ["s0", "s1", "s0", "s1"]
    with pytest.raises(DataError, match="'site'"):
        ds.meta("site")
    reasons = {Path(e.path).name: (e.reason, e.stage) for e in ds.excluded}
    assert reasons["elsewhere.wav"] == ("no label", "source")
    assert reasons["empty.wav"] == (BAD["empty"], "audio")
    assert reasons["zeros.wav"] == (BAD["zeros"], "audio")
    assert reasons["text.wav"][0].startswith("unreadable: not an audio file")
    assert reasons["clipped.wav"][0].startswith("clipped (")
    assert [i["sample_rate"] for i in ds.info] == [22050, 22050, 48000, 16000]
    assert ds.info[2]["channels"] == 2 and ds.info[0]["duration"] == pytest.approx(1.0)


def test_second_run_does_no_audio_work_and_returns_the_same(tiny_wavs, tmp_path, monkeypatch):
    cs = _clipset(tiny_wavs, [*GOOD, "empty", "zeros"], tmp_path)
    cache = tmp_path / "cache"
    first = preprocess(cs, CFG, cache_dir=cache, workers=1)
    before = audio.DECODE_COUNT
    _no_decoding(monkeypatch)
    again = preprocess(cs, CFG, cache_dir=cache, workers=1)  # from the bundle
    shutil.rmtree(next(cache.glob("v*/*/bundles")))
    entries = preprocess(cs, CFG, cache_dir=cache, workers=2)  # from per-clip entries
    for ds in (again, entries):
        np.testing.assert_array_equal(ds.features, first.features)
        np.testing.assert_array_equal(ds.logmel, first.logmel)
        assert ds.excluded == first.excluded and ds.info == first.info
    assert audio.DECODE_COUNT == before


def test_workers_give_the_same_arrays_as_in_process(tiny_wavs, tmp_path):
    # 20 distinct recordings + 5 unreadable ones -> two chunks -> a real process pool
    files = {f"c{i}": write_cough(tmp_path / f"c{i}.wav", seed=10 + i) for i in range(20)}
    for i in range(5):
        files[f"t{i}"] = tmp_path / f"t{i}.wav"
        files[f"t{i}"].write_text(f"not audio {i}")
    cs = _clipset(files, list(files), tmp_path)
    seen: list[tuple[int, int]] = []
    pools = preprocess_module.POOLS_STARTED
    pooled = preprocess(cs, CFG, cache_dir=tmp_path / "c1", workers=2,
                        progress=lambda d, t: seen.append((d, t)))
    alone = preprocess(cs, CFG, cache_dir=tmp_path / "c2", workers=1)
    np.testing.assert_array_equal(pooled.features, alone.features)
    np.testing.assert_array_equal(pooled.logmel, alone.logmel)
    assert preprocess_module.POOLS_STARTED == pools + 1
    assert len(pooled) == 20 and len(pooled.excluded) == 1 + 5
    assert seen[-1] == (25, 25) and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
def test_called_from_a_thread_uses_a_fresh_worker_process(tiny_wavs, tmp_path):
    """The TUI preprocesses from a worker thread: no fork of a threaded process there."""
    import threading

    files = {f"c{i}": write_cough(tmp_path / f"c{i}.wav", seed=30 + i) for i in range(18)}
    cs = _clipset(files, list(files), tmp_path)
    out: dict[str, Dataset] = {}
    pools = preprocess_module.POOLS_STARTED
    thread = threading.Thread(target=lambda: out.update(
        ds=preprocess(cs, CFG, cache_dir=tmp_path / "c1", workers=2)))
    thread.start()
    thread.join()
    alone = preprocess(cs, CFG, cache_dir=tmp_path / "c2", workers=1)
    assert preprocess_module.POOLS_STARTED == pools + 1
    np.testing.assert_array_equal(out["ds"].features, alone.features)


def test_unchanged_files_are_not_even_rehashed(tiny_wavs, tmp_path, monkeypatch):
    from engine import cache as cache_module

    cs = _clipset(tiny_wavs, GOOD, tmp_path)
    preprocess(cs, CFG, cache_dir=tmp_path / "cache", workers=1)

    def refuse(path):
        raise AssertionError(f"hashed {path}: the memo should have answered")

    monkeypatch.setattr(cache_module, "sha256_file", refuse)
    _no_decoding(monkeypatch)
    assert len(preprocess(cs, CFG, cache_dir=tmp_path / "cache", workers=1)) == 4


def test_changed_mtime_rehashes_but_does_not_decode(tiny_wavs, tmp_path, monkeypatch):
    cs = _clipset(tiny_wavs, GOOD, tmp_path)
    cache = tmp_path / "cache"
    first = preprocess(cs, CFG, cache_dir=cache, workers=1)
    os.utime(tiny_wavs["good1"], ns=(1, 1))  # touched, same bytes
    _no_decoding(monkeypatch)
    again = preprocess(cs, CFG, cache_dir=cache, workers=1)
    np.testing.assert_array_equal(again.features, first.features)


def test_changed_content_is_recomputed(tiny_wavs, tmp_path):
    cs = _clipset(tiny_wavs, GOOD, tmp_path)
    cache = tmp_path / "cache"
    first = preprocess(cs, CFG, cache_dir=cache, workers=1)
    write_cough(tiny_wavs["good1"], seed=11, seconds=0.8)
    again = preprocess(cs, CFG, cache_dir=cache, workers=1)
    assert not np.allclose(again.features[0], first.features[0])
    np.testing.assert_array_equal(again.features[1:], first.features[1:])
    assert again.info[0]["duration"] == pytest.approx(1.4)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape"])
def test_corrupt_entry_is_detected_and_rebuilt(tiny_wavs, tmp_path, damage):
    cs = _clipset(tiny_wavs, GOOD, tmp_path)
    cache_root = tmp_path / "cache"
    first = preprocess(cs, CFG, cache_dir=cache_root, workers=1)
    cache = FeatureCache(CFG, cache_root)
    entry = cache.entry_path(cache.key_of(tiny_wavs["good2"]))
    if damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "garbage":
        entry.write_bytes(os.urandom(5000))
    else:
        np.savez(entry, features=np.zeros(7, np.float32), logmel=np.zeros((2, 2), np.float16),
                 info=np.array("{}"))
    shutil.rmtree(next(cache_root.glob("v*/*/bundles")))
    before = audio.DECODE_COUNT
    again = preprocess(cs, CFG, cache_dir=cache_root, workers=1)
    assert audio.DECODE_COUNT == before + 1  # only the damaged one
    np.testing.assert_array_equal(again.features, first.features)
    assert cache.load(cache.key_of(tiny_wavs["good2"])) is not None  # rewritten, readable


def test_corrupt_bundle_falls_back_to_entries(tiny_wavs, tmp_path, monkeypatch):
    cs = _clipset(tiny_wavs, GOOD, tmp_path)
    cache = tmp_path / "cache"
    first = preprocess(cs, CFG, cache_dir=cache, workers=1)
    bundle = next(cache.glob("v*/*/bundles/*.npz"))
    bundle.write_bytes(bundle.read_bytes()[:-500])
    _no_decoding(monkeypatch)
    again = preprocess(cs, CFG, cache_dir=cache, workers=1)
    np.testing.assert_array_equal(again.logmel, first.logmel)
    assert bundle.exists() and bundle.stat().st_size > 500  # rebuilt whole


def test_config_change_misses_the_cache(tiny_wavs, tmp_path):
    cs = _clipset(tiny_wavs, GOOD[:2], tmp_path)
    cache = tmp_path / "cache"
    preprocess(cs, CFG, cache_dir=cache, workers=1)
    before = audio.DECODE_COUNT
    ds = preprocess(cs, PreprocessConfig(sample_rate=8000), cache_dir=cache, workers=1)
    assert audio.DECODE_COUNT == before + 2
    assert ds.logmel.shape[2] == PreprocessConfig(sample_rate=8000).n_frames


def test_default_cache_dir_is_the_user_cache(tiny_wavs, tmp_path):
    preprocess(_clipset(tiny_wavs, GOOD[:1], tmp_path), CFG, workers=1)
    cache = Path(os.environ["COUGHSCOPE_CACHE_DIR"])
    assert (cache / "hashes.json").exists() and list(cache.glob("v*/*/*/*.npz"))


def test_nothing_usable_raises_with_reasons(tiny_wavs, tmp_path):
    cs = _clipset(tiny_wavs, ["empty", "zeros", "text"], tmp_path)
    with pytest.raises(DataError) as err:
        preprocess(cs, CFG, cache_dir=tmp_path / "cache", workers=1)
    assert "empty.wav: empty file (0 bytes)" in err.value.message
    assert "zeros.wav: silent (all zeros)" in err.value.message
    assert err.value.hint


def test_missing_file_and_missing_ffmpeg_are_excluded_not_cached(tiny_wavs, tmp_path,
                                                                 monkeypatch):
    webm = tmp_path / "cough.webm"
    webm.write_bytes(b"\x1aE\xdf\xa3 pretend webm")
    files = {**tiny_wavs, "webm": webm, "gone": tmp_path / "gone.wav"}
    cs = _clipset(files, ["good1", "webm", "gone"], tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    cache_root = tmp_path / "cache"
    ds = preprocess(cs, CFG, cache_dir=cache_root, workers=1)
    reasons = {Path(e.path).name: e.reason for e in ds.excluded}
    assert reasons["gone.wav"] == "file not found"
    assert reasons["cough.webm"].startswith("needs ffmpeg, which is not installed")
    assert "apt-get install ffmpeg" in reasons["cough.webm"]
    cache = FeatureCache(CFG, cache_root)
    assert not cache.entry_path(cache.key_of(webm)).exists()  # may work once ffmpeg is there
    assert not list(cache_root.glob("v*/*/bundles/*.npz"))


def test_export_images(tiny_wavs, tmp_path):
    import matplotlib.image

    ds = preprocess(_clipset(tiny_wavs, GOOD[:2], tmp_path), CFG,
                    cache_dir=tmp_path / "cache", workers=1)
    paths = export_images(ds, tmp_path / "img")
    assert [p.name for p in paths] == ["00000_negative_good1.png", "00001_positive_good2.png"]
    image = matplotlib.image.imread(paths[0])
    assert image.shape[:2] == (128, CFG.n_frames)
    jpgs = export_images(ds, tmp_path / "jpg", fmt="jpg")
    assert all(p.suffix == ".jpg" and p.stat().st_size > 0 for p in jpgs)


def test_coswara_sample_through_preprocess(shared_data, tmp_path):
    root = shared_data / "coswara-sample"
    files = sorted((root / "Extracted_data" / "20200413").glob("*/cough-heavy.wav"))
    clips = [Clip(p, "negative", p.parent.name) for p in files]
    cs = ClipSet("coswara", root, "coswara sample", clips)
    ds = preprocess(cs, CFG, cache_dir=tmp_path / "cache", workers=2)
    reasons = [e.reason for e in ds.excluded]
    assert reasons.count("silent (all zeros)") + reasons.count("empty (no samples)") == 8
    assert len(ds) + len(ds.excluded) == 76
    assert {i["sample_rate"] for i in ds.info} <= {48000, 44100, 16000}
    assert np.isfinite(ds.features).all() and ds.logmel.max() == 0
