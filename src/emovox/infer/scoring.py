"""A recording's windows through the model: scored in batches as their audio arrives, or
(when adapting, or splitting by voice) their statistics kept until the whole recording is
known, then split by voice, adapted and classified: the pipeline's encode, adapt and classify
steps over a recording (:class:`emovox.infer.steps.Steps` does each)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.infer import speakers, timeline
from emovox.infer.steps import Scores, Steps


def score(steps: Steps, blocks: Iterable[np.ndarray], spans, n: int, progress) -> Scores:
    """Every window's scores, in batches, and each window's voice (None: one speaker);
    adapted to the recording (each voice to its own windows) when asked and it has enough
    windows."""
    adapting = steps.adapts(len(spans))
    split = steps.cfg.speakers != 1 and steps.engine.reads_statistics
    keep = adapting or split
    out = Scores.empty(len(spans), len(steps.labels))
    inputs: list[np.ndarray] = []  # per member (windows, statistics), when adapting
    heard: list[np.ndarray] = []  # each window's voice, heard without its context (splitting)
    batch: list[tuple[int, np.ndarray]] = []
    done = 0.0
    lengths = (int(steps.cfg.timeline.min_window * SR), int(steps.cfg.timeline.context * SR))

    def flush() -> None:
        idx, waves = zip(*batch, strict=True)
        if keep:  # statistics now, classified once the whole recording is known
            for k, x in enumerate(steps.encode(list(waves))):
                if len(inputs) <= k:
                    inputs.append(np.empty((len(spans), x.shape[1]), dtype=np.float32))
                inputs[k][list(idx)] = x
            if split:  # a window's context crosses turn changes: the voice is also read without it
                bare = [without_context(w, spans[k], n, *lengths) for k, w in batch]
                heard.append(steps.engine.voice_features(steps.encode(bare)))
        else:
            out.put(list(idx), steps.alone(list(waves)))
        batch.clear()
        timeline.release_freed_memory()

    for k, wave in timeline.cut(blocks, spans, n, *lengths):
        batch.append((k, wave))
        if len(batch) == steps.cfg.batch:
            flush()
        if progress:
            progress(spans[k][1] - done)
            done = spans[k][1]
    if batch:
        flush()
    if progress:
        progress(n / SR - done)
    if not keep:
        return out
    out.voices = _split(steps, inputs, heard) if split else None
    for rows in _voices(out.voices, len(spans)):  # each voice read against its own reference
        x = [m[rows] for m in inputs]
        adapted = adapting and steps.enough(int(rows.sum()))
        out.put(rows, steps.classify(steps.adapt(x) if adapted else x, adapted))
    return out


def _split(steps: Steps, inputs: list[np.ndarray], heard: list[np.ndarray]) -> np.ndarray:
    """Each window's voice, clustered on the voice as the window is heard (its context too)
    and as the window alone: the context carries more of the voice, the window alone none of
    the next turn's (benchmarks/loud_turns.py: both together beat either)."""
    cfg = steps.cfg
    both = np.concatenate([steps.engine.voice_features(inputs), np.concatenate(heard)], 1)
    return speakers.cluster(both, cfg.speakers, cfg.adapt_min_windows, cfg.speaker_vote)


def without_context(wave: np.ndarray, span, n: int, min_len: int, context: int) -> np.ndarray:
    """The part of a window's samples (cut with ``context`` either side) that is the window."""
    a, b = timeline.window_bounds(*span, n, min_len, context)
    a0, b0 = timeline.window_bounds(*span, n, min_len, 0)
    return wave[a0 - a : a0 - a + (b0 - a0)]


def _voices(voices: np.ndarray | None, n: int) -> list[np.ndarray]:
    """Each voice's windows as a mask (one voice: all of them)."""
    if voices is None:
        return [np.ones(n, dtype=bool)]
    return [voices == v for v in range(int(voices.max()) + 1)]


def too_short(steps: Steps, windows: int) -> str | None:
    """Why a recording that adaptation was asked for (or that the model needs) cannot be
    adapted: too few windows of speech; None when it can, or none was asked for."""
    cfg = steps.cfg
    if not steps.asks_adapting() or windows >= cfg.adapt_min_windows:
        return None
    about = cfg.adapt_min_windows * cfg.timeline.hop
    return (
        f"{windows} window(s) of speech; adapting to a voice needs "
        f"{cfg.adapt_min_windows} (about {about:.0f} s)"
    )


def adapted_text(steps: Steps, spans, voices: np.ndarray | None) -> str:
    """What ``adapted`` says of a recording: whose windows, how many seconds of each voice
    (the union of its windows' spans), and which heads answered."""
    said = []
    for v, rows in enumerate(_voices(voices, len(spans))):
        mine = [spans[k] for k in np.flatnonzero(rows)]
        plain = "" if steps.enough(len(mine)) else "; too few, read plain"
        said.append((speakers.name(v), len(mine), f"{_union(mine):.1f} s", plain))
    if len(said) == 1:
        whose = f"the recording itself: {said[0][1]} windows, {said[0][2]} of speech"
    else:
        whose = "each speaker's own windows: " + ", ".join(
            f"{name} {n} windows ({sec}{plain})" for name, n, sec, plain in said
        )
    return f"{whose}; heads: {steps.heads()}"


def _union(spans) -> float:
    """Seconds covered by (start, end) spans that may overlap."""
    total, reach = 0.0, -np.inf
    for a, b in sorted(spans):
        total += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    return total
