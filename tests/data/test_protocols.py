from collections import Counter

import numpy as np
import pytest

from emovox.data import protocols
from emovox.data.corpora import Manifest, Utterance
from emovox.data.labels import label_set

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)

L7, L8 = label_set(7), label_set(8)


def _speakers(m, idx):
    return {m.rows[i].speaker for i in idx}


def _check_partition(split, m, labels):
    parts = [set(split.train), set(split.valid), set(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(protocols.select(m, labels))


@pytest.mark.slow
def test_random_split_reference_numbers(ravdess_manifest):
    m = ravdess_manifest
    s = protocols.random_split(m, L7, seed=0)
    assert len(protocols.select(m, L7)) == 1248
    assert len(s.test) == 250
    _check_partition(s, m, L7)
    # stratified within one clip per class
    total = Counter(m.rows[i].emotion for i in protocols.select(m, L7))
    test = Counter(m.rows[i].emotion for i in s.test)
    for c in L7:
        assert abs(test[c] - 0.2 * total[c]) <= 1, c


@pytest.mark.slow
def test_random_split_is_seeded(ravdess_manifest):
    a = protocols.random_split(ravdess_manifest, L7, seed=3)
    b = protocols.random_split(ravdess_manifest, L7, seed=3)
    c = protocols.random_split(ravdess_manifest, L7, seed=4)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.valid, b.valid)
    assert not np.array_equal(a.test, c.test)


@pytest.mark.slow
def test_duplicate_pair_lands_on_one_side(ravdess_manifest):
    m = ravdess_manifest
    by_hash = Counter(r.sha1 for r in m.rows)
    dups = [h for h, n in by_hash.items() if n > 1]
    assert len(dups) == 1  # RAVDESS's one byte-identical pair (Actor_07)
    pair = [i for i, r in enumerate(m.rows) if r.sha1 == dups[0]]
    assert {m.rows[i].speaker for i in pair} == {"ravdess-07"}
    for seed in range(20):
        s = protocols.random_split(m, L8, seed=seed)
        sides = [
            next(
                n
                for n, part in (("train", s.train), ("valid", s.valid), ("test", s.test))
                if i in part
            )
            for i in pair
        ]
        assert sides[0] == sides[1], seed


@pytest.mark.slow
@pytest.mark.parametrize("labels", [L7, L8])
def test_emobox_folds_are_speaker_disjoint(ravdess_manifest, labels):
    m = ravdess_manifest
    tested = set()
    for fold in protocols.speaker_folds(m):
        s = protocols.speaker_fold(m, labels, fold)
        _check_partition(s, m, labels)
        tr, va, te = _speakers(m, s.train), _speakers(m, s.valid), _speakers(m, s.test)
        assert not (tr & te or va & te or tr & va)
        assert len(te) == 4 and len(tr) + len(va) == 20 and len(va) == 2
        tested |= te
    assert len(tested) == 24
    fold1 = protocols.speaker_fold(m, labels, 1)
    assert _speakers(m, fold1.test) == {"ravdess-01", "ravdess-11", "ravdess-20", "ravdess-21"}


def _toy(n_speakers=5, per=8, corpus="toy"):
    rows = []
    for s in range(n_speakers):
        for k in range(per):
            rows.append(
                Utterance(
                    path=f"/{corpus}/{s}/{k}.wav",
                    corpus=corpus,
                    speaker=f"{corpus}-{s}",
                    emotion=L7[k % 4],
                    gender="male" if s % 2 else "female",
                    sha1=f"{corpus}{s}-{k}",
                )
            )
    return rows


def test_speaker_kfold_and_loso_on_other_corpora():
    m = Manifest(_toy(), [])
    seen = set()
    for fold in range(1, 6):
        s = protocols.speaker_fold(m, L7, fold, k=5)
        assert len(_speakers(m, s.test)) == 1
        assert not _speakers(m, s.test) & _speakers(m, np.concatenate([s.train, s.valid]))
        seen |= _speakers(m, s.test)
    assert len(seen) == 5
    s = protocols.leave_one_speaker_out(m, L7, "toy-3")
    assert _speakers(m, s.test) == {"toy-3"}


def test_cross_corpus_uses_shared_labels():
    a = _toy(corpus="a")
    b = [
        Utterance(**{**r.__dict__, "emotion": "sad" if r.emotion == "fear" else r.emotion})
        for r in _toy(corpus="b")
    ]
    m = Manifest(a + b, [])
    s = protocols.cross_corpus(m, L7, {"a"}, "b")
    assert s.labels == ("angry", "disgust", "happy")  # a lacks sad, b lacks fear
    assert {m.rows[i].corpus for i in s.test} == {"b"}
    assert {m.rows[i].corpus for i in np.concatenate([s.train, s.valid])} == {"a"}
    assert {m.rows[i].emotion for i in s.test} <= set(s.labels)
