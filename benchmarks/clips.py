"""The clips a benchmark reads: n clips spread evenly over a corpus, decoded."""

from __future__ import annotations

import numpy as np

from emovox import audio
from emovox.data import corpora


def spread_clips(data: str, n: int) -> list[np.ndarray]:
    """Every (len // n)-th clip of the corpus at ``data``, the first ``n`` of them."""
    rows = corpora.read_corpus(data).rows
    return [audio.load(r.path) for r in rows[:: max(1, len(rows) // n)][:n]]
