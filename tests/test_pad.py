"""The default preset's recipe for the spectrogram models.

Repeat-padding of short clips in the log-mel (``preprocess.pad``): what the image holds, that
features never depend on it, how presets and old runs resolve it, and that a run and the
classifier use the run's own choice. The paper cnn's own batch size."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from engine.audio import load_clip
from engine.config import ExperimentConfig, PreprocessConfig, TrainRecipe
from engine.errors import ConfigError
from engine.features import TOP_DB, compute_batch, compute_clip
from engine.refit import resolve_preset_choices

ZERO, REPEAT = PreprocessConfig(pad="zero"), PreprocessConfig(pad="repeat")


def _burst(seconds: float, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """A decaying noise burst with a second, quieter one: a cough-like clip."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    envelope = np.exp(-t * 6) + 0.4 * np.exp(-np.clip(t - seconds / 2, 0, None) * 9) * (
        t > seconds / 2)
    return (0.3 * envelope * rng.standard_normal(n)).astype(np.float32)


def test_a_short_clip_is_repeated_frame_by_frame_to_fill_the_image() -> None:
    clip = _burst(1.1)
    _, zero = compute_clip(clip, ZERO)
    _, rep = compute_clip(clip, REPEAT)
    n_valid = 1 + len(clip) // ZERO.hop_length  # the frames centred inside the clip
    assert n_valid < ZERO.n_frames
    # zero padding: silence (the -80 dB floor) after the clip's own frames
    assert np.all(zero[:, n_valid + 4:] == -TOP_DB)
    # repeat: the clip's own frames again and again, never the floor column after column
    np.testing.assert_array_equal(rep[:, :n_valid], zero[:, :n_valid])
    for start in range(n_valid, ZERO.n_frames, n_valid):
        width = min(n_valid, ZERO.n_frames - start)
        np.testing.assert_array_equal(rep[:, start:start + width], zero[:, :width])
    assert not np.any(np.all(rep == -TOP_DB, axis=0))


def test_a_clip_longer_than_the_duration_is_the_same_either_way() -> None:
    clip = _burst(3.6)
    _, zero = compute_clip(clip, ZERO)
    _, rep = compute_clip(clip, REPEAT)
    np.testing.assert_array_equal(zero, rep)


def test_in_a_batch_each_clip_repeats_its_own_length() -> None:
    clips = [_burst(s, seed=i) for i, s in enumerate((0.4, 0.9, 1.7, 3.2))]
    width = max(len(c) for c in clips)
    waves = np.zeros((len(clips), width), np.float32)
    for i, c in enumerate(clips):
        waves[i, :len(c)] = c
    lengths = np.array([len(c) for c in clips])
    _, batch = compute_batch(waves, lengths, REPEAT)
    for i, c in enumerate(clips):
        np.testing.assert_array_equal(batch[i], compute_clip(c, REPEAT)[1])


def test_features_do_not_depend_on_the_padding(shared_data: Path) -> None:
    path = sorted((shared_data / "covid19-cough" / "audio").glob("*.mp3"))[0]
    clip = load_clip(path, ZERO).samples
    for feature_set in ("paper", "mel_stats"):
        f_zero, _ = compute_clip(clip, PreprocessConfig(pad="zero", feature_set=feature_set))
        f_rep, _ = compute_clip(clip, PreprocessConfig(pad="repeat", feature_set=feature_set))
        np.testing.assert_array_equal(f_zero, f_rep)


def test_presets_choose_the_padding_and_an_explicit_choice_wins() -> None:
    assert resolve_preset_choices(ExperimentConfig()).preprocess.pad == "repeat"
    paper = ExperimentConfig(recipe=TrainRecipe.from_preset("paper"))
    assert resolve_preset_choices(paper).preprocess.pad == "zero"
    explicit = ExperimentConfig(preprocess=PreprocessConfig(pad="zero"))
    assert resolve_preset_choices(explicit).preprocess.pad == "zero"
    # a resumed run without the setting was started by a coughscope that zero-padded
    assert resolve_preset_choices(ExperimentConfig(), resume=True).preprocess.pad == "zero"


def test_an_unresolved_padding_is_the_old_zero_padding_and_shares_its_cache() -> None:
    clip = _burst(1.0)
    np.testing.assert_array_equal(compute_clip(clip, PreprocessConfig())[1],
                                  compute_clip(clip, ZERO)[1])
    assert PreprocessConfig().digest() == ZERO.digest() != REPEAT.digest()


def test_a_bad_padding_is_refused_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[preprocess]\npad = "mirror"\n')
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_toml(bad)
    assert "pad = 'mirror'" in err.value.message and "repeat" in err.value.message


def test_the_flag_and_the_runs_config_record_it(tmp_path: Path) -> None:
    from engine.cli import build_run_parser
    from engine.commands.experiment import build_config
    from engine.runner import run_experiment
    from engine.runs import RunDir

    args = build_run_parser().parse_args(["--headless", "--pad", "zero", "--data", "demo"])
    assert build_config(args).preprocess.pad == "zero"

    config = ExperimentConfig(data="demo:24", models=("cnn",), seeds=1,
                              recipe=TrainRecipe(epochs=1, refit=False))
    run = RunDir(tmp_path / "run")
    run_experiment(config, run)
    saved = tomllib.loads(run.config_path.read_text())
    assert saved["preprocess"]["pad"] == "repeat"
    # the classifier preprocesses a new clip with the run's own padding
    from engine.inference import Classifier

    classifier = Classifier(run)
    assert classifier.config.preprocess.pad == "repeat"


def test_the_cnn_trains_with_its_own_batch_size_unless_one_is_given() -> None:
    """The default preset's paper cnn takes batches of 16 (64 gave ~7 steps an epoch on a few
    hundred clips, too few to learn from); the rest 64; the paper preset and an explicit
    batch size win."""
    from engine.models import get_spec
    from engine.trainer import resolve_recipe

    cnn, ann = get_spec("cnn"), get_spec("ann")
    assert resolve_recipe(cnn, TrainRecipe()).batch_size == 16
    assert resolve_recipe(ann, TrainRecipe()).batch_size == 64
    assert resolve_recipe(cnn, TrainRecipe.from_preset("paper")).batch_size == 64
    assert resolve_recipe(cnn, TrainRecipe(batch_size=32)).batch_size == 32
    assert ExperimentConfig.from_dict({"recipe": {"batch_size": 8}}).recipe.batch_size == 8
    # "each model's own" survives the config.toml round trip
    again = tomllib.loads(ExperimentConfig().to_toml())
    assert "batch_size" not in again["recipe"]
    assert ExperimentConfig.from_dict(again).recipe.batch_size is None
