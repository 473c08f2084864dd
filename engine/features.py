"""The paper's 26 features and the log-mel spectrogram, computed from one shared STFT.

The paper's features (:data:`PAPER_FEATURES`) are, in this order, the means over frames of
``chroma_stft`` (over all 12 bins), ``rms``, ``spectral_centroid``, ``spectral_bandwidth``,
``spectral_rolloff``, ``zero_crossing_rate`` and MFCC 1-20, with librosa's defaults (n_fft 2048,
hop 512, centred frames, Hann window, 128 Slaney mels, ``power_to_db`` with top_db 80, DCT-II).
:func:`paper_features_reference` is that recipe, calling librosa feature by feature.

:func:`compute_batch` is the fast path: ONE ``torch.stft`` over a batch of clips, then every
feature as tensor operations with librosa's filter banks (built once per config and cached),
averaged over each clip's own valid frames (``1 + len // hop``; frames past a clip's end are
ignored). Because librosa pads centred frames with zeros, and the batch pads each clip with
zeros, the valid frames are the very frames librosa computes on the trimmed clip. To be
equal to the recipe, not merely close:

* ``rms`` is computed from the *waveform frames* (as ``librosa.feature.rms(y=...)`` does),
  not from the magnitude spectrogram (which would differ by ~4% because of the window);
* ``zero_crossing_rate`` counts sign changes in the same 2048-sample frames, with librosa's
  edge padding, threshold 1e-10 and zero counted as positive;
* ``chroma_stft`` estimates the tuning of every clip as librosa does (parabolic-interpolation
  peak picking between 150 and 4000 Hz, median magnitude threshold, 0.01-bin histogram), and
  uses the chroma filter bank for that tuning. (With ``tuning=0`` instead, chroma would differ
  from the paper's by up to ~2.4%, median 0.7%, on the covid19-cough clips.)

Remaining differences are float32 rounding (torch vs numpy FFT); tolerances are stated in
``tests/test_features.py``.

The log-mel spectrogram is the 128-band (``cfg.n_mels``) power mel spectrogram of the
fixed-length clip (``cfg.duration``: trimmed clip zero-padded at the end or cropped from the
start), in dB with ``power_to_db(ref=np.max, top_db=80)``: each clip is scaled to its own
peak, so values lie in [-80, 0] dB and the recording gain (which says more about the device
than the cough) is gone. It is stored as float16 ``(n_mels, cfg.n_frames)``. With
``cfg.pad = "repeat"`` (the default preset's choice, see :mod:`engine.refit`) a clip shorter
than ``cfg.duration`` is not followed by silence but repeated, frame by frame, until the image
is full: the spectrogram models then see the cough in every column instead of a cough and a
blank half (the median covid19-cough clip is 1.7 s of a 3 s image), which measured as the
largest single gain for the paper CNN within a recording source (README, "Models that learn
the cough"). Features never depend on the padding: they use each clip's own frames.

The "extended" feature set is the 26 means, the 26 standard deviations over frames of the
same series, and the means and standard deviations of delta-MFCC 1-20
(``librosa.feature.delta``, width 9): 92 features, names from :func:`feature_names`.

The "mel_stats" feature set is the 26 means followed by the mean and the standard deviation
over frames of each of the ``cfg.n_mels`` log-mel bands of the whole trimmed clip (its valid
frames, in dB relative to the clip's peak, floored at -80 dB as the log-mel image is):
26 + 2 x n_mels features (282 with 128 bands). A band's level and its variability carry the
spectral shape of the cough that 20 MFCC means summarise away.

The "egemaps" and "compare" feature sets are the 26 means followed by openSMILE's
eGeMAPSv02 (88) or ComParE_2016 (6,373) functionals of the whole trimmed clip, at
``cfg.sample_rate`` (:mod:`engine.smile`, an optional package). :func:`compute_batch`
computes them clip by clip beside the batched STFT, so the preprocessing cache and its worker
processes cover them as they cover every other set.

For the sets that add columns to the 26 ("mel_stats", "egemaps", "compare") the paper's
networks keep the 26 (:func:`model_columns`); the added columns are for the baselines.
A clip whose features are not all finite is excluded with the reason
(:func:`nonfinite_reason`), never given to a model.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import numpy as np

from .config import PreprocessConfig
from .smile import is_smile_set

N_MFCC = 20
N_CHROMA = 12
MFCC_MELS = 128  # librosa.feature.mfcc's default, independent of cfg.n_mels
TOP_DB = 80.0
AMIN = 1e-10
ROLL_PERCENT = 0.85
ZC_THRESHOLD = 1e-10
TUNING_FMIN, TUNING_FMAX, TUNING_THRESHOLD = 150.0, 4000.0, 0.1
GROUP = 16  # at most this many clips per STFT batch
GROUP_SPREAD = 1.3  # ... and the longest at most this times the shortest (bounds padding)

PAPER_FEATURES: list[str] = [
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "zero_crossing_rate",
    *[f"mfcc{i}" for i in range(1, N_MFCC + 1)],
]
EXTENDED_FEATURES: list[str] = [
    *PAPER_FEATURES,
    *[f"{name}_std" for name in PAPER_FEATURES],
    *[f"mfcc{i}_delta" for i in range(1, N_MFCC + 1)],
    *[f"mfcc{i}_delta_std" for i in range(1, N_MFCC + 1)],
]


FEATURE_SETS: tuple[str, ...] = ("paper", "extended", "mel_stats", "egemaps", "compare")
WIDE_SETS = ("mel_stats", "egemaps", "compare")  # the 26, then columns for the baselines


def mel_stats_names(n_mels: int) -> list[str]:
    """The band columns of the "mel_stats" set: ``mel{i}_mean`` then ``mel{i}_std``, i 1..n."""
    return [*[f"mel{i}_mean" for i in range(1, n_mels + 1)],
            *[f"mel{i}_std" for i in range(1, n_mels + 1)]]


def model_columns(cfg: PreprocessConfig, *, baseline: bool) -> slice:
    """The feature-table columns a feature model takes: everything for the baselines; the
    paper's networks (``ann``, ``cne``, ``tabnet``) keep the paper's 26 inputs when the set is
    "mel_stats", "egemaps" or "compare" (the added columns are for the regularised linear,
    SVM and boosted baselines: the paper ANN's 4-unit bottleneck does not train reliably on
    282 inputs, let alone 6,399)."""
    if cfg.feature_set in WIDE_SETS and not baseline:
        return slice(0, len(PAPER_FEATURES))
    return slice(None)


def feature_names(cfg: PreprocessConfig = PreprocessConfig()) -> list[str]:
    """Column names of the feature table for ``cfg.feature_set``."""
    if cfg.feature_set == "extended":
        return list(EXTENDED_FEATURES)
    if cfg.feature_set == "mel_stats":
        return [*PAPER_FEATURES, *mel_stats_names(cfg.n_mels)]
    if is_smile_set(cfg.feature_set):
        from . import smile

        return [*PAPER_FEATURES, *smile.names(cfg.feature_set)]  # raises when not installed
    return list(PAPER_FEATURES)


def nonfinite_reason(values: np.ndarray, cfg: PreprocessConfig, seconds: float) -> str | None:
    """Why a clip's feature row cannot go to a model (some value is NaN or infinite), or
    None when every value is finite. The reason never names the file (cache entries are
    shared by identical files)."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(values)))
    if not len(bad):
        return None
    names = feature_names(cfg)
    first = names[int(bad[0])] if int(bad[0]) < len(names) else f"column {int(bad[0])}"
    what = (f"openSMILE's {cfg.feature_set} functionals" if is_smile_set(cfg.feature_set)
            else f"the {cfg.feature_set} features")
    return (f"{len(bad)} of {what} are not finite on this {seconds:.2f} s clip (first: "
            f"{first}); a clip that short cannot be described by them")


# --------------------------------------------------------------------------- the recipe


def paper_features_reference(y: np.ndarray, sr: int) -> np.ndarray:
    """The paper's 26 features, librosa called feature by feature with its defaults."""
    import librosa  # ~1 s

    y = np.asarray(y, dtype=np.float32)
    f = librosa.feature
    values = [
        np.mean(f.chroma_stft(y=y, sr=sr)),
        np.mean(f.rms(y=y)),
        np.mean(f.spectral_centroid(y=y, sr=sr)),
        np.mean(f.spectral_bandwidth(y=y, sr=sr)),
        np.mean(f.spectral_rolloff(y=y, sr=sr)),
        np.mean(f.zero_crossing_rate(y)),
        *np.mean(f.mfcc(y=y, sr=sr), axis=1),
    ]
    return np.asarray(values, dtype=np.float64)


# --------------------------------------------------------------------------- filter banks


@dataclass(frozen=True)
class _Banks:
    window: Any  # torch (n_fft,)
    freqs: Any  # torch (F,) float32
    mel_mfcc: Any  # torch (128, F)
    mel_logmel: Any  # torch (n_mels, F)
    dct: Any  # torch (20, 128)
    moments: Any  # torch (3, F): 1, f, f^2
    band: tuple[int, int]  # first, last (inclusive) FFT bin of the tuning search


@lru_cache(maxsize=8)
def _banks(sr: int, n_fft: int, n_mels: int) -> _Banks:
    import librosa
    import scipy.fft
    import torch

    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    mel128 = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=MFCC_MELS))
    mel_n = mel128 if n_mels == MFCC_MELS else torch.from_numpy(
        librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    )
    dct = scipy.fft.dct(np.eye(MFCC_MELS), type=2, norm="ortho", axis=0)[:N_MFCC]
    in_band = np.flatnonzero((freqs >= TUNING_FMIN) & (freqs < min(TUNING_FMAX, sr / 2)))
    band = (max(int(in_band[0]), 1), min(int(in_band[-1]), len(freqs) - 2))
    return _Banks(
        window=torch.hann_window(n_fft, periodic=True, dtype=torch.float32),
        freqs=torch.from_numpy(freqs.astype(np.float32)),
        mel_mfcc=mel128,
        mel_logmel=mel_n,
        dct=torch.from_numpy(dct.astype(np.float32)),
        moments=torch.from_numpy(np.stack([np.ones_like(freqs), freqs, freqs**2]).astype(np.float32)),
        band=band,
    )


@lru_cache(maxsize=256)
def _chroma_bank(sr: int, n_fft: int, tuning: float) -> Any:
    import librosa
    import torch

    fb = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=N_CHROMA)
    return torch.from_numpy(fb.astype(np.float32))


# --------------------------------------------------------------------------- fast path


def compute_batch(
    waves: np.ndarray, lengths: np.ndarray, cfg: PreprocessConfig = PreprocessConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(B, F)`` float32 and log-mels ``(B, n_mels, n_frames)`` float16.

    ``waves`` is ``(B, n)`` float32 at ``cfg.sample_rate``: row ``i`` holds a trimmed clip in
    its first ``lengths[i]`` samples (anything after is ignored). Features are computed on the
    whole trimmed clip (openSMILE's, for "egemaps"/"compare", one clip at a time: NaN where it
    has no value, see :func:`nonfinite_reason`); the log-mel on its fixed-length version
    (module docstring). Clips are transformed in groups of similar length (:func:`_length_groups`) to bound padding/memory.
    """
    waves = np.asarray(waves, dtype=np.float32)
    lengths = np.asarray(lengths, dtype=np.int64)
    feats = np.zeros((len(waves), len(feature_names(cfg))), np.float32)
    logmel = np.zeros((len(waves), cfg.n_mels, cfg.n_frames), np.float16)
    n_batched = len(PAPER_FEATURES) if is_smile_set(cfg.feature_set) else feats.shape[1]
    with _single_thread():
        for idx in _length_groups(lengths):
            width = int(lengths[idx].max())
            feats[idx, :n_batched], logmel[idx] = _compute_group(waves[idx, :width],
                                                                 lengths[idx], cfg)
    if is_smile_set(cfg.feature_set):
        from . import smile

        for i in range(len(waves)):  # the clip itself: trimmed, never padded
            feats[i, n_batched:] = smile.functionals(waves[i, : lengths[i]], cfg.sample_rate,
                                                     cfg.feature_set)
    return feats, logmel


@contextmanager
def _single_thread() -> Iterator[None]:
    """One torch thread while computing: each op on a group of clips is small, so intra-op
    threads mostly spin (6x slower on a busy 2-core machine); parallelism comes from worker
    processes instead (:mod:`engine.preprocess`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _length_groups(lengths: np.ndarray) -> list[np.ndarray]:
    """Indices of clips of similar length, shortest first."""
    groups: list[list[int]] = []
    for i in np.argsort(lengths, kind="stable").tolist():
        if (not groups or len(groups[-1]) >= GROUP
                or lengths[i] > GROUP_SPREAD * lengths[groups[-1][0]]):
            groups.append([])
        groups[-1].append(i)
    return [np.array(g) for g in groups]


def warm_up(cfg: PreprocessConfig = PreprocessConfig()) -> None:
    """Pay the one-time costs (imports, filter banks, numba compilation in librosa) now."""
    noise = np.random.default_rng(0).standard_normal(cfg.sample_rate // 2).astype(np.float32)
    compute_clip(0.1 * noise, cfg)


def compute_clip(samples: np.ndarray, cfg: PreprocessConfig = PreprocessConfig()
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One trimmed clip -> ``(features (F,), logmel (n_mels, n_frames))``."""
    feats, logmel = compute_batch(samples[None, :], np.array([len(samples)]), cfg)
    return feats[0], logmel[0]


def _compute_group(waves: np.ndarray, lengths: np.ndarray, cfg: PreprocessConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    import torch

    rows, row_of_fixed = _stack_rows(waves, lengths, cfg.n_samples, cfg.n_fft // 2)
    banks = _banks(cfg.sample_rate, cfg.n_fft, cfg.n_mels)
    b = len(waves)
    with torch.no_grad():
        x = torch.from_numpy(rows)
        spec = torch.stft(x, cfg.n_fft, cfg.hop_length, window=banks.window, center=True,
                          pad_mode="constant", return_complex=True)
        parts = torch.view_as_real(spec)
        power = parts[..., 0].square() + parts[..., 1].square()  # faster than spec.abs()
        del spec, parts
        mag = power.sqrt()
        mel = torch.matmul(banks.mel_mfcc, power)
        fixed = torch.from_numpy(row_of_fixed)
        if banks.mel_logmel is banks.mel_mfcc:
            logmel = _logmel(mel[fixed], cfg)
        else:
            logmel = _logmel(torch.matmul(banks.mel_logmel, power[fixed]), cfg)
        if cfg.pad == "repeat":
            logmel = _repeat_pad(logmel, lengths, cfg)
        lens = torch.from_numpy(lengths)
        series = _frame_series(x[:b], mag[:b], power[:b], mel[:b], lens, banks, cfg)
        if cfg.feature_set == "mel_stats":
            bands = mel[:b] if banks.mel_logmel is banks.mel_mfcc else torch.matmul(
                banks.mel_logmel, power[:b])
            series["band_db"] = _band_db(bands, series["valid"])
        feats = _summarise(series, cfg)
    return feats.numpy(), logmel.numpy().astype(np.float16)


def _stack_rows(waves: np.ndarray, lengths: np.ndarray, n_fixed: int, margin: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rows to transform: each clip zero-padded to a common width, plus, for clips longer
    than ``n_fixed``, their cropped fixed-length version. Also the row of each fixed clip.

    The width is the longest row plus ``margin`` (n_fft/2): every frame that touches audio is
    computed; later frames would be all zeros, and :func:`_logmel` pads them as such.
    """
    b = len(waves)
    long_rows = np.flatnonzero(lengths > n_fixed)
    rows = np.zeros((b + len(long_rows), int(lengths.max()) + margin), dtype=np.float32)
    for i in range(b):
        rows[i, : lengths[i]] = waves[i, : lengths[i]]
    if len(long_rows):
        rows[b:, :n_fixed] = waves[long_rows, :n_fixed]
    row_of_fixed = np.arange(b)
    row_of_fixed[long_rows] = b + np.arange(len(long_rows))
    return rows, row_of_fixed


def _logmel(mel: Any, cfg: PreprocessConfig) -> Any:
    """power mel (R, n_mels, T) -> dB relative to each clip's peak, clamped at -80,
    cropped or zero-padded (all-zero frames are silence) to ``cfg.n_frames``."""
    import torch

    t = mel.shape[-1]
    mel = mel[..., : cfg.n_frames] if t >= cfg.n_frames else torch.nn.functional.pad(
        mel, (0, cfg.n_frames - t))
    db = 10.0 * torch.log10(mel.clamp(min=AMIN))
    peak = db.amax(dim=(1, 2), keepdim=True)
    return torch.maximum(db - peak, torch.tensor(-TOP_DB))


def clip_frames(lengths: Any, cfg: PreprocessConfig) -> Any:
    """The frames (centred STFT windows) that hold a clip of ``lengths`` samples:
    ``1 + length // hop``. Works on ints, numpy arrays and torch tensors alike."""
    return 1 + lengths // cfg.hop_length


def _repeat_pad(logmel: Any, lengths: np.ndarray, cfg: PreprocessConfig) -> Any:
    """A clip shorter than ``cfg.duration`` repeated along time to fill the image: its own
    frames (``1 + len // hop``, the frames centred inside the clip) again and again instead
    of silence. Longer clips (every frame is the clip's) are unchanged."""
    import torch

    n_valid = np.minimum(clip_frames(np.asarray(lengths, dtype=np.int64), cfg), cfg.n_frames)
    index = torch.arange(cfg.n_frames)[None, :] % torch.from_numpy(n_valid)[:, None]
    return torch.gather(logmel, 2, index[:, None, :].expand(-1, logmel.shape[1], -1))


def _band_db(bands: Any, valid: Any) -> Any:
    """Power mel bands (B, n_mels, T) -> dB relative to each clip's peak over its valid
    frames, floored at -TOP_DB (the log-mel image's scale)."""
    import torch

    db = 10.0 * torch.log10(bands.clamp(min=AMIN))
    peak = db.masked_fill(~valid[:, None, :], -torch.inf).amax(dim=(1, 2), keepdim=True)
    return torch.maximum(db - peak, torch.tensor(-TOP_DB))


def _frame_series(x: Any, mag: Any, power: Any, mel: Any, lengths: Any, banks: _Banks,
                  cfg: PreprocessConfig) -> dict[str, Any]:
    """Per-frame series ``(B, T)`` (``mfcc``: ``(B, 20, T)``) plus the valid-frame mask."""
    import torch

    n_frames = mag.shape[-1]
    valid = torch.arange(n_frames)[None, :] < clip_frames(lengths, cfg)[:, None]
    tiny = float(np.finfo(np.float32).tiny)
    freqs = banks.freqs
    # moments of the magnitude over frequency: sum(mag), sum(f*mag), sum(f^2*mag)
    m0, m1, m2 = torch.matmul(banks.moments, mag).unbind(dim=1)
    norm = torch.where(m0 < tiny, torch.ones_like(m0), m0)
    centroid = m1 / norm
    # sum(p * (f - c)^2) = E[f^2] - c^2 (p = mag/norm); float32 sums keep it within 1e-5
    bandwidth = (m2 / norm - centroid.square()).clamp(min=0).sqrt()
    cum = mag.cumsum(dim=1)
    below = (cum < ROLL_PERCENT * cum[:, -1:, :]).sum(dim=1)
    rolloff = freqs[below.clamp(max=len(freqs) - 1)]
    del cum
    db = 10.0 * torch.log10(mel.clamp(min=AMIN))
    peak = db.masked_fill(~valid[:, None, :], -torch.inf).amax(dim=(1, 2), keepdim=True)
    mfcc = torch.matmul(banks.dct, torch.maximum(db, peak - TOP_DB))
    tunings = _estimate_tuning(power, valid, cfg.sample_rate, cfg.n_fft, banks.band)
    fb = torch.stack([_chroma_bank(cfg.sample_rate, cfg.n_fft, t) for t in tunings])
    raw = torch.bmm(fb, power)
    top = raw.amax(dim=1, keepdim=True)
    top = torch.where(top < tiny, torch.ones_like(top), top)
    chroma = (raw / top).mean(dim=1)
    rms, zcr = _waveform_series(x, lengths, n_frames, cfg)
    return {"valid": valid, "chroma_stft": chroma, "rms": rms, "spectral_centroid": centroid,
            "spectral_bandwidth": bandwidth, "spectral_rolloff": rolloff,
            "zero_crossing_rate": zcr, "mfcc": mfcc}


def _waveform_series(x: Any, lengths: Any, n_frames: int, cfg: PreprocessConfig
                     ) -> tuple[Any, Any]:
    """librosa's frame RMS (zero padding) and zero-crossing rate (edge padding), via cumsums
    over 2048-sample frames centred on each hop."""
    import torch

    b, n = x.shape
    half = cfg.n_fft // 2
    centres = torch.arange(n_frames) * cfg.hop_length
    lo = (centres - half).clamp(0, n)
    hi = (centres + half).clamp(0, n)
    sq = torch.zeros(b, n + 1, dtype=torch.float64)
    torch.cumsum(x.double().square(), dim=1, out=sq[:, 1:])
    rms = ((sq[:, hi] - sq[:, lo]) / cfg.n_fft).sqrt().float()
    # crossing between samples i-1 and i of the clip (i < length); frame t counts the
    # crossings at i in [centre - half + 1, centre + half - 1]
    neg = torch.signbit(x) & (x.abs() > ZC_THRESHOLD)
    cross = torch.zeros(b, n, dtype=torch.int32)
    cross[:, 1:] = neg[:, 1:] != neg[:, :-1]
    cross[torch.arange(n)[None, :] >= lengths[:, None]] = 0
    cc = torch.zeros(b, n + 1, dtype=torch.int32)
    torch.cumsum(cross, dim=1, out=cc[:, 1:])
    zlo = (centres - half + 1).clamp(0, n)
    zhi = (centres + half).clamp(0, n)
    zcr = ((cc[:, zhi] - cc[:, zlo]).double() / cfg.n_fft).float()
    return rms, zcr


def _estimate_tuning(power: Any, valid: Any, sr: int, n_fft: int, band: tuple[int, int]
                     ) -> list[float]:
    """``librosa.estimate_tuning(S=power)`` per clip, over its valid frames only."""
    import librosa
    import torch

    first, last = band
    s = power[:, first - 1 : last + 2, :]
    ref = TUNING_THRESHOLD * power.amax(dim=1, keepdim=True)
    gated = s * (s > ref)
    centre = gated[:, 1:-1]
    picked = (centre > gated[:, :-2]) & (centre >= gated[:, 2:]) & valid[:, None, :]
    out: list[float] = []
    for i in range(power.shape[0]):
        k, t = picked[i].nonzero(as_tuple=True)
        if len(k) == 0:
            out.append(0.0)
            continue
        s0, below, above = (s[i, k + j, t].numpy() for j in (1, 0, 2))
        a = above + below - 2 * s0
        half_diff = (above - below) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(np.abs(half_diff) >= np.abs(a), 0, -half_diff / a).astype(np.float32)
        pitch = ((k.numpy() + first + shift) * float(sr) / n_fft).astype(np.float32)
        mag = s0 + 0.5 * half_diff * shift
        keep = pitch[mag >= np.median(mag)]
        out.append(float(librosa.pitch_tuning(keep, resolution=0.01, bins_per_octave=N_CHROMA)))
    return out


def _summarise(series: dict[str, Any], cfg: PreprocessConfig) -> Any:
    """Means over valid frames; the extended set adds standard deviations and delta-MFCC,
    the mel_stats set each log-mel band's mean and standard deviation."""
    import torch

    valid = series["valid"].float()
    count = valid.sum(dim=1)
    frames = torch.cat(
        [torch.stack([series[name] for name in PAPER_FEATURES[:6]], dim=1), series["mfcc"]],
        dim=1,
    )  # (B, 26, T)
    w = valid[:, None, :]
    mean = (frames * w).sum(dim=2) / count[:, None]
    if cfg.feature_set == "mel_stats":
        bands = series["band_db"]  # (B, n_mels, T)
        band_mean = (bands * w).sum(dim=2) / count[:, None]
        band_std = (((bands - band_mean[..., None]) * w).square().sum(dim=2)
                    / count[:, None]).sqrt()
        return torch.cat([mean, band_mean, band_std], dim=1)
    if cfg.feature_set != "extended":
        return mean
    std = (((frames - mean[..., None]) * w).square().sum(dim=2) / count[:, None]).sqrt()
    delta = _delta_stats(series["mfcc"], count.long())
    return torch.cat([mean, std, delta], dim=1)


def _delta_stats(mfcc: Any, counts: Any) -> Any:
    import librosa
    import torch

    out = []
    for i in range(mfcc.shape[0]):
        m = mfcc[i, :, : int(counts[i])].double().numpy()
        width = min(9, m.shape[1] - (1 - m.shape[1] % 2))
        d = librosa.feature.delta(m, width=width) if width >= 3 else np.zeros_like(m)
        out.append(np.concatenate([d.mean(axis=1), d.std(axis=1)]))
    return torch.from_numpy(np.stack(out)).float()
