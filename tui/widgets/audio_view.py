"""Terminal pictures of one recording: a waveform sparkline, a log-mel spectrogram drawn
with half-block characters (two spectrogram rows per text row), and a probability bar.

Pure rendering: numpy arrays in, :class:`rich.text.Text` out. numpy is imported by the
callers' data (these functions run only once a recording has been classified).
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

SPARK = "▁▂▃▄▅▆▇█"
SHADES = " ░▒▓█"  # for NO_COLOR terminals, where colour carries nothing
# a perceptual dark-to-bright ramp (viridis-like anchors), interpolated
RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def ramp_colour(value: float) -> tuple[int, int, int]:
    """``value`` in [0, 1] -> an RGB colour on :data:`RAMP`."""
    value = min(max(value, 0.0), 1.0) * (len(RAMP) - 1)
    i = min(int(value), len(RAMP) - 2)
    t = value - i
    a, b = RAMP[i], RAMP[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * t) for k in range(3))  # type: ignore[return-value]


def column_peaks(samples: Any, width: int) -> list[float]:
    """The peak |amplitude| in each of ``width`` equal slices of ``samples``."""
    import numpy as np

    y = np.abs(np.asarray(samples, dtype=np.float32).ravel())
    if y.size == 0 or width <= 0:
        return []
    edges = np.linspace(0, y.size, num=min(width, y.size) + 1).astype(int)
    return [float(y[a:b].max()) if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:])]


def sparkline(samples: Any, width: int) -> str:
    """The waveform's envelope as one line of block characters, scaled to its own peak."""
    peaks = column_peaks(samples, width)
    top = max(peaks, default=0.0)
    if top <= 0:
        return SPARK[0] * len(peaks)
    return "".join(SPARK[min(int(p / top * (len(SPARK) - 1) + 0.5), len(SPARK) - 1)]
                   for p in peaks)


def resample_grid(logmel: Any, width: int, rows: int) -> Any:
    """``logmel`` (mels x frames, dB) averaged down (or repeated up) to ``rows`` x ``width``,
    scaled to [0, 1] over its own range, low frequencies last (bottom of the picture)."""
    import numpy as np

    m = np.asarray(logmel, dtype=np.float32)
    r_edges = np.linspace(0, m.shape[0], rows + 1)
    c_edges = np.linspace(0, m.shape[1], width + 1)

    def cells(edges: Any, i: int) -> slice:
        a = int(edges[i])
        return slice(a, max(int(np.ceil(edges[i + 1])), a + 1))

    grid = np.array([[m[cells(r_edges, r), cells(c_edges, c)].mean() for c in range(width)]
                     for r in range(rows)])
    lo, hi = float(grid.min()), float(grid.max())
    scaled = (grid - lo) / (hi - lo) if hi > lo else np.zeros_like(grid)
    return scaled[::-1]


def spectrogram_text(logmel: Any, width: int, height: int, colour: bool = True) -> Text:
    """A ``width`` x ``height`` character picture of ``logmel``: each cell is an upper half
    block coloured by one grid row over a background coloured by the next."""
    width, height = max(width, 1), max(height, 1)
    if not colour:
        grid = resample_grid(logmel, width, height)
        return Text("\n".join("".join(SHADES[min(int(v * len(SHADES)), len(SHADES) - 1)]
                                      for v in row) for row in grid))
    grid = resample_grid(logmel, width, 2 * height)
    text = Text()
    for r in range(height):
        for c in range(width):
            top, bottom = ramp_colour(float(grid[2 * r, c])), ramp_colour(float(grid[2 * r + 1, c]))
            text.append("▀", Style(color=f"rgb{top}", bgcolor=f"rgb{bottom}"))
        if r < height - 1:
            text.append("\n")
    return text


def probability_bar(probability: float, width: int = 10) -> Text:
    """``0.62`` -> ``██████░░░░ 0.62`` (eighth blocks for the fraction)."""
    p = min(max(probability, 0.0), 1.0)
    eighths = round(p * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    text = Text(bar, style="bold")
    text.append("░" * (width - len(bar)), style="dim")
    text.append(f" {p:.2f}")
    return text
