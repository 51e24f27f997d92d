"""Shared fixtures: the RAVDESS copy in ../shared and small real audio files made per test."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ravdess"
# the two tiers, each test file declaring its own (``pytestmark = pytest.mark.fast`` or
# ``slow``; a slow test in a fast file carries ``@pytest.mark.slow``): ``pytest -m "not slow"``
# is the edit loop (no corpus, no training, no server); ``slow`` is everything that reads the
# shared corpora or runs whole processes and models. This hook only checks the declarations.
CORPUS_FIXTURES = {"ravdess_dir", "ravdess_manifest", "subset"}
TIERS = ("fast", "slow")


def pytest_collection_modifyitems(config, items) -> None:
    undeclared, hidden = set(), []
    for item in items:
        module_marks = getattr(item.module, "pytestmark", [])
        module_marks = module_marks if isinstance(module_marks, list) else [module_marks]
        if not any(m.name in TIERS for m in module_marks):
            undeclared.add(item.path.name)
        uses_corpus = CORPUS_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_corpus and item.get_closest_marker("slow") is None:
            hidden.append(item.nodeid)
    if undeclared:
        raise pytest.UsageError(f"test files without a tier (pytestmark): {sorted(undeclared)}")
    if hidden:
        raise pytest.UsageError(f"tests reading the corpora but not marked slow: {hidden}")


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """The RAVDESS FLAC copy; CI sets EMOVOX_REQUIRE_DATA=1 so its absence fails, not skips."""
    if not RAVDESS.is_dir():
        if os.environ.get("EMOVOX_REQUIRE_DATA"):
            pytest.fail(f"RAVDESS not found at {RAVDESS}")
        pytest.skip(f"RAVDESS not found at {RAVDESS}")
    return RAVDESS


@pytest.fixture(scope="session")
def ravdess_manifest(ravdess_dir):
    from emovox.data.corpora import read_corpus

    return read_corpus(ravdess_dir)


def speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a moving pitch and noise: enough structure for every feature."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    y = y * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.01 * rng.standard_normal(len(t))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture
def wav(tmp_path):
    """Write a float array to a WAV file in tmp_path and return the path."""

    def make(y: np.ndarray, sr: int = 16000, name: str = "clip.wav", **kw) -> Path:
        p = tmp_path / name
        sf.write(p, y, sr, **kw)
        return p

    return make


@pytest.fixture(scope="session")
def subset(ravdess_manifest, tmp_path_factory):
    """Actors 1-6, two clips of each emotion each: 96 clips, 3 speaker-disjoint sides."""
    from emovox.data.corpora import Manifest

    keep, seen = [], {}
    for r in ravdess_manifest.rows:
        if int(r.speaker[-2:]) <= 6:
            k = (r.speaker, r.emotion)
            if seen.get(k, 0) < 2:
                seen[k] = seen.get(k, 0) + 1
                keep.append(r)
    path = tmp_path_factory.mktemp("data") / "subset.tsv"
    Manifest(keep, []).write_tsv(path)
    return path
