"""Recording conditions (emovox.audio.degrade), the loudness front end and multi-corpus training."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from emovox.audio import augment, degrade, frontend
from emovox.data import multicorpus, protocols
from emovox.data.corpora import Manifest, Utterance

from ..conftest import speechlike

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def _snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2)))


def _band_share(y: np.ndarray, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    return float(power[(f >= lo) & (f < hi)].sum() / power.sum())


def test_noise_is_mixed_at_the_asked_snr_and_colours_differ():
    clean = speechlike(2.0)
    rng = np.random.default_rng(0)
    for colour in degrade.COLOURS:
        noise = degrade.coloured_noise(len(clean), colour, rng)
        assert _snr(clean, degrade.mix(clean, noise, 7.0)) == pytest.approx(7.0, abs=1e-3)
    white, brown = (degrade.coloured_noise(32000, c, rng) for c in ("white", "brown"))
    assert _band_share(brown, 0, 500) > 0.8 > 0.1 > _band_share(white, 0, 500)


def test_telephone_and_codecs_keep_length_and_cut_the_band():
    clean = speechlike(1.5) + 0.05 * degrade.coloured_noise(
        24000, "white", np.random.default_rng(1)
    )
    phone = degrade.telephone(clean)
    assert phone.shape == clean.shape and phone.dtype == np.float32
    assert _band_share(clean, 4100, 8000) > 0.01 and _band_share(phone, 4100, 8000) < 1e-4
    for name, (_, _, rates) in degrade.CODECS.items():
        out = degrade.codec(clean, name, rates[0])
        assert out.shape == clean.shape, name
        rms = np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(clean**2))
        assert 0.7 < rms < 1.3, name  # decoded at the right scale, not silence or noise
        for n in (1, 160, 700, 3000):  # clips shorter than a codec's frames come back too
            short = degrade.codec(clean[:n], name, rates[0])
            assert short.shape == (n,) and np.isfinite(short).all(), (name, n)


def test_rooms_reverberate_with_their_rt60_and_keep_the_level():
    rir = degrade.room_impulse(0.5, 3)
    assert np.argmax(np.abs(rir)) == 0  # the direct path first: words stay where they were
    energy = np.cumsum(rir[::-1].astype(np.float64) ** 2)[::-1]  # Schroeder's decay
    db = 10 * np.log10(energy / energy[0])
    t20 = (np.argmax(db < -25) - np.argmax(db < -5)) / 16000 * 3  # T20 -> RT60
    assert 0.3 < t20 < 0.8
    clean = speechlike(1.0)
    wet = degrade.reverberate(clean, rir)
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(clean**2)), rel=1e-3)
    assert np.corrcoef(wet, clean)[0, 1] < 0.9


def test_conditions_augmentation_is_a_function_of_the_draw():
    cfg = augment.AugmentConfig(
        p_pitch=0,
        p_stretch=0,
        p_noise=0,
        p_gain=0,
        p_room=1,
        p_babble=1,
        p_colour_noise=1,
        p_channel=1,
        p_clip=1,
    )
    clean, pool = speechlike(1.0), [speechlike(0.7, seed=s) for s in range(1, 5)]
    a = augment.augment(clean, cfg, np.random.default_rng(5), 16000, pool)
    b = augment.augment(clean, cfg, np.random.default_rng(5), 16000, pool)
    assert np.array_equal(a, b) and a.shape == clean.shape and np.abs(a).max() <= 1.0
    assert not np.allclose(a, clean, atol=1e-2)
    off = augment.AugmentConfig(p_pitch=0, p_stretch=0, p_noise=0, p_gain=0)
    assert augment.augment(clean, off, np.random.default_rng(5), 16000, pool) is clean


def test_level_normalisation_is_gain_independent():
    clean = speechlike(2.0)
    ref = frontend.normalise_level(clean, -25)
    assert frontend.loudness(ref) == pytest.approx(-25, abs=1e-6)
    for db in (-30, -20, 6, 20):
        other = frontend.normalise_level(clean * np.float32(10 ** (db / 20)), -25)
        assert np.abs(other - ref).max() < 1e-5 * np.abs(ref).max()
    silent = np.zeros(8000, np.float32)
    assert frontend.normalise_level(silent, -25) is silent
    front = frontend.Frontend(level_db=-25)
    assert front.tag == "+lvl-25" and frontend.Frontend().tag == ""


def test_masked_loss_is_cross_entropy_on_the_allowed_classes():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 5, requires_grad=True), torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0])
    every = torch.ones(6, 5, dtype=torch.bool)
    with torch.no_grad():
        plain = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y)
        ours = multicorpus.MaskedCrossEntropy(None, 0.1)(logits, y, every)
        assert float(ours) == pytest.approx(float(plain), abs=1e-6)
        weighted = torch.nn.CrossEntropyLoss(weight=w)(logits, y)
        ours = multicorpus.MaskedCrossEntropy(w, 0.0)(logits, y, every)
        assert float(ours) == pytest.approx(float(weighted), abs=1e-6)
    allowed = every.clone()
    allowed[:3, 3:] = False  # the first three clips' corpus has no classes 3 and 4
    loss = multicorpus.MaskedCrossEntropy(w, 0.1)(logits, y, allowed)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(logits.grad[:3, 3:] == 0) and torch.all(logits.grad[3:, 3:] != 0)


def _rows(corpus: str, speakers: int, emotions: tuple[str, ...], per: int = 2) -> list:
    return [
        Utterance(
            path=f"/{corpus}/{s}/{e}{k}.wav",
            corpus=corpus,
            speaker=f"{corpus}-{s:02d}",
            emotion=e,
            gender="f",
            sha1=f"{corpus}{s}{e}{k}",
        )
        for s in range(1, speakers + 1)
        for e in emotions
        for k in range(per)
    ]


def test_union_folds_balanced_epochs_and_class_masks():
    labels = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    rav = _rows("ravdess", 24, labels)
    ased = _rows("ased", 30, ("angry", "fear", "happy", "neutral", "sad"), per=4)
    manifest = Manifest(rav + ased, [])
    split = protocols.speaker_fold(manifest, labels, 1)
    test_speakers = set(split.info["test_speakers"])
    assert {f"ravdess-{a}" for a in protocols.EMOBOX_RAVDESS_FOLDS[1]} <= test_speakers
    assert sum(s.startswith("ased") for s in test_speakers) == 5  # 30 speakers, 6 folds
    masks = multicorpus.class_masks(manifest, split)
    assert masks["ravdess"].all() and masks["ased"].tolist() == [
        lab in ("angry", "fear", "happy", "neutral", "sad") for lab in labels
    ]
    corpora = [manifest.rows[i].corpus for i in split.train]
    order = multicorpus.balanced_order(split.train, corpora, np.random.default_rng(0))
    drawn = [manifest.rows[i].corpus for i in order]
    assert len(order) == len(split.train)
    assert abs(drawn.count("ravdess") - drawn.count("ased")) <= 1
    assert corpora.count("ased") > 1.5 * corpora.count("ravdess")  # unequal before
    rows = [manifest.rows[i] for i in split.train]  # each corpus's each class equally
    order = multicorpus.balanced_order(split.train, multicorpus.shares(rows, True),
                                       np.random.default_rng(0))  # fmt: skip
    pairs = Counter(f"{manifest.rows[i].corpus}/{manifest.rows[i].emotion}" for i in order)
    assert len(pairs) == 12 and max(pairs.values()) - min(pairs.values()) <= 1
    one = Manifest(rav, [])
    assert multicorpus.class_masks(one, protocols.speaker_fold(one, labels, 1)) is None


def test_a_union_is_scored_per_corpus_and_over_folds():
    from emovox.evaluation import evaluate, metrics

    labels = ("angry", "happy", "sad")
    rows = _rows("ravdess", 2, labels, per=1) + _rows("ased", 2, labels, per=1)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    pred = np.array([0, 1, 2, 0, 1, 2, 1, 1, 1, 1, 1, 1])  # right on RAVDESS, "happy" on ASED
    per = evaluate.per_corpus(rows, y, pred, labels)["per_corpus"]
    assert per["ravdess"]["accuracy"] == 1.0 and per["ased"]["accuracy"] == pytest.approx(1 / 3)
    assert evaluate.per_corpus(rows[:6], y[:6], pred[:6], labels) == {}
    fold = {**metrics.metrics(y, pred, labels), "per_corpus": per}
    summary = metrics.summarise_folds([fold, fold])
    assert summary["per_corpus"]["ased"]["accuracy_mean"] == pytest.approx(1 / 3)


def test_sentences_of_one_emotion_are_scored_apart():
    """A sentence spoken in one emotion only can be read instead of heard: the text-controlled
    figures keep the clips whose sentence the corpus's test side holds in every emotion."""
    from dataclasses import replace

    from emovox.evaluation import evaluate, metrics

    labels = ("angry", "happy", "sad")
    rows = _rows("ased", 1, labels, per=2)  # per emotion: a common sentence, then its own
    rows = [replace(r, text="common" if k % 2 == 0 else r.emotion) for k, r in enumerate(rows)]
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([1, 0, 2, 1, 0, 2])  # wrong on the common sentence, right on the others
    assert metrics.metrics(y, pred, labels)["accuracy"] == pytest.approx(0.5)
    tc = evaluate.text_controlled(rows, y, pred, labels)["text_controlled"]
    assert tc["n"] == 3 and tc["accuracy"] == 0.0
    spoken_everywhere = [replace(r, text="common") for r in rows]
    assert evaluate.text_controlled(spoken_everywhere, y, pred, labels) == {}
    fold = {**metrics.metrics(y, pred, labels), "text_controlled": tc}
    assert metrics.summarise_folds([fold, fold])["text_controlled"]["accuracy_mean"] == 0.0
