"""Recordings with known truth, built from labelled clips, and a timeline's score against them.

A recording places each clip's speech (its leading and trailing silence cut at 30 dB) in a
shuffled order with pauses between, filled with quiet noise and now and then a louder noise
burst, so the truth is known to the sample: where speech is and which emotion it carries.
``emovox demo`` makes one from RAVDESS and reads it back; tests and benchmarks score
timelines with :func:`score`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from emovox import audio
from emovox.audio.decode import SAMPLE_RATE as SR


@dataclass
class Recording:
    wave: np.ndarray
    truth: list[tuple[float, float, str]]  # (start, end, emotion) of each placed clip's speech
    speakers: list[str]


def build(
    rows,
    seed: int = 0,
    pause: tuple[float, float] = (0.6, 2.0),
    noise_dbfs: float = -55.0,
    burst_every: int = 4,
    trim_db: float = 30.0,
    shuffle: bool = True,
) -> Recording:
    """``rows`` (manifest rows) joined in a shuffled order (or as given); pauses hold noise at
    ``noise_dbfs`` and every ``burst_every``-th pause a 0.4 s burst of louder noise (-30 dBFS),
    which is not speech."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows)) if shuffle else np.arange(len(rows))
    parts, truth, t = [], [], 0.0
    for n, i in enumerate(order):
        gap = _pause(
            rng, rng.uniform(*pause), noise_dbfs, burst=burst_every and n % burst_every == 1
        )
        speech = audio.trim_silence(audio.load(rows[i].path), trim_db)
        parts += [gap, speech]
        t += len(gap) / SR
        truth.append((t, t + len(speech) / SR, rows[i].emotion))
        t += len(speech) / SR
    parts.append(_pause(rng, pause[1], noise_dbfs, burst=False))
    return Recording(
        np.concatenate(parts).astype(np.float32), truth, [rows[i].speaker for i in order]
    )


def _pause(rng: np.random.Generator, seconds: float, dbfs: float, burst: bool) -> np.ndarray:
    n = int(seconds * SR)
    gap = rng.standard_normal(n).astype(np.float32) * np.float32(10 ** (dbfs / 20))
    if burst and n > int(0.8 * SR):
        a = n // 2 - int(0.2 * SR)
        gap[a : a + int(0.4 * SR)] += rng.standard_normal(int(0.4 * SR)).astype(np.float32) * 0.03
    return gap


def score(
    result, truth: list[tuple[float, float, str]], duration: float, step: float = 0.1
) -> dict:
    """Frame accuracy (emotion right, over speech frames), speech/non-speech accuracy (over
    all frames) and the mean distance from each true speech boundary to the nearest predicted
    segment boundary, in seconds."""
    times = np.arange(0.0, duration, step) + step / 2
    true = np.full(len(times), None, dtype=object)
    for a, b, emotion in truth:
        true[(times >= a) & (times < b)] = emotion
    pred = np.full(len(times), None, dtype=object)
    said = np.zeros(len(times), dtype=bool)
    for s in result.segments or []:
        sel = (times >= s.start) & (times < s.end)
        pred[sel], said[sel] = s.emotion, True
    speech = true != None  # noqa: E711 - elementwise on an object array
    bounds = np.array([x for s in result.segments or [] for x in (s.start, s.end)] or [np.inf])
    errors = [np.abs(bounds - b).min() for a, e, _ in truth for b in (a, e)]
    return {
        "frame_accuracy": float((pred[speech] == true[speech]).mean()),
        "speech_accuracy": float((said == speech).mean()),
        "boundary_error": float(np.mean(errors)),
    }


def speaker_error(result, rec: Recording, duration: float, step: float = 0.1) -> dict:
    """Diarisation error over the true speech frames: missed (no segment), confused (another
    voice than the true speaker's, voices matched to speakers one to one so that most frames
    agree) and their sum, plus false alarm (segments over non-speech) as a share of speech."""
    from scipy.optimize import linear_sum_assignment

    times = np.arange(0.0, duration, step) + step / 2
    true = np.full(len(times), -1)
    names = sorted(set(rec.speakers))
    for (a, b, _), spk in zip(rec.truth, rec.speakers, strict=True):
        true[(times >= a) & (times < b)] = names.index(spk)
    pred = np.full(len(times), -1)
    voices = sorted({s.speaker or "S1" for s in result.segments or []})
    for s in result.segments or []:
        pred[(times >= s.start) & (times < s.end)] = voices.index(s.speaker or "S1")
    speech = true >= 0
    both = speech & (pred >= 0)
    overlap = np.zeros((len(names), max(len(voices), 1)))
    np.add.at(overlap, (true[both], pred[both]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    matched = overlap[rows, cols].sum()
    n = max(int(speech.sum()), 1)
    missed = float((speech & (pred < 0)).sum() / n)
    confused = float((both.sum() - matched) / n)
    return {"der": missed + confused + float((~speech & (pred >= 0)).sum() / n),
            "missed": missed, "confused": confused, "voices": len(voices)}  # fmt: skip


def score_stretches(
    segments, truth: list[tuple[float, float, str]], duration: float, every: float = 600.0
) -> list[float]:
    """Frame accuracy (as :func:`score`) in each stretch of ``every`` seconds: where a long
    recording's timeline goes wrong, not just how much. ``segments``: objects or dicts with
    start, end and emotion."""
    from types import SimpleNamespace

    segs = [SimpleNamespace(**s) if isinstance(s, dict) else s for s in segments]
    out = []
    for a in np.arange(0.0, duration, every):
        b = min(a + every, duration)
        part = [
            SimpleNamespace(start=max(s.start, a) - a, end=min(s.end, b) - a, emotion=s.emotion)
            for s in segs
            if s.end > a and s.start < b
        ]
        held = [(max(x, a) - a, min(y, b) - a, e) for x, y, e in truth if y > a and x < b]
        out.append(score(SimpleNamespace(segments=part), held, b - a)["frame_accuracy"])
    return out


def build_long(
    rows,
    seconds: float,
    block: float = 60.0,
    seed: int = 0,
    pause: tuple[float, float] = (0.3, 1.0),
    edge_pause: tuple[float, float] = (1.5, 3.0),
    noise_dbfs: float = -55.0,
    trim_db: float = 30.0,
) -> Recording:
    """A recording of ``seconds`` from ``rows``' clips (shuffled, reused in turn) in which
    every ``block`` boundary falls in a pause: in turn, a clip ends exactly on the boundary
    (cut short where it would cross it), or the boundary lies inside a pause. These are the
    places where a reader that decodes in blocks of ``block`` seconds can lose its place;
    ``edge_pause`` seconds of pause follow each boundary, longer than the context a window
    reads before its speech, so the next window starts beyond the block just read."""
    rng = np.random.default_rng(seed)
    clips = [audio.trim_silence(audio.load(r.path), trim_db) for r in rows]
    order = rng.permutation(len(clips))
    total, step = int(seconds * SR), int(block * SR)
    noise = np.float32(10 ** (noise_dbfs / 20))
    parts, truth, speakers, t, exact_next = [], [], [], 0, False
    for n in itertools.count():
        i = int(order[n % len(clips)])
        clip, gap = clips[i], int(rng.uniform(*pause) * SR)
        if t % step == 0 and t:  # the last clip ended exactly on a boundary
            gap = int(rng.uniform(*edge_pause) * SR)
        edge = (t // step + 1) * step  # the next block boundary
        if t + gap + len(clip) > edge:
            room = edge - t
            if exact_next and room >= int(0.6 * SR):
                gap = min(gap, room - SR // 2)
                clip = clip[: room - gap]  # cut short to end exactly on the boundary
                exact_next = False
            else:  # the boundary inside the pause (also when too little room is left)
                gap, exact_next = room + int(rng.uniform(*edge_pause) * SR), True
        if t + gap + len(clip) > total:
            break
        parts += [rng.standard_normal(gap).astype(np.float32) * noise, clip]
        truth.append(((t + gap) / SR, (t + gap + len(clip)) / SR, rows[i].emotion))
        speakers.append(rows[i].speaker)
        t += gap + len(clip)
    parts.append(rng.standard_normal(total - t).astype(np.float32) * noise)
    return Recording(np.concatenate(parts).astype(np.float32), truth, speakers)
