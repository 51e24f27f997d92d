"""Evaluation protocols as functions of a manifest: (train, valid, test) index sets.

- ``random``: the reference report's stratified 80/20 split (speakers on both sides);
- ``speaker``: the public EmoBox actor-disjoint RAVDESS folds, speaker-grouped k-fold and
  leave-one-speaker-out for any corpus;
- ``cross-corpus``: train on some corpora, test on another, on the labels they share.

Byte-identical files (same sha1) always land on the same side, so a duplicate cannot leak.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovox.data.corpora import Manifest

#: EmoBox's six actor-disjoint RAVDESS folds (test actors; train on the other 20).
EMOBOX_RAVDESS_FOLDS: dict[int, tuple[str, ...]] = {
    1: ("01", "11", "20", "21"),
    2: ("04", "10", "12", "14"),
    3: ("08", "09", "19", "23"),
    4: ("03", "05", "07", "24"),
    5: ("02", "15", "16", "18"),
    6: ("06", "13", "17", "22"),
}


@dataclass
class Split:
    """Indices into a manifest; ``labels`` is the ordered label set of the task."""

    name: str
    labels: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    info: dict = field(default_factory=dict)

    def to_json(self, manifest: Manifest) -> dict:
        def paths(idx: np.ndarray) -> list[str]:
            return [manifest.rows[i].path for i in idx]

        return {
            "name": self.name,
            "labels": list(self.labels),
            "info": self.info,
            "train": paths(self.train),
            "valid": paths(self.valid),
            "test": paths(self.test),
        }

    def save(self, path: str | Path, manifest: Manifest) -> None:
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(self.to_json(manifest), indent=1))
        tmp.replace(path)


def select(manifest: Manifest, labels: tuple[str, ...]) -> np.ndarray:
    """Indices of the rows whose emotion is in ``labels``."""
    keep = set(labels)
    return np.array([i for i, r in enumerate(manifest.rows) if r.emotion in keep], dtype=np.int64)


def _groups(manifest: Manifest, idx: np.ndarray) -> dict[str, list[int]]:
    """Byte-identical files grouped together (key: sha1, or the path when no hash)."""
    out: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        r = manifest.rows[i]
        out[r.sha1 or r.path].append(int(i))
    return out


def stratified_holdout(
    manifest: Manifest, idx: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, held out) with ``ceil(fraction * n)`` held out.

    Each class gets its largest-remainder share (so the split is stratified to within one clip
    per class) and duplicate groups stay whole.
    """
    by_class: dict[str, list[list[int]]] = defaultdict(list)
    for members in _groups(manifest, idx).values():
        by_class[manifest.rows[members[0]].emotion].append(members)
    sizes = {c: sum(len(g) for g in gs) for c, gs in sorted(by_class.items())}
    total = math.ceil(fraction * len(idx) - 1e-9)
    quota = {c: int(fraction * n) for c, n in sizes.items()}
    rest = sorted(sizes, key=lambda c: (-(fraction * sizes[c] - quota[c]), c))
    for c in rest[: total - sum(quota.values())]:
        quota[c] += 1
    held: list[int] = []
    for c, gs in sorted(by_class.items()):
        taken = 0
        for k in rng.permutation(len(gs)):
            if taken + len(gs[k]) <= quota[c]:
                held += gs[k]
                taken += len(gs[k])
    held_set = set(held)
    remaining = np.array([i for i in idx if i not in held_set], dtype=np.int64)
    return remaining, np.array(sorted(held), dtype=np.int64)


def speaker_holdout(
    manifest: Manifest, idx: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole speakers (about ``fraction`` of them, alternating genders when known)."""
    speakers = sorted({manifest.rows[i].speaker for i in idx})
    gender = {manifest.rows[i].speaker: manifest.rows[i].gender for i in idx}
    n_hold = max(1, round(fraction * len(speakers)))
    by_gender: dict[str, list[str]] = defaultdict(list)
    for s in rng.permutation(speakers):
        by_gender[gender[s]].append(str(s))
    order: list[str] = []
    queues = [by_gender[g] for g in sorted(by_gender)]
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    hold = set(order[:n_hold])
    keep = np.array([i for i in idx if manifest.rows[i].speaker not in hold], dtype=np.int64)
    held = np.array([i for i in idx if manifest.rows[i].speaker in hold], dtype=np.int64)
    return keep, held


def carve_validation(
    manifest: Manifest, train: np.ndarray, fraction: float, seed: int, by_speaker: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid): speaker-disjoint when asked and at least 3 speakers allow it."""
    rng = np.random.default_rng(seed + 7919)
    n_speakers = len({manifest.rows[i].speaker for i in train})
    if by_speaker and n_speakers >= 3:
        return speaker_holdout(manifest, train, fraction, rng)
    return stratified_holdout(manifest, train, fraction, rng)


def random_split(
    manifest: Manifest,
    labels: tuple[str, ...],
    seed: int = 0,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
) -> Split:
    """The reference report's protocol: stratified random test set, speakers on both sides."""
    idx = select(manifest, labels)
    rest, test = stratified_holdout(manifest, idx, test_fraction, np.random.default_rng(seed))
    train, valid = carve_validation(manifest, rest, valid_fraction, seed, by_speaker=False)
    return Split(f"random-seed{seed}", labels, train, valid, test, {"seed": seed})


def _speaker_split(
    manifest: Manifest,
    labels: tuple[str, ...],
    test_speakers: set[str],
    name: str,
    seed: int,
    valid_fraction: float,
) -> Split:
    idx = select(manifest, labels)
    test = np.array([i for i in idx if manifest.rows[i].speaker in test_speakers], dtype=np.int64)
    rest = np.array([i for i in idx if manifest.rows[i].speaker not in test_speakers], np.int64)
    if len(test) == 0:
        raise ValueError(f"{name}: no test rows (speakers {sorted(test_speakers)} not found)")
    train, valid = carve_validation(manifest, rest, valid_fraction, seed, by_speaker=True)
    info = {"test_speakers": sorted(test_speakers), "seed": seed}
    return Split(name, labels, train, valid, test, info)


def emobox_fold(
    manifest: Manifest,
    labels: tuple[str, ...],
    fold: int,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> Split:
    """EmoBox RAVDESS fold 1..6 (4 test actors, 20 train actors)."""
    if fold not in EMOBOX_RAVDESS_FOLDS:
        raise ValueError(f"EmoBox RAVDESS folds are 1..6, got {fold}")
    test = {f"ravdess-{a}" for a in EMOBOX_RAVDESS_FOLDS[fold]}
    return _speaker_split(manifest, labels, test, f"emobox-fold{fold}", seed, valid_fraction)


def speaker_kfold(
    manifest: Manifest,
    labels: tuple[str, ...],
    k: int,
    fold: int,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> Split:
    """Speaker-grouped k-fold for any corpus: fold 1..k holds out every k-th shuffled speaker."""
    speakers = sorted({manifest.rows[i].speaker for i in select(manifest, labels)})
    if not 1 <= fold <= k <= len(speakers):
        raise ValueError(f"need 1 <= fold <= k <= speakers ({len(speakers)}); got {fold}, {k}")
    order = np.random.default_rng(seed).permutation(speakers)
    test = {str(s) for s in order[fold - 1 :: k]}
    return _speaker_split(manifest, labels, test, f"speaker{k}-fold{fold}", seed, valid_fraction)


def leave_one_speaker_out(
    manifest: Manifest,
    labels: tuple[str, ...],
    speaker: str,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> Split:
    return _speaker_split(manifest, labels, {speaker}, f"loso-{speaker}", seed, valid_fraction)


def all_data(
    manifest: Manifest, labels: tuple[str, ...], valid_fraction: float = 0.1, seed: int = 0
) -> Split:
    """Everything for training (a shipped model), with a speaker-disjoint validation part for
    early stopping and calibration; the test side is empty."""
    train, valid = carve_validation(
        manifest, select(manifest, labels), valid_fraction, seed, by_speaker=True
    )
    return Split("all", labels, train, valid, np.array([], dtype=np.int64), {"seed": seed})


def speaker_folds(manifest: Manifest, k: int = 6) -> list[int]:
    """The fold numbers of the speaker protocol: EmoBox's 6 where RAVDESS is in, else 1..k."""
    if "ravdess" in manifest.column("corpus"):
        return list(EMOBOX_RAVDESS_FOLDS)
    return list(range(1, k + 1))


def speaker_fold(
    manifest: Manifest, labels: tuple[str, ...], fold: int, seed: int = 0, k: int = 6
) -> Split:
    """The ``speaker`` protocol: EmoBox folds on RAVDESS, speaker-grouped k-fold elsewhere.
    On a union of corpora, fold ``fold`` holds out each corpus's own fold ``fold`` (RAVDESS:
    EmoBox's actors), so a corpus's figures compare with its single-corpus folds."""
    if _is_ravdess(manifest):
        return emobox_fold(manifest, labels, fold, seed)
    corpora = sorted(set(manifest.column("corpus")))
    if len(corpora) == 1:
        return speaker_kfold(manifest, labels, k, fold, seed)
    test: set[str] = set()
    for c in corpora:
        part = Manifest([r for r in manifest.rows if r.corpus == c], [])
        if c == "ravdess":
            test |= {f"ravdess-{a}" for a in EMOBOX_RAVDESS_FOLDS[fold]}
        else:
            test |= set(speaker_kfold(part, labels, k, fold, seed).info["test_speakers"])
    return _speaker_split(manifest, labels, test, f"speaker{k}-fold{fold}", seed, 0.1)


def _is_ravdess(manifest: Manifest) -> bool:
    return set(manifest.column("corpus")) == {"ravdess"}


def cross_corpus(
    manifest: Manifest,
    labels: tuple[str, ...],
    train_corpora: set[str],
    test_corpus: str,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> Split:
    """Train on ``train_corpora``, test on ``test_corpus``, on the labels both sides have."""
    present = defaultdict(set)
    for r in manifest.rows:
        present[r.corpus].add(r.emotion)
    if test_corpus not in present or not train_corpora <= set(present):
        raise ValueError(f"corpora not in manifest; have {sorted(present)}")
    train_labels = set().union(*(present[c] for c in train_corpora))
    shared = tuple(x for x in labels if x in train_labels and x in present[test_corpus])
    idx = select(manifest, shared)
    test = np.array([i for i in idx if manifest.rows[i].corpus == test_corpus], dtype=np.int64)
    rest = np.array([i for i in idx if manifest.rows[i].corpus in train_corpora], np.int64)
    train, valid = carve_validation(manifest, rest, valid_fraction, seed, by_speaker=True)
    name = f"cross-{'+'.join(sorted(train_corpora))}-to-{test_corpus}"
    return Split(name, shared, train, valid, test, {"seed": seed})
