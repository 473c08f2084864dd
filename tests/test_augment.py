"""engine.augment: seeded, switchable augmentation of training batches only, on real log-mels
(covid19-cough clips) and in a real Fabric fit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine.augment import FLOOR_DB, Augmentation, Augmenter, mixup_loss
from engine.config import AugmentConfig, ExperimentConfig, PreprocessConfig
from engine.errors import ConfigError

CFG = PreprocessConfig()
OFF = AugmentConfig(enabled=True, time_shift=0, crop=1, gain_db=0, time_masks=0, freq_masks=0,
                    mixup=0, band_limit=0, eq_db=0, noise=0)
ALL = AugmentConfig(enabled=True, time_shift=0.15, crop=0.6, gain_db=6.0, time_masks=2,
                    freq_masks=2, mixup=0.2, band_limit=0.5, eq_db=6.0, noise=0.3)
MEAN, STD = -45.0, 18.0


@pytest.fixture(scope="module")
def real_logmels(shared_data: Path) -> np.ndarray:
    """Log-mels (dB, as preprocessing stores them) of 8 real clips, both channels."""
    from engine.audio import load_clip
    from engine.features import compute_clip

    files = sorted((shared_data / "covid19-cough" / "audio").glob("*.mp3"))[:8]
    return np.stack([compute_clip(load_clip(f, CFG).samples, CFG)[1] for f in files])


def batch(logmels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((logmels.astype(np.float32) - MEAN) / STD)[:, None]


def augmenter(config: AugmentConfig, seed: int = 0) -> Augmenter:
    return Augmenter(Augmentation(config, CFG.sample_rate), mean=MEAN, std=STD,
                     n_mels=CFG.n_mels, seed=seed)


def test_seeded_by_seed_epoch_and_batch(real_logmels: np.ndarray) -> None:
    x = batch(real_logmels)
    a, mix_a = augmenter(ALL)(x, epoch=3, batch=1)
    b, mix_b = augmenter(ALL)(x, epoch=3, batch=1)
    assert torch.equal(a, b) and mix_a.lam == mix_b.lam and torch.equal(mix_a.perm, mix_b.perm)
    assert not torch.equal(a, x)
    for other in (augmenter(ALL)(x, epoch=4, batch=1)[0],
                  augmenter(ALL)(x, epoch=3, batch=2)[0],
                  augmenter(ALL, seed=1)(x, epoch=3, batch=1)[0]):
        assert not torch.equal(a, other)
    # the global RNG streams (initialisation, shuffling) are not consumed
    torch.manual_seed(123)
    augmenter(ALL)(x, epoch=0, batch=0)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(1))


def test_everything_off_is_the_identity(real_logmels: np.ndarray) -> None:
    x = batch(real_logmels)
    out, mix = augmenter(OFF)(x, epoch=0, batch=0)
    assert mix is None
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("switch", [
    {"time_shift": 0.2}, {"crop": 0.5}, {"gain_db": 6.0}, {"time_masks": 2}, {"freq_masks": 2},
    {"band_limit": 1.0}, {"eq_db": 6.0}, {"noise": 1.0}, {"mixup": 0.4},
])
def test_each_augmentation_alone_changes_the_batch(real_logmels: np.ndarray,
                                                   switch: dict[str, Any]) -> None:
    x = batch(real_logmels)
    out, mix = augmenter(replace(OFF, **switch))(x, epoch=0, batch=0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out, x, atol=1e-3)
    assert (mix is not None) == ("mixup" in switch)
    db = out * STD + MEAN
    if "mixup" not in switch and not {"time_masks", "freq_masks"} & set(switch):
        assert float(db.min()) >= FLOOR_DB - 1e-3  # never below the log-mel's floor


def test_band_limit_silences_the_bands_above_a_cutoff(real_logmels: np.ndarray) -> None:
    """As phone audio resampled through 8 kHz: nothing above 3-8 kHz, the rest untouched."""
    import librosa

    x = batch(real_logmels)
    out, _ = augmenter(replace(OFF, band_limit=1.0))(x, epoch=0, batch=0)
    db = (out * STD + MEAN)[:, 0]
    hz = librosa.mel_frequencies(CFG.n_mels + 2, fmax=CFG.sample_rate / 2)[1:-1]
    high, low = hz > 8000, hz < 3000
    assert torch.all(db[:, high, :] == FLOOR_DB)
    torch.testing.assert_close(out[:, 0, low, :], x[:, 0, low, :])
    # each clip has its own cutoff
    cut = [int(np.flatnonzero((db[i] == FLOOR_DB).all(dim=1).numpy() & ~low)[0]) for i in range(8)]
    assert len(set(cut)) > 1


def test_time_shift_moves_frames_and_fills_silence(real_logmels: np.ndarray) -> None:
    x = batch(real_logmels)
    out, _ = augmenter(replace(OFF, time_shift=0.3))(x, epoch=0, batch=0)
    floor = (FLOOR_DB - MEAN) / STD
    moved = 0
    for i in range(len(x)):
        shifts = [k for k in range(-39, 40)
                  if torch.allclose(out[i, 0, :, max(k, 0):130 + min(k, 0)],
                                    x[i, 0, :, max(-k, 0):130 - max(k, 0)], atol=1e-5)]
        assert shifts, f"clip {i} is not a shifted copy"
        k = shifts[0]
        vacated = out[i, 0, :, :k] if k > 0 else out[i, 0, :, 130 + k:]
        assert torch.allclose(vacated, torch.full_like(vacated, floor), atol=1e-5)
        moved += k != 0
    assert moved >= len(x) // 2


def test_mixup_loss_mixes_the_two_label_sets() -> None:
    from engine.augment import Mix

    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0], [0.5, 0.5]])
    y = torch.tensor([1.0, 0.0, 1.0])
    perm = torch.tensor([2, 0, 1])
    ce = lambda lo, t: torch.nn.functional.cross_entropy(lo, t.long())  # noqa: E731
    mixed = mixup_loss(ce, logits, y, Mix(lam=0.3, perm=perm))
    assert float(mixed) == pytest.approx(0.3 * float(ce(logits, y)) + 0.7 * float(ce(logits, y[perm])))
    assert float(mixup_loss(ce, logits, y, None)) == pytest.approx(float(ce(logits, y)))


def test_config_records_and_validates_the_switches() -> None:
    config = ExperimentConfig(augment=AugmentConfig(enabled=True, mixup=0.0, band_limit=0.8))
    again = ExperimentConfig.from_dict(__import__("tomllib").loads(config.to_toml()))
    assert again.augment == config.augment
    with pytest.raises(ConfigError, match="band_limit"):
        AugmentConfig(band_limit=1.5)
    with pytest.raises(ConfigError, match="mixup"):
        AugmentConfig(mixup=-1)
    with pytest.raises(ConfigError, match="unknown setting"):
        ExperimentConfig.from_dict({"augment": {"pitch": 1}})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here: device placement is "
                    "checked on CPU tensors only")
def test_runs_on_the_gpu() -> None:
    # log-mel-like dB values (no real recordings on a GPU server)
    logmels = np.random.default_rng(0).normal(-40, 10, size=(8, 128, 130))
    x = batch(logmels).cuda().half()
    out, mix = augmenter(ALL)(x, epoch=0, batch=0)
    assert out.is_cuda and out.dtype == torch.float16 and mix.perm.is_cuda


# ----------------------------------------------------------------- in the trainer


def test_only_training_batches_are_augmented(tmp_path: Path, real_logmels: np.ndarray,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A real fit: the augmenter sees exactly the training rows every epoch, never the
    validation part; predictions (validation, test, classify) use the plain images."""
    from engine import trainer
    from engine.config import TrainRecipe
    from engine.models import FitContext, Part, TrainData, get_spec

    torch.set_num_threads(1)
    train_x = np.concatenate([real_logmels] * 3)[:, :, :64]  # 24 clips
    val_x = real_logmels[:6, :, :64] - 5.0  # different values: recognisable if augmented
    train = Part(train_x, np.tile(np.array([0, 1]), 12))
    val = Part(val_x, np.array([0, 1, 0, 1, 0, 1]))
    seen: list[tuple[int, int]] = []
    real_call = Augmenter.__call__

    def spy(self: Augmenter, x: torch.Tensor, epoch: int, batch: int) -> Any:
        seen.append((epoch, len(x)))
        return real_call(self, x, epoch, batch)

    monkeypatch.setattr(Augmenter, "__call__", spy)
    records: list[dict[str, Any]] = []
    ctx = FitContext(recipe=TrainRecipe(epochs=2, batch_size=8, early_stopping_patience=None),
                     seed=0, workdir=tmp_path / "cnn2" / "0", on_epoch=records.append,
                     augment=Augmentation(ALL, CFG.sample_rate))
    predictor = trainer.fit(get_spec("cnn2"), TrainData(train, val), ctx)
    assert [sum(n for e, n in seen if e == epoch) for epoch in (1, 2)] == [24, 24]
    assert all(n == 8 for _, n in seen)
    assert len(records) == 2
    count = len(seen)
    p1 = predictor.predict_proba(val_x)
    p2 = predictor.predict_proba(val_x)
    assert len(seen) == count  # prediction never augments
    np.testing.assert_array_equal(p1, p2)
    meta = __import__("json").loads((tmp_path / "cnn2" / "0" / "model.json").read_text())
    assert meta["augment"]["mixup"] == ALL.mixup


def test_a_seeded_fit_with_augmentation_is_repeatable(tmp_path: Path,
                                                      real_logmels: np.ndarray) -> None:
    from engine import trainer
    from engine.config import TrainRecipe
    from engine.models import FitContext, Part, TrainData, get_spec

    torch.set_num_threads(1)
    train = Part(np.concatenate([real_logmels] * 2)[:, :, :64], np.tile(np.array([0, 1]), 8))
    val = Part(real_logmels[:4, :, :64], np.array([0, 1, 0, 1]))
    out = []
    for run in ("a", "b"):
        ctx = FitContext(recipe=TrainRecipe(epochs=2, batch_size=8), seed=3,
                         workdir=tmp_path / run, augment=Augmentation(ALL, 22050))
        out.append(trainer.fit(get_spec("cnn"), TrainData(train, val), ctx).predict_proba(val.X))
    np.testing.assert_array_equal(out[0], out[1])
