"""Who speaks when: a recording's windows grouped by voice, so that each speaker's windows are
adapted to that speaker alone (:mod:`emovox.infer.adapt`) and segments say who spoke.

No speaker-embedding model installs offline beside Whisper base, so the voice is read from
what the emotion model already computes: the statistics of Whisper's earliest layer that the
model reads (the layer that tells speakers apart best of those it reads; later ones carry more
of the emotion). Windows are clustered bottom-up (Ward) on those statistics, standardised
over the recording and reduced to a few principal components; consecutive windows of a turn
then vote, since a speaker rarely holds the floor for a single window."""

from __future__ import annotations

import numpy as np

MAX_SPEAKERS = 4  # the most an unfixed count may be estimated at
MIN_WINDOWS = 10  # windows a speaker needs: fewer cannot be adapted to (AnalysisConfig's)
SILHOUETTE = 0.15  # an estimated count above 1 must separate the voices at least this well
COMPONENTS = 16


class TooManySpeakers(ValueError):
    """--speakers asks for more speakers than the speech has windows for."""


def cluster(
    features: np.ndarray, speakers: int = 0, min_windows: int = MIN_WINDOWS, vote: int = 1
) -> np.ndarray:
    """A speaker index (0, 1, ...: in order of first appearance) per window, windows in time
    order. ``speakers``: the count, fixed; 0: estimated (1 to ``MAX_SPEAKERS``, by how well
    the voices separate). ``vote``: each window takes the commonest label of the ``vote``
    windows either side of it. A fixed count the speech cannot carry (under ``min_windows``
    per speaker) raises :class:`TooManySpeakers`."""
    n = len(features)
    if speakers == 1 or (speakers == 0 and n < 2 * min_windows):
        return np.zeros(n, dtype=np.int64)
    if speakers > 1 and n < speakers * min_windows:
        raise TooManySpeakers(
            f"--speakers {speakers}: the speech is {n} windows, enough for at most "
            f"{max(1, n // min_windows)} speaker(s) at {min_windows} windows each"
        )
    z = _embedded(features)
    if speakers:
        labels = _ward(z, speakers)
    else:
        labels = _estimated(z, min(MAX_SPEAKERS, n // min_windows))
    return _in_order(_voted(labels, vote))


def _embedded(x: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    z = (x - x.mean(0)) / (x.std(0) + 1e-5)
    z = PCA(min(COMPONENTS, len(z) - 1), random_state=0).fit_transform(z)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)


def _ward(z: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(k, linkage="ward").fit_predict(z)


def _estimated(z: np.ndarray, most: int) -> np.ndarray:
    """The count (2..most) whose clusters separate best, if well enough; else one speaker."""
    from sklearn.metrics import silhouette_score

    best, labels = SILHOUETTE, np.zeros(len(z), dtype=np.int64)
    for k in range(2, most + 1):
        found = _ward(z, k)
        score = silhouette_score(z, found)
        if score > best:
            best, labels = score, found
    return labels


def _voted(labels: np.ndarray, vote: int) -> np.ndarray:
    if vote < 1:
        return labels
    out = labels.copy()
    for i in range(len(labels)):
        near = labels[max(0, i - vote) : i + vote + 1]
        out[i] = np.bincount(near).argmax()
    return out


def _in_order(labels: np.ndarray) -> np.ndarray:
    first = {}
    for v in labels:
        first.setdefault(int(v), len(first))
    return np.array([first[int(v)] for v in labels], dtype=np.int64)


def name(index: int) -> str:
    """A speaker's name in results: S1, S2, ..."""
    return f"S{index + 1}"
