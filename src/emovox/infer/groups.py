"""Clips read against their group's own voice: a folder (``adapt="folder"``), a column's
value (``emovox batch --adapt column:NAME``) or ``predict(groups=...)``. Every input is read
first, its statistics kept, then each group is adapted (:mod:`.adapt`) and decided."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

from emovox.infer.adapt import CLIP_SECONDS, folder_of, not_adapted
from emovox.infer.result import Result, internal_error
from emovox.infer.steps import Clip, Steps, prior_said

Read = Callable[..., "Result | Clip"]  # Analyzer.read: an input to its result or its clip


def predict_grouped(
    read: Read, steps: Steps, inputs: list, sr, plots, progress, groups, adapting=None
) -> Iterator[Result]:
    """:meth:`Analyzer.predict_many` with clips read with their group: every input is read
    first (statistics kept, samples let go), then each group is decided together: adapted
    (``groups`` given, or ``adapt="folder"``; :mod:`.adapt`) and, with ``prior="group"``,
    re-weighted to its own class prior (:mod:`.prior`). Files up to ``CLIP_SECONDS`` are
    clips here; longer recordings adapt to themselves as always. ``read`` (the analyzer's)
    reads each input and ``steps`` encode, adapt and decide."""
    if not steps.engine.reads_statistics:
        raise ValueError(
            "reading clips with their folder or group needs a model whose members read "
            "pooled encoder statistics (the encoder kind)"
        )
    cfg = steps.cfg
    if adapting is None:
        adapting = cfg.adapt == "folder" or (groups is not None and cfg.adapt != "none")
    if groups is not None and len(groups) != len(inputs):
        raise ValueError(f"groups: one key per input ({len(inputs)}), not {len(groups)}")
    keys = list(groups) if groups is not None else [folder_of(x) for x in inputs]
    out: list = [None] * len(inputs)
    held: dict = {}  # key -> [(index, clip, per-member statistics)]
    pending: list = []

    def encode() -> None:
        try:
            stats = steps.encode([c.wave for _, c in pending])
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
        step = read(x, sr, plots[k] if plots else None, progress, CLIP_SECONDS)
        if isinstance(step, Result):
            out[k] = step
        else:  # a clip: its statistics now, its answer with its group's
            pending.append((k, step))
            if len(pending) >= steps.cfg.batch:
                encode()
    if pending:
        encode()
    if adapting:
        _warn_small(held, cfg.adapt_min_windows)
    for key, members in held.items():
        try:
            _decide_group(steps, key, members, out, adapting)
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


def _decide_group(steps: Steps, key, members: list, out: list, adapting: bool) -> None:
    """One group's clips decided together: adapted when asked and there are enough of them,
    re-weighted to the group's own prior when asked."""
    cfg = steps.cfg
    inputs = [np.stack([m[2][i] for m in members]) for i in range(len(members[0][2]))]
    seconds = sum(c.span[1] - c.span[0] for _, c, _ in members)
    adapted = adapting and key is not None and len(members) >= cfg.adapt_min_windows
    if adapted:
        inputs = steps.adapt(inputs)
    clips = [c for _, c, _ in members]
    scores = steps.classify(inputs, adapted)
    shift = steps.shift(scores) if key is not None else None
    for (k, _, _), r in zip(members, steps.decide_clips(clips, scores), strict=True):
        if r.error is None:
            r.adapted = _said(steps, key, len(members), seconds, adapted, adapting, shift)
            r.prior = shift.prior if shift is not None and shift.applied else None
        out[k] = r


def _said(steps: Steps, key, n: int, seconds: float, adapted: bool, adapting: bool, shift):
    """What ``adapted`` says of a group's clip: what it was adapted to (or why not), and the
    prior it was read under (estimated, or why not)."""
    if key is None:
        return None
    about = prior_said(shift)
    if adapted:
        return f"group {key}: {n} clips, {seconds:.1f} s of speech; heads: {steps.heads()}{about}"
    if adapting:
        least = steps.cfg.adapt_min_windows
        return not_adapted(f"group {key} has {n} clip(s); adapting to a group needs {least}{about}")
    return f"group {key}: {n} clip{'s' * (n != 1)}, not adapted{about}"
