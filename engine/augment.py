"""Augmentation of log-mel training batches, on the device the model trains on.

Small cough sets (500-2,000 clips) are learnt by heart, and where the recording channel
differs with the label (phone call-centre vs messenger voice notes) the easiest thing to learn
is the channel. :class:`Augmenter` changes every *training* batch, never a validation, test or
prediction input (the trainer calls it in its training step only), so that bandwidth,
equalisation, level and timing stop being shortcuts:

* **time shift** by up to ``time_shift`` of the frames either way, and **random crop**: a
  window of at least ``crop`` of the frames, moved to the start (as a shorter clip would be);
  vacated frames are silence (the -80 dB floor);
* **gain**: a level change within ``+-gain_db`` (the floor stays the floor);
* **channel**: with probability ``band_limit`` a low-pass at a random cutoff between 3 kHz and
  8 kHz, as phone audio resampled through 8 kHz has (the bands above it drop to the floor); a
  smooth random **equalisation** curve within ``+-eq_db`` over the mel bands; with probability
  ``noise`` additive background **noise** 35-70 dB below the clip's peak with a random
  spectral tilt, added in the power domain;
* **SpecAugment**: ``time_masks`` time and ``freq_masks`` frequency masks, each up to
  ``time_mask_width`` / ``freq_mask_width`` of the axis, set to the training mean;
* **mixup**: a batch mixed with a permutation of itself, ``lam ~ Beta(mixup, mixup)``; the
  trainer's loss becomes ``lam * loss(y) + (1 - lam) * loss(y[perm])``.

Everything is drawn from generators seeded by (model seed, epoch, batch, rank): a run is
repeatable, a resumed run augments as an uninterrupted one would, and augmentation does not
touch the global RNG streams that initialise and shuffle. Tensors stay on the device; the
work is a few element-wise operations and one gather per batch.

The log-mel values are the trainer's normalised ``(dB - mean) / std`` (scalars from the
training part); the augmenter works in dB internally, with the log-mel's -80 dB floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import AugmentConfig

FLOOR_DB = -80.0  # the log-mel's floor (engine.features.TOP_DB below the clip's peak)
BAND_LIMIT_HZ = (3000.0, 8000.0)  # random low-pass cutoff range
NOISE_DB = (-70.0, -35.0)  # background noise level relative to the clip's peak
EQ_COMPONENTS = 3  # cosines over the mel axis that make a smooth EQ curve


@dataclass(frozen=True)
class Augmentation:
    """What a fit needs to build its :class:`Augmenter`: the switches and the log-mel's
    sample rate (for the mel bands' frequencies)."""

    config: AugmentConfig
    sample_rate: int

    def describe(self) -> str:
        c = self.config
        parts = [name for name, on in (
            ("time shift", c.time_shift > 0), ("crop", c.crop < 1), ("gain", c.gain_db > 0),
            ("band limit", c.band_limit > 0), ("EQ", c.eq_db > 0), ("noise", c.noise > 0),
            ("time masks", c.time_masks > 0), ("frequency masks", c.freq_masks > 0),
            ("mixup", c.mixup > 0)) if on]
        return ", ".join(parts) or "nothing"


@dataclass
class Mix:
    """A mixup draw: the batch was ``lam * x + (1 - lam) * x[perm]``."""

    lam: float
    perm: Any  # torch.LongTensor on the batch's device


class Augmenter:
    """Augments normalised log-mel batches ``(B, 1, n_mels, T)`` (see the module docstring)."""

    def __init__(self, augmentation: Augmentation, *, mean: float, std: float, n_mels: int,
                 seed: int, rank: int = 0) -> None:
        import librosa

        self.config = augmentation.config
        self.mean, self.std = float(mean), float(std)
        self.seed, self.rank = int(seed), int(rank)
        # centre frequency of every mel band (librosa's Slaney scale, as the log-mel's)
        sr = augmentation.sample_rate
        self.band_hz = librosa.mel_frequencies(n_mels + 2, fmax=sr / 2.0)[1:-1].astype(np.float32)
        self.nyquist = sr / 2.0
        self._device_cache: dict[str, Any] = {}

    def _bands(self, device: Any) -> Any:
        import torch

        key = str(device)
        if key not in self._device_cache:
            self._device_cache[key] = torch.from_numpy(self.band_hz).to(device)
        return self._device_cache[key]

    def __call__(self, x: Any, epoch: int, batch: int) -> tuple[Any, Mix | None]:
        """The augmented batch (a new tensor) and the mixup draw (None without mixup)."""
        import torch

        c = self.config
        words = [self.seed, epoch, batch, self.rank]
        gen = torch.Generator(device=x.device)
        gen.manual_seed(int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0]
                            & 0x7FFF_FFFF_FFFF_FFFF))
        rng = np.random.default_rng([*words, 1])
        b, _, m, t = x.shape

        def uniform(*shape: int) -> Any:
            return torch.rand(*shape, generator=gen, device=x.device)

        db = x.float() * self.std + self.mean
        if c.crop < 1 or c.time_shift > 0:
            db = self._shift_and_crop(db, uniform)
        if c.gain_db > 0:
            db = db + (uniform(b, 1, 1, 1) * 2 - 1) * c.gain_db
        if c.eq_db > 0:
            db = db + self._eq_curve(b, m, uniform)
        if c.noise > 0:
            db = self._add_noise(db, uniform)
        if c.band_limit > 0:
            cutoff = BAND_LIMIT_HZ[0] + uniform(b) * (min(BAND_LIMIT_HZ[1], self.nyquist)
                                                      - BAND_LIMIT_HZ[0])
            on = uniform(b) < c.band_limit
            above = self._bands(x.device)[None, :] > cutoff[:, None]  # (B, M)
            cut = (above & on[:, None])[:, None, :, None]
            db = torch.where(cut, torch.full_like(db, FLOOR_DB), db)
        db = db.clamp(min=FLOOR_DB)
        out = (db - self.mean) / self.std
        if c.time_masks:
            out = _masks(out, c.time_masks, c.time_mask_width, axis=3, uniform=uniform)
        if c.freq_masks:
            out = _masks(out, c.freq_masks, c.freq_mask_width, axis=2, uniform=uniform)
        mix = None
        if c.mixup > 0 and b > 1:
            lam = float(rng.beta(c.mixup, c.mixup))
            perm = torch.randperm(b, generator=gen, device=x.device)
            out = lam * out + (1 - lam) * out[perm]
            mix = Mix(lam=lam, perm=perm)
        return out.to(x.dtype), mix

    def _shift_and_crop(self, db: Any, uniform: Any) -> Any:
        """Per clip: keep a random window (crop), move it to the start, then shift in time."""
        import torch

        c = self.config
        b, _, _, t = db.shape
        length = torch.full((b,), float(t), device=db.device)
        start = torch.zeros(b, device=db.device)
        if c.crop < 1:
            length = torch.floor(t * (c.crop + (1 - c.crop) * uniform(b))).clamp(1, t)
            start = torch.floor(uniform(b) * (t - length + 1))
        shift = torch.zeros(b, device=db.device)
        if c.time_shift > 0:
            most = math.floor(c.time_shift * t)
            shift = torch.floor(uniform(b) * (2 * most + 1)) - most
        frames = torch.arange(t, device=db.device, dtype=torch.float32)[None, :]
        pos = frames - shift[:, None]  # position in the cropped clip
        src = start[:, None] + pos
        valid = (pos >= 0) & (pos < length[:, None])
        index = src.clamp(0, t - 1).long()[:, None, None, :].expand_as(db)
        moved = torch.gather(db, 3, index)
        return torch.where(valid[:, None, None, :], moved, torch.full_like(db, FLOOR_DB))

    def _eq_curve(self, b: int, m: int, uniform: Any) -> Any:
        """Smooth random gains over the mel bands: a sum of low-frequency cosines."""
        import torch

        axis = torch.linspace(0, math.pi, m, device=uniform(1).device)
        curve = torch.zeros(b, m, device=axis.device)
        for k in range(1, EQ_COMPONENTS + 1):
            amp = (uniform(b, 1) * 2 - 1) / EQ_COMPONENTS
            phase = uniform(b, 1) * 2 * math.pi
            curve = curve + amp * torch.cos(k * axis[None, :] + phase)
        return (curve * self.config.eq_db)[:, None, :, None]

    def _add_noise(self, db: Any, uniform: Any) -> Any:
        """Background noise in the power domain, on a random share of the clips."""
        import torch

        b, _, m, t = db.shape
        on = (uniform(b) < self.config.noise).float()[:, None, None, None]
        level = NOISE_DB[0] + uniform(b, 1, 1, 1) * (NOISE_DB[1] - NOISE_DB[0])
        tilt = (uniform(b, 1, 1, 1) * 2 - 1) * 10.0  # dB from the lowest to the highest band
        slope = torch.linspace(-0.5, 0.5, m, device=db.device)[None, None, :, None] * tilt
        # exponential power per cell: the periodogram of white noise
        cells = -torch.log(uniform(b, 1, m, t).clamp_min(1e-6))
        noise_power = 10 ** ((level + slope) / 10) * cells
        mixed = 10 * torch.log10(10 ** (db / 10) + noise_power)
        return on * mixed + (1 - on) * db


def _masks(x: Any, count: int, width: float, *, axis: int, uniform: Any) -> Any:
    """``count`` random masks per clip along ``axis``, each up to ``width`` of it, set to 0
    (the normalised training mean)."""
    import torch

    b, size = x.shape[0], x.shape[axis]
    most = max(1, math.floor(width * size))
    keep = torch.ones(b, size, dtype=torch.bool, device=x.device)
    positions = torch.arange(size, device=x.device)[None, :]
    for _ in range(count):
        w = torch.floor(uniform(b) * (most + 1))
        start = torch.floor(uniform(b) * (size - w + 1))
        keep &= ~((positions >= start[:, None]) & (positions < (start + w)[:, None]))
    shape = [b, 1, 1, 1]
    shape[axis] = size
    return x * keep.view(shape).to(x.dtype)


def mixup_loss(loss_fn: Any, logits: Any, y: Any, mix: Mix | None) -> Any:
    """The loss of a (possibly mixed) batch: ``lam * loss(y) + (1 - lam) * loss(y[perm])``."""
    if mix is None:
        return loss_fn(logits, y)
    return mix.lam * loss_fn(logits, y) + (1 - mix.lam) * loss_fn(logits, y[mix.perm])
