"""Clips adapted to their folder or group: one reference voice read from all of them."""

import json
import re

import numpy as np
import pytest

import emovox
from emovox.data import demo
from emovox.data.clips import load_clips
from emovox.infer import adapt, prior
from emovox.infer.analyzer import AnalysisConfig

from ..cli.test_predict import _cli

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


@pytest.fixture(scope="module")
def actor_clips(ravdess_manifest):
    """Twelve clips of one actor and two of another (too few to adapt), neutral to angry."""
    one = [r for r in ravdess_manifest.rows if r.speaker.endswith("11")][::4][:12]
    two = [r for r in ravdess_manifest.rows if r.speaker.endswith("12")][:2]
    return one, two


@pytest.mark.slow
def test_a_group_of_clips_is_read_against_its_own_mean(actor_clips):
    one, two = actor_clips
    model = emovox.load_model()
    waves = load_clips(one + two).waves
    groups = ["actor11"] * len(one) + ["actor12"] * len(two)
    with pytest.warns(UserWarning, match=r"1 group\(s\) have fewer than 10 clips .*: actor12"):
        grouped = model.predict(waves, sr=16000, groups=groups)
    alone = model.predict(waves, sr=16000)
    # by hand: each member's statistics of the group's clips, moved onto the training mean
    p = model.engine
    x = [s[: len(one)] for s in p.member_inputs(waves)]
    moved = adapt.to_recording(x, p.training_means(), p.speaker_normalised(), model.cfg.reference,
                               lambda z: p.classify(z, True)[0])  # fmt: skip
    want = p.classify(moved, True)[0]  # adapted: every kind of head votes
    for k, r in enumerate(grouped[: len(one)]):
        got = np.array([r.probabilities[lab] for lab in model.labels])
        assert np.abs(got - want[k]).max() < 2e-3
        assert r.adapted == f"group actor11: {len(one)} clips, " + r.adapted.split(", ")[1]
    moved = max(
        abs(a.probabilities[k] - b.probabilities[k])
        for a, b in zip(grouped, alone, strict=True)
        for k in model.labels
    )
    assert moved > 0.05  # adapting changes the answers ...
    for a, b in zip(grouped[len(one) :], alone[len(one) :], strict=True):
        assert a.adapted.startswith("not adapted: group actor12 has 2 clip(s)")  # said, and
        assert a.probabilities == b.probabilities  # only groups that adapt change


@pytest.mark.slow
def test_adapt_by_folder_keeps_order_and_bad_files(actor_clips, tmp_path):
    one, _ = actor_clips
    folder = tmp_path / "call-centre"
    folder.mkdir()
    paths = []
    for k, r in enumerate(one):
        (folder / f"c{k:02d}.flac").symlink_to(r.path)
        paths.append(str(folder / f"c{k:02d}.flac"))
    (folder / "broken.wav").write_bytes(b"RIFF not really")
    paths.insert(3, str(folder / "broken.wav"))
    out = _cli(str(folder), "--adapt", "folder", "--format", "jsonl", "--engine", "torch")
    assert out.returncode == 1, out.stderr.decode()  # one file failed, the rest answered
    results = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [r["path"] for r in results] == sorted(paths)
    bad = [r for r in results if r["error"]]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.wav")
    good = [r for r in results if r["error"] is None]
    assert all(r["adapted"].startswith(f"group {folder.absolute()}: 12 clips") for r in good)
    with pytest.raises(ValueError, match="adapt must be one of recording, folder, none"):
        emovox.load_model(config=AnalysisConfig(adapt="speaker"))


def test_the_old_spellings_of_adapt_still_say_the_same_with_a_warning():
    with pytest.warns(DeprecationWarning, match="go in 0.7"):
        assert AnalysisConfig(adapt_by="folder").adapt == "folder"
    with pytest.warns(DeprecationWarning):
        assert AnalysisConfig(adapt=False).adapt == "none"
    with pytest.warns(DeprecationWarning):
        assert AnalysisConfig(adapt=True, adapt_by="none").adapt == "none"
    with pytest.warns(DeprecationWarning):
        assert AnalysisConfig(adapt=True).adapt == "recording"
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="adapt must be"):
        AnalysisConfig(adapt_by="speaker")


@pytest.mark.slow
def test_a_folder_is_read_under_its_own_prior(ravdess_manifest, tmp_path):
    """--prior group: a folder's answers are the plain ones re-weighted to the prior its own
    answers give (emovox.infer.prior), which each result reports; one clip fewer than a
    group needs reads plain and says why."""
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("13")][: prior.MIN_CLIPS]
    folder = tmp_path / "archive"
    folder.mkdir()
    for k, r in enumerate(rows):
        (folder / f"c{k:02d}.flac").symlink_to(r.path)
    out = _cli(str(folder), "--prior", "group", "--adapt", "none", "--format", "jsonl")
    assert out.returncode == 0, out.stderr.decode()
    got = [json.loads(line) for line in out.stdout.decode().splitlines()]
    plain = emovox.load_model(config=AnalysisConfig(adapt="none"))
    probs = np.array([[r.probabilities[k] for k in plain.labels] for r in
                      plain.predict(load_clips(rows).waves, sr=16000)])  # fmt: skip
    want = prior.correct(probs, plain.labels)
    assert want.applied
    for k, r in enumerate(got):
        assert r["prior"] == pytest.approx(want.prior, abs=2e-3)
        answer = np.array([r["probabilities"][x] for x in plain.labels])
        assert np.abs(answer - want.probabilities[k]).max() < 2e-3
        said = f"group {folder.absolute()}: {len(rows)} clips, not adapted; prior: its own"
        assert r["adapted"] == said + ", estimated from its answers"
    assert np.abs(want.probabilities - probs).max() > 0.05  # the prior moved the answers
    short = emovox.load_model(config=AnalysisConfig(adapt="none", prior="group"))
    fewer = short.predict(load_clips(rows[1:]).waves, sr=16000, groups=["a"] * (len(rows) - 1))
    for r in fewer:
        assert r.prior is None and r.adapted.endswith(
            f"prior: the model's ({len(rows) - 1} clip(s); estimating a prior needs "
            f"{prior.MIN_CLIPS})"
        )


@pytest.mark.slow
def test_a_recording_is_read_under_its_own_prior(ravdess_manifest):
    """--prior group on a recording: its windows are the group, the estimate is reported and
    the answer moves; a recording of too few windows reads plain and says how many."""
    rows = [r for r in ravdess_manifest.rows if r.speaker.endswith("15") and r.emotion != "calm"]
    wave = demo.build(rows[::2][:26], seed=2).wave
    own = emovox.load_model(config=AnalysisConfig(prior="group")).predict(wave, sr=16000)
    plain = emovox.load_model().predict(wave, sr=16000)
    assert own.prior is not None and abs(sum(own.prior.values()) - 1) < 1e-3
    assert own.adapted == plain.adapted + "; prior: its own, estimated from its answers"
    moved = max(abs(own.probabilities[k] - plain.probabilities[k]) for k in own.probabilities)
    assert moved > 0.005 and plain.prior is None  # halfway to its own prior: a mild move
    short = demo.build(rows[::3][:16], seed=2).wave  # over 30 s: a recording, 16 windows
    few = emovox.load_model(config=AnalysisConfig(prior="group")).predict(short, sr=16000)
    assert few.prior is None
    assert re.search(r"prior: the model's \(\d+ window\(s\); estimating a prior needs 20\)$",
                     few.adapted), few.adapted  # fmt: skip
