"""Adapting a model's inputs to the voice it is hearing: each member's pooled encoder
statistics of a recording's windows taken relative to the recording itself, or of clips
relative to the other clips of their folder or group (one speaker, one channel)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emovox.infer.result import Result, internal_error

# how a voice's reference (the statistics taken as its neutral) is estimated from its windows
# or clips; see to_recording
REFERENCES = ("mean", "median", "shrink", "balanced")
SHRINK_PRIOR = 10  # windows' worth of weight the training mean keeps under "shrink"


def to_recording(
    inputs: list[np.ndarray],
    training_means: list[np.ndarray],
    standardise: list[bool],
    reference: str = "mean",
    classify=None,
) -> list[np.ndarray]:
    """Each member's window statistics (windows, dims) relative to the recording itself:
    standardised (members trained on per-speaker standardised statistics), or shifted so the
    recording's reference becomes the training mean (the others).

    ``reference``: "mean" of all windows; per-dimension "median"; "shrink", the mean pulled
    toward the training mean by ``SHRINK_PRIOR`` windows' weight; "balanced", each emotion the
    model hears weighing the same (``classify``, inputs -> probabilities, says which), so a
    recording that is mostly one emotion is not taken for the speaker's neutral."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, not {reference!r}")
    if reference != "balanced":
        return _shifted(inputs, training_means, standardise, reference, None)
    if classify is None:
        raise ValueError('reference="balanced" needs the model\'s classify')
    out = _shifted(inputs, training_means, standardise, "mean", None)
    for _ in range(2):  # the weights from the answers adapted so far, twice
        probs = classify(out)
        weights = (probs / np.maximum(probs.sum(0), 1e-6)).sum(1)  # 1 / its emotion's mass
        out = _shifted(inputs, training_means, standardise, "mean", weights)
    return out


def heads_text(predictor) -> str:
    """Which of a model's heads answer speech adapted to a voice (both kinds vote:
    :func:`emovox.models.ensemble.head_weights`)."""
    kinds = set(predictor.speaker_normalised())
    return " + ".join(k for k, on in (("plain", False in kinds),
                                      ("speaker-normalised", True in kinds)) if on)  # fmt: skip


def _shifted(inputs, training_means, standardise, reference: str, weights) -> list[np.ndarray]:
    out = []
    for x, mean, std_norm in zip(inputs, training_means, standardise, strict=True):
        if reference == "median":
            mu = np.median(x, 0).astype(np.float64)
        elif weights is not None:
            mu = np.average(x, 0, weights.astype(np.float64))
        else:
            mu = x.mean(0, dtype=np.float64)  # float64 sums, float32 arrays: no copy of x grows
        if reference == "shrink" and not std_norm:  # (a standardising member's training
            # mean is of standardised statistics: nothing in this space to shrink toward)
            mu = (len(x) * mu + SHRINK_PRIOR * mean) / (len(x) + SHRINK_PRIOR)
        if std_norm:
            sd = np.maximum(x.std(0, dtype=np.float64), 1e-5) if len(x) > 1 else np.ones_like(mu)
            out.append((x - mu.astype(np.float32)) / sd.astype(np.float32))
        else:
            out.append(x + (mean - mu).astype(np.float32))
    return out


# an input up to this long is a clip (Whisper's context is 30 s): in a group it is read whole,
# so a folder of utterances gets one answer each against the folder's reference; read alone,
# a clip too short to adapt to itself is not warned about (it is the usual case), only a
# longer recording is
CLIP_SECONDS = 30.0


def not_adapted(why: str) -> str:
    """What ``adapted`` says of an input that adaptation was meant for but could not reach."""
    return f"not adapted: {why}"


def folder_of(x) -> str | None:
    """The group of an input under ``adapt_by="folder"``: a path's folder (None for bytes,
    open files and waves: those are read alone)."""
    return str(Path(x).absolute().parent) if isinstance(x, str | Path) else None


def predict_grouped(analyzer, inputs: list, sr, plots, progress, groups) -> Iterator:
    """:meth:`Analyzer.predict_many` with clips adapted to their group: every input is read
    first (each clip's statistics kept, its samples let go), then each group of at least
    ``adapt_min_windows`` clips is shifted onto the training mean by its own mean (or
    standardised, for speaker-normalised members) and decided; smaller groups and clips
    without one are decided alone. Files up to ``CLIP_SECONDS`` are clips here; longer
    recordings adapt to themselves as always. The
    analyzer's own methods do the reading and deciding: this is its second way of batching."""
    p = analyzer.predictor
    if not p.reads_statistics:
        raise ValueError("adapting to a folder or group needs a model whose members read pooled "
                         "encoder statistics (the encoder kind)")  # fmt: skip
    if groups is not None and len(groups) != len(inputs):
        raise ValueError(f"groups: one key per input ({len(inputs)}), not {len(groups)}")
    keys = list(groups) if groups is not None else [folder_of(x) for x in inputs]
    out: list = [None] * len(inputs)
    held: dict = {}  # key -> [(index, clip, per-member statistics)]
    pending: list = []

    def encode() -> None:
        try:
            stats = p.member_inputs([c.wave for _, c in pending])
        except Exception as exc:  # noqa: BLE001 - one clip's failure is its own error
            if len(pending) > 1:  # the batch failed: each clip alone finds which
                batch = pending[:]
                for one in batch:
                    pending[:] = [one]
                    encode()
            else:
                out[pending[0][0]] = internal_error(pending[0][1].result.path, exc)
            pending.clear()
            return
        for j, (k, c) in enumerate(pending):
            held.setdefault(keys[k], []).append((k, c._replace(wave=None), [x[j] for x in stats]))
        pending.clear()

    for k, x in enumerate(inputs):
        step = analyzer._step(x, sr, plots[k] if plots else None, progress, CLIP_SECONDS)
        if isinstance(step, Result):
            out[k] = step
        else:  # a clip: its statistics now, its answer with its group's
            pending.append((k, step))
            if len(pending) >= analyzer.cfg.batch:
                encode()
    if pending:
        encode()
    _warn_small(held, analyzer.cfg.adapt_min_windows)
    for key, members in held.items():
        try:
            _decide_group(analyzer, key, members, out)
        except Exception as exc:  # noqa: BLE001 - the group's inputs fail, not the list
            for k, c, _ in members:
                out[k] = internal_error(c.result.path, exc)
    yield from out


def _warn_small(held: dict, least: int) -> None:
    """One warning for the call (not one per clip) naming the groups too small to adapt."""
    small = {key: len(m) for key, m in held.items() if key is not None and len(m) < least}
    if small:
        named = ", ".join(f"{key} ({n})" for key, n in list(small.items())[:5])
        warnings.warn(
            f"{len(small)} group(s) have fewer than {least} clips to adapt to and are read "
            f"alone: {named}{', ...' if len(small) > 5 else ''}",
            UserWarning,
            stacklevel=4,
        )


def _decide_group(analyzer, key, members: list, out: list) -> None:
    """One group's clips decided together (adapted when there are enough of them)."""
    cfg = analyzer.cfg
    inputs = [np.stack([m[2][i] for m in members]) for i in range(len(members[0][2]))]
    seconds = sum(c.span[1] - c.span[0] for _, c, _ in members)
    adapted = key is not None and len(members) >= cfg.adapt_min_windows
    if adapted:
        inputs = analyzer._adapted(inputs)
    clips = [c for _, c, _ in members]
    scored = analyzer._classify(inputs, adapted)
    for (k, _, _), r in zip(members, analyzer._decide_clips(clips, scored), strict=True):
        if adapted:
            r.adapted = (f"group {key}: {len(members)} clips, {seconds:.1f} s of speech; "
                         f"heads: {heads_text(analyzer.predictor)}")  # fmt: skip
        elif key is not None and r.error is None:
            r.adapted = not_adapted(f"group {key} has {len(members)} clip(s); adapting to a "
                                    f"group needs {cfg.adapt_min_windows}")  # fmt: skip
        out[k] = r
