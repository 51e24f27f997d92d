"""A long recording as an emotion timeline: speech regions -> windows -> per-window
probabilities -> a smoothed curve on a time grid -> segments and a summary.

Pure functions over arrays (no model, no audio decoding), so each step is tested on its own;
:mod:`emovox.infer.analyzer` runs them on a recording.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.data.labels import dimensions
from emovox.infer import speakers

ENVELOPE_RATE = 100  # envelope points per second (peaks of 10 ms)


@dataclass(frozen=True)
class TimelineConfig:
    """How a recording is cut and read back (defaults measured: docs/analysis.md)."""

    window: float = 4.0  # seconds of speech per prediction; longer regions are slid over
    hop: float = 2.0  # seconds between window starts inside a long region
    context: float = 1.0  # seconds of audio on each side of a window that the model also hears
    min_window: float = 0.5  # seconds; shorter speech regions are scored but padded to this
    step: float = 0.1  # seconds per point of the probability curve
    smooth: float = 0.0  # seconds of moving average over the curve (0: none)
    min_segment: float = 0.5  # seconds; shorter segments merge into their neighbour


@dataclass
class Segment:
    """A stretch of speech with one emotion (None: the model is unsure there)."""

    start: float
    end: float
    emotion: str | None
    confidence: float
    probabilities: dict[str, float]
    reason: str | None = None  # why emotion is None: "unsure" or "unfamiliar"
    arousal: float | None = None  # in [-1, 1]: the model's arousal head, or where its
    #   probabilities sit on data.labels.AROUSAL (models without the head)
    valence: float | None = None  # in [-1, 1] (data.labels.VALENCE)
    speaker: str | None = None  # S1, S2, ...: whose voice, when a recording is split by voice

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Curve:
    """A recording's scores over time: the grid's times (T,), its smoothed probabilities
    (T, classes), which points are speech (T,), arousal and valence (T, 2), unfamiliarity
    (T,), and the segments and summary cut from them."""

    times: np.ndarray
    probabilities: np.ndarray
    covered: np.ndarray
    dimensions: np.ndarray
    unfamiliarity: np.ndarray
    segments: list[Segment]
    summary: dict


def windows(
    regions: Sequence[tuple[float, float]], cfg: TimelineConfig
) -> list[tuple[float, float]]:
    """(start, end) seconds of each prediction window over speech regions: a region up to
    ``window`` long is one window; a longer one is covered by windows of ``window`` every
    ``hop``, the last ending with the region."""
    out: list[tuple[float, float]] = []
    for start, end in regions:
        if end - start <= cfg.window:
            out.append((start, end))
            continue
        n = int(np.ceil((end - start - cfg.window) / cfg.hop)) + 1
        starts = np.minimum(start + cfg.hop * np.arange(n), end - cfg.window)
        out.extend((float(s), float(s + cfg.window)) for s in starts)
    return out


def curve(
    spans: Sequence[tuple[float, float]], probs: np.ndarray, duration: float, step: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times (T,), probabilities (T, classes), covered (T,)): each grid point takes the mean
    of the windows that cover it; points no window covers are not speech."""
    times = np.arange(0.0, duration, step) + step / 2
    total = np.zeros((len(times), probs.shape[1]))
    count = np.zeros(len(times))
    for (start, end), p in zip(spans, probs, strict=True):
        sel = slice(int(np.floor(start / step)), int(np.ceil(end / step)))
        total[sel] += p
        count[sel] += 1
    covered = count > 0
    grid = np.where(covered[:, None], total / np.maximum(count, 1)[:, None], 0.0)
    return times, grid, covered


def smooth(grid: np.ndarray, covered: np.ndarray, seconds: float, step: float) -> np.ndarray:
    """Moving average over ``seconds`` of the curve, within each run of speech only."""
    k = int(round(seconds / step))
    if k <= 1:
        return grid
    out = grid.copy()
    for a, b in _runs(covered):
        cum = np.cumsum(np.vstack([np.zeros(grid.shape[1]), grid[a:b]]), axis=0)
        lo = np.maximum(np.arange(b - a) - k // 2, 0)
        hi = np.minimum(np.arange(b - a) + (k - k // 2), b - a)
        out[a:b] = (cum[hi] - cum[lo]) / (hi - lo)[:, None]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where ``mask`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def segments(
    times: np.ndarray,
    grid: np.ndarray,
    covered: np.ndarray,
    labels: Sequence[str],
    threshold: float,
    cfg: TimelineConfig,
    unsure: np.ndarray | None = None,
    dims: np.ndarray | None = None,
    voice: np.ndarray | None = None,
) -> list[Segment]:
    """Runs of one emotion on the curve (None where the top probability is below
    ``threshold``, reason "unsure", or ``unsure`` is set, reason "unfamiliar"); runs shorter
    than ``min_segment`` join the neighbour they resemble most. Arousal and valence: the
    mean of the ``dims`` curve (T, 2) over the run, or where its probabilities sit. ``voice``
    (T,): a speaker index per point; a run of speech is cut where it changes."""
    top = np.where(grid.max(1) >= threshold, grid.argmax(1), -1)
    if unsure is not None:
        top = np.where(unsure, -2, top)
    out: list[Segment] = []
    for a, b in _voice_runs(covered, voice):
        pieces = _merge_short(
            _label_runs(top[a:b]), grid[a:b], int(round(cfg.min_segment / cfg.step))
        )
        for s, e, k in pieces:
            p = grid[a + s : a + e].mean(0)
            probs = {lab: round(float(v), 4) for lab, v in zip(labels, p, strict=True)}
            if dims is None:
                av = dimensions(probs)
            else:
                av = dict(zip(("arousal", "valence"), dims[a + s : a + e].mean(0), strict=True))
            out.append(
                Segment(
                    start=round(float(times[a + s] - cfg.step / 2), 3),
                    end=round(float(times[a + e - 1] + cfg.step / 2), 3),
                    emotion=labels[k] if k >= 0 else None,
                    confidence=round(float(p.max()), 4),
                    probabilities=probs,
                    reason=None if k >= 0 else ("unsure", "unfamiliar")[-1 - k],
                    **{k: round(float(v), 4) for k, v in av.items()},
                    speaker=None if voice is None else speakers.name(int(voice[a])),
                )
            )
    return out


def _voice_runs(covered: np.ndarray, voice: np.ndarray | None) -> list[tuple[int, int]]:
    """Runs of speech, cut where the voice changes."""
    if voice is None:
        return _runs(covered)
    out = []
    for a, b in _runs(covered):
        cuts = [a, *(a + np.flatnonzero(np.diff(voice[a:b])) + 1), b]
        out += [(int(s), int(e)) for s, e in zip(cuts[:-1], cuts[1:], strict=True)]
    return out


def _label_runs(top: np.ndarray) -> list[list[int]]:
    """[start, end, label] runs of equal labels."""
    cuts = np.flatnonzero(np.diff(top)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(top)]])
    return [[int(s), int(e), int(top[s])] for s, e in zip(starts, ends, strict=True)]


def _merge_short(runs: list[list[int]], grid: np.ndarray, min_len: int) -> list[list[int]]:
    """Merge the shortest run under ``min_len`` into the neighbour whose mean curve is closest,
    until none is left (or one run remains)."""
    while len(runs) > 1:
        short = [i for i, r in enumerate(runs) if r[1] - r[0] < min_len]
        if not short:
            break
        i = min(short, key=lambda j: runs[j][1] - runs[j][0])
        mine = grid[runs[i][0] : runs[i][1]].mean(0)
        options = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        j = min(options, key=lambda j: np.abs(grid[runs[j][0] : runs[j][1]].mean(0) - mine).sum())
        a, b = sorted((i, j))
        runs[a : b + 1] = [[runs[a][0], runs[b][1], runs[j][2]]]
        runs = _coalesce(runs)
    return runs


def _coalesce(runs: list[list[int]]) -> list[list[int]]:
    """Neighbouring runs of the same label as one."""
    out: list[list[int]] = []
    for r in runs:
        if out and out[-1][2] == r[2]:
            out[-1][1] = r[1]
        else:
            out.append(list(r))
    return out


def summary(segs: Sequence[Segment], labels: Sequence[str], duration: float) -> dict:
    """Share of speech time per emotion (and unsure), the dominant emotion, speech duration."""
    speech = sum(s.end - s.start for s in segs)
    share = {lab: 0.0 for lab in labels} | {"unsure": 0.0}
    for s in segs:
        share[s.emotion or "unsure"] += (s.end - s.start) / speech if speech else 0.0
    emotions = {k: v for k, v in share.items() if k != "unsure"}
    dominant = max(emotions, key=emotions.get) if speech and max(emotions.values()) > 0 else None
    return {
        "duration": round(duration, 3),
        "speech_duration": round(speech, 3),
        "dominant_emotion": dominant,
        "share": {k: round(v, 4) for k, v in share.items()},
    }


def time_held(
    segs: Sequence[Segment], labels: Sequence[str], duration: float, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """(interval starts, (intervals, labels + 1) seconds each emotion, then unsure, holds in
    each interval of ``width`` seconds): what the per-minute pictures and exports show."""
    starts = np.arange(0.0, duration, width) if duration > 0 else np.zeros(1)
    held = np.zeros((len(starts), len(labels) + 1))
    for s in segs:
        k = labels.index(s.emotion) if s.emotion in labels else len(labels)
        first = int(s.start // width)
        last = min(int(min(s.end, duration - 1e-9) // width), len(starts) - 1)
        for b in range(first, last + 1):
            held[b, k] += max(0.0, min(s.end, starts[b] + width) - max(s.start, starts[b]))
    return starts, held


# --- reading a recording in blocks ---------------------------------------------------
class Scan:
    """What pass 1 learns of a recording while its blocks go through the speech detector."""

    def __init__(self, keep: int) -> None:
        self.n, self.peak, self.clipped = 0, 0.0, 0
        self.warnings: list[str] = []  # for the result: truncated, clipped
        self.vad_probs = np.zeros(0, dtype=np.float32)
        self._env: list[np.ndarray] = []
        self._carry = np.zeros(0, dtype=np.float32)
        self._keep, self._kept = keep, []  # the samples, while there are no more than ``keep``

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        hop = SR // ENVELOPE_RATE
        for block in blocks:
            self.n += len(block)
            self._kept = self._kept + [block] if self.n <= self._keep else []
            a = np.abs(block)
            if len(a):
                self.peak = max(self.peak, float(a.max()))
                self.clipped += int((a >= 0.999).sum())
            joined = np.concatenate([self._carry, a])
            usable = len(joined) - len(joined) % hop
            self._env.append(joined[:usable].reshape(-1, hop).max(1))
            self._carry = joined[usable:]
            yield block

    @property
    def kept(self) -> bool:
        """Whether every sample was kept: the one rule for reading an input as one clip (a
        rounded duration would call 64,001 samples 4.000 s and find none kept)."""
        return 0 < self.n <= self._keep

    def clip(self) -> np.ndarray:
        """The samples of an input no longer than ``keep`` (:attr:`kept`)."""
        if not self.kept:
            raise ValueError(f"{self.n} samples were read, more than the {self._keep} kept")
        return np.concatenate(self._kept)

    def envelope(self) -> np.ndarray:
        tail = [self._carry.max(keepdims=True)] if len(self._carry) else []
        return np.concatenate(self._env + tail) if self._env or tail else np.zeros(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Hand freed memory back to the system after each batch of windows. glibc keeps what
    torch's threads free in per-thread arenas, and over an hour's recording the windows'
    differently sized buffers fragment them: peak memory then grows with the length (1.11 GB
    for an hour against 0.60 GB for 10 minutes); trimmed, it stays flat (docs/analysis.md)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def cut(
    blocks: Iterable[np.ndarray], spans, n: int, min_len: int, context: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, samples) of each window, ``context`` samples wider on each side, as soon as the
    streamed audio covers it, keeping only what later windows still need; windows shorter than
    ``min_len`` grow around their centre."""
    bounds = [window_bounds(s, e, n, min_len, context) for s, e in spans]
    buf, buf_start, i = np.zeros(0, dtype=np.float32), 0, 0
    for block in itertools.chain(blocks, [None]):
        if block is not None:
            buf = np.concatenate([buf, block])
        end = buf_start + len(buf)
        while i < len(bounds) and (bounds[i][1] <= end or block is None):
            a, b = bounds[i]
            yield i, buf[a - buf_start : b - buf_start]
            i += 1
        # what later windows need, but never past the audio held: a pause over a block's end
        # would otherwise drop audio not yet read, and every later block would sit too late
        keep = min(min((a for a, _ in bounds[i:]), default=end), end)
        if keep > buf_start:
            buf, buf_start = buf[keep - buf_start :], keep


def window_bounds(start: float, end: float, n: int, min_len: int, context: int) -> tuple[int, int]:
    a, b = max(0, int(start * SR) - context), min(n, int(np.ceil(end * SR)) + context)
    if b - a < min_len:
        centre = (a + b) // 2
        a = max(0, min(centre - min_len // 2, n - min_len))
        b = min(n, a + min_len)
    return a, b
