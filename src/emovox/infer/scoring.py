"""A recording's windows through the model: scored in batches as their audio arrives, or
(when adapting, or splitting by voice) their statistics kept until the whole recording is
known, then split by voice, adapted and classified. The analyzer's second half, apart so
that each stays readable."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.infer import speakers, timeline


def score(
    analyzer, blocks: Iterable[np.ndarray], spans, n: int, progress
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The analyzer's ``_predict`` of every window, in batches, and each window's voice (None: one
    speaker); adapted to the recording (each voice to its own windows) when asked and it
    has enough windows."""
    adapt = analyzer._adapts(len(spans))
    split = analyzer.cfg.speakers != 1 and analyzer.predictor.reads_statistics
    keep = adapt or split
    out = np.zeros((len(spans), len(analyzer.labels)), dtype=np.float32)
    odd = np.zeros(len(spans), dtype=np.float32)
    dims = np.zeros((len(spans), 2), dtype=np.float32)
    inputs: list[np.ndarray] = []  # per member (windows, statistics), when adapting
    batch: list[tuple[int, np.ndarray]] = []
    done = 0.0

    def flush() -> None:
        idx, waves = zip(*batch, strict=True)
        if keep:  # statistics now, classified once the whole recording is known
            for k, x in enumerate(analyzer.predictor.member_inputs(list(waves))):
                if len(inputs) <= k:
                    inputs.append(np.empty((len(spans), x.shape[1]), dtype=np.float32))
                inputs[k][list(idx)] = x
        else:
            out[list(idx)], odd[list(idx)], dims[list(idx)] = analyzer._predict(list(waves))
        batch.clear()
        timeline.release_freed_memory()

    lengths = (int(analyzer.cfg.timeline.min_window * SR), int(analyzer.cfg.timeline.context * SR))
    for k, wave in timeline.cut(blocks, spans, n, *lengths):
        batch.append((k, wave))
        if len(batch) == analyzer.cfg.batch:
            flush()
        if progress:
            progress(spans[k][1] - done)
            done = spans[k][1]
    if batch:
        flush()
    if progress:
        progress(n / SR - done)
    if not keep:
        return out, odd, dims, None
    voices = None
    if split:
        cfg = analyzer.cfg
        voices = speakers.cluster(analyzer.predictor.voice_features(inputs), cfg.speakers,
                                  cfg.adapt_min_windows, cfg.speaker_vote)  # fmt: skip
    if adapt and voices is not None:
        for v in range(int(voices.max()) + 1):
            rows = voices == v
            for x, a in zip(inputs, analyzer._adapted([x[rows] for x in inputs]), strict=True):
                x[rows] = a
    elif adapt:
        inputs = analyzer._adapted(inputs)
    return (*analyzer._classify(inputs), voices)


def too_short(analyzer, windows: int) -> str | None:
    """Why a recording that adaptation was asked for (or that the model needs) cannot be
    adapted: too few windows of speech; None when it can, or none was asked for."""
    cfg = analyzer.cfg
    if not analyzer._asks_adapting() or windows >= cfg.adapt_min_windows:
        return None
    about = cfg.adapt_min_windows * cfg.timeline.hop
    return (f"{windows} window(s) of speech; adapting to a voice needs "
            f"{cfg.adapt_min_windows} (about {about:.0f} s)")  # fmt: skip
