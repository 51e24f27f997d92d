"""Pictures of an analysis that a person can read at any length.

Up to a few minutes, every segment is visible: the waveform with speech and emotion bands over
each emotion's probability curve. Longer, a person needs the shape of the whole first: each
emotion's share of every minute as a stacked area (unsure and silence included, so the stack
always fills), over a strip of every segment in its colour. A clip or an input without
speech still gets a picture (its probabilities, or why there is no answer), never nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovox.data.labels import axes, dimensions
from emovox.infer.palette import colour
from emovox.infer.timeline import Segment, time_held
from emovox.store.atomic import save_figure

DETAIL_SECONDS = 180.0  # longer recordings get the overview
MAX_BINS = 120  # bars of the overview at most; a bin is a minute up to two hours
AROUSAL_LINE = {"color": "0.1", "lw": 1.3, "ls": "--"}
_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)


@dataclass
class View:
    """What a picture shows: the analysis and the waveform's peak envelope."""

    labels: tuple[str, ...]
    duration: float
    segments: list[Segment]
    headline: str  # the overall answer as the page and the CLI state it
    title: str = ""
    envelope: np.ndarray = field(default_factory=lambda: np.zeros(0))
    envelope_rate: float = 100.0
    regions: list[tuple[float, float]] = field(default_factory=list)
    times: np.ndarray | None = None  # the probability curve, when there is one
    grid: np.ndarray | None = None
    covered: np.ndarray | None = None
    probabilities: dict[str, float] | None = None  # the overall answer's
    dims: np.ndarray | None = None  # arousal and valence along the curve (T, 2)
    arousal_valence: tuple[float | None, float | None] = (None, None)  # ... and its place


def clock(seconds: float, _pos=None) -> str:
    """Axis ticks: ``m:ss`` or ``h:mm:ss``."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def draw(path: str | Path, view: View) -> None:
    """The picture of ``view`` as a PNG at ``path`` (written whole or not at all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if view.duration > DETAIL_SECONDS:
        fig, axes = plt.subplots(
            2, 1, figsize=(13, 6.2), height_ratios=[3, 1], layout="constrained"
        )
        _overview(axes[0], view)
        _strip(axes[1], view)
    elif not view.segments:  # no speech: the waveform and why
        fig, ax = plt.subplots(figsize=(13, 3.2), layout="constrained")
        _waveform(ax, view)
    else:
        fig, axes = plt.subplots(
            2, 1, figsize=(13, 6.2), height_ratios=[1, 1.5], layout="constrained"
        )
        _waveform(axes[0], view)
        if view.grid is not None and len(view.segments) > 1:
            _curves(axes[1], view)
            axes[1].sharex(axes[0])
        else:
            _bars(axes[1], view)
    fig.suptitle(f"{view.title}   overall: {view.headline}".strip(), fontsize=12, x=0.01, ha="left")
    _legend(fig, view)
    save_figure(fig, path)


def _time_axis(ax, duration: float) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    ax.set_xlim(0, max(duration, 1e-3))
    if duration < 30:  # seconds, with a decimal where the ticks need one
        ax.xaxis.set_major_locator(MaxNLocator(nbins=12))
        ax.set_xlabel("time (s)")
        return
    # ticks on round times (every 5 s, 1 min, 10 min, 1 h...), a dozen at most
    step = next((s for s in _STEPS if duration / s <= 12), _STEPS[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(clock))
    ax.set_xlabel("time (m:ss)" if duration <= 3600 else "time (h:mm:ss)")


def _segment_bands(ax, view: View, y0: float, height: float, labels: bool) -> None:
    """Each segment as a coloured band (unsure: grey, hatched); its name where it fits."""
    width_px = ax.get_window_extent().width or 1000
    # under the speaker lines and their names when the segments carry speakers
    top = y0 + height - (0.2 if any(s.speaker for s in view.segments) else 0.02)
    for s in view.segments:
        ax.axvspan(
            s.start, s.end, ymin=y0, ymax=y0 + height, color=colour(s.emotion), alpha=0.35,
            lw=0, hatch=None if s.emotion else "///",
        )  # fmt: skip
        name = s.emotion or s.reason or "unsure"  # the width it needs is the name drawn
        if labels and (s.end - s.start) / view.duration * width_px > 5.5 * len(name):
            ax.text((s.start + s.end) / 2, top, name, ha="center", va="top", fontsize=8,
                    transform=ax.get_xaxis_transform())  # fmt: skip


def _speaker_runs(ax, view: View, y: float) -> None:
    """Who speaks when (recordings split by voice): a line per turn in the speaker's colour,
    named where it fits."""
    turns: list[list] = []
    for s in view.segments:
        if s.speaker is None:
            continue
        if turns and turns[-1][2] == s.speaker:
            turns[-1][1] = s.end
        else:
            turns.append([s.start, s.end, s.speaker])
    width_px = ax.get_window_extent().width or 1000
    for a, b, who in turns:
        c = colour(who)  # S1, S2, ...: the palette's dark voices, unlike the emotions
        ax.plot([a, b], [y, y], color=c, lw=4, solid_capstyle="butt",
                transform=ax.get_xaxis_transform())  # fmt: skip
        if (b - a) / view.duration * width_px > 18:
            ax.text(a, y - 0.09, who, color=c, fontsize=8, fontweight="bold", ha="left",
                    va="top", transform=ax.get_xaxis_transform(),
                    bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1})  # fmt: skip


def _waveform(ax, view: View) -> None:
    env = view.envelope
    t = np.arange(len(env)) / view.envelope_rate
    for a, b in view.regions:
        ax.axvspan(a, b, ymin=0, ymax=0.06, color=colour("speech"), lw=0)
    _segment_bands(ax, view, 0.08, 0.92, labels=True)
    if len(env):
        ax.fill_between(t, -env, env, color="0.25", lw=0)
        ax.set_ylim(-1.15 * max(env.max(), 1e-3), 1.15 * max(env.max(), 1e-3))
    if not view.segments:
        ax.text(
            0.5, 0.5, view.headline, ha="center", va="center", transform=ax.transAxes,
            fontsize=12, bbox={"facecolor": "white", "edgecolor": "0.6", "pad": 6},
        )  # fmt: skip
    _speaker_runs(ax, view, 0.985)
    ax.set_ylabel("waveform")
    ax.set_yticks([])
    _time_axis(ax, view.duration)


def _curves(ax, view: View) -> None:
    masked = np.where(view.covered[:, None], view.grid, np.nan)
    for k, lab in enumerate(view.labels):
        ax.plot(view.times, masked[:, k], color=colour(lab), lw=1.5)
    ax.set_ylim(0, 1.04)  # a probability of 1.0 stays above the frame
    ax.set_ylabel("probability")
    ax.grid(axis="y", color="0.9")
    arousal = view.dims[:, 0] if view.dims is not None else view.grid @ axes(view.labels)[:, 0]
    _arousal_axis(ax).plot(view.times, np.where(view.covered, arousal, np.nan), **AROUSAL_LINE)
    _time_axis(ax, view.duration)


def _arousal_axis(ax):
    """A right-hand axis for arousal, -1 (low) to +1 (high)."""
    right = ax.twinx()
    right.set_ylim(-1.08, 1.08)
    right.set_yticks([-1, 0, 1], ["low", "0", "high"])
    right.set_ylabel("arousal (dashed)")
    return right


def _bars(ax, view: View) -> None:
    """A clip: its probabilities; no speech: the reason, in words."""
    probs = view.probabilities or {}
    if not probs:
        ax.axis("off")
        return
    names = list(view.labels)
    ax.barh(names, [probs[n] for n in names], color=[colour(n) for n in names])
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    a, v = view.arousal_valence
    if a is None:
        a, v = dimensions(probs).values()
    ax.set_xlabel(f"probability (arousal {a:+.2f}, valence {v:+.2f})")


def _shares(view: View, width: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(bin starts, (bins, kinds) fraction of each bin's time, kinds): the emotions, unsure,
    and no speech."""
    starts, held = time_held(view.segments, view.labels, view.duration, width)
    span = np.minimum(starts + width, view.duration) - starts
    silent = np.maximum(span - held.sum(1), 0.0)
    share = np.column_stack([held, silent]) / span[:, None]
    return starts, share, [*view.labels, "unsure", "no speech"]


def _overview(ax, view: View) -> None:
    width = max(60.0, np.ceil(view.duration / MAX_BINS / 60) * 60)
    starts, share, kinds = _shares(view, width)
    x = np.append(starts, view.duration)
    y = np.vstack([share, share[-1:]])  # a step for the last bin too
    ax.stackplot(
        x, y.T, colors=[colour(k) for k in kinds], step="post", alpha=0.9, lw=0,
        hatch=[None] * len(view.labels) + ["///", None],
    )  # fmt: skip
    ax.set_ylim(0, 1)
    arousal = _binned_arousal(view.segments, starts, width)
    _arousal_axis(ax).step(x, np.append(arousal, arousal[-1:]), where="post", **AROUSAL_LINE)
    minutes = int(width // 60)
    ax.set_ylabel("share of each minute" if minutes == 1 else f"share of each {minutes} minutes")
    ax.yaxis.set_major_formatter(lambda v, _p: f"{v:.0%}")
    _time_axis(ax, view.duration)
    ax.set_xlabel("")


def _binned_arousal(segments: list[Segment], starts: np.ndarray, width: float) -> np.ndarray:
    """Each bin's arousal: the mean over its speech, each segment weighted by its time there
    (NaN for a bin without any)."""
    total, weight = np.zeros(len(starts)), np.zeros(len(starts))
    for s in segments:
        if s.arousal is None:
            continue
        overlap = np.clip(np.minimum(starts + width, s.end) - np.maximum(starts, s.start), 0, None)
        total += overlap * s.arousal
        weight += overlap
    with np.errstate(invalid="ignore"):
        return np.where(weight > 0, total / np.maximum(weight, 1e-9), np.nan)


def _strip(ax, view: View) -> None:
    """Every segment at full colour along the whole recording: where each emotion lies."""
    for seg in view.segments:
        ax.axvspan(
            seg.start, seg.end, color=colour(seg.emotion), lw=0,
            hatch=None if seg.emotion else "///",
        )  # fmt: skip
    _speaker_runs(ax, view, 0.9)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("segments")
    _time_axis(ax, view.duration)


def _legend(fig, view: View) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=colour(lab), label=lab) for lab in view.labels]
    handles.append(Patch(facecolor=colour(None), hatch="///", label="unsure"))
    from matplotlib.lines import Line2D

    if view.times is not None or view.duration > DETAIL_SECONDS:
        handles.append(Line2D([], [], label="arousal", **AROUSAL_LINE))
    voices = sorted({s.speaker for s in view.segments if s.speaker})
    for who in voices:
        c = colour(who)  # S1, S2, ...: the palette's dark voices, unlike the emotions
        handles.append(Line2D([], [], color=c, lw=4, label=f"speaker {who}"))
    if view.duration > DETAIL_SECONDS:
        handles.append(Patch(facecolor=colour("no speech"), edgecolor="0.7", label="no speech"))
    else:
        handles.append(Patch(color=colour("speech"), label="speech found"))
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=9)
