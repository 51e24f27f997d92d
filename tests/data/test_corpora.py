import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emovox import audio, cli
from emovox.data import corpora

from ..conftest import speechlike

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def _touch_audio(paths):
    y = speechlike(0.3)
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, y, 16000)


@pytest.mark.slow
def test_ravdess_counts(ravdess_manifest):
    s = corpora.summarise(ravdess_manifest)
    assert s["files"] == 1440 and s["speakers"] == 24
    assert s["emotions"]["neutral"] == 96
    assert all(v == 192 for k, v in s["emotions"].items() if k != "neutral")
    assert s["genders"] == {"female": 720, "male": 720}
    assert s["problems"] == []
    r = ravdess_manifest.rows[0]
    assert r.corpus == "ravdess" and r.speaker == "ravdess-01" and r.gender == "male"
    assert 2.5 < r.duration < 6


def test_ravdess_original_wav_layout_and_bad_names(tmp_path):
    d = tmp_path / "Actor_02"
    _touch_audio([d / "03-01-05-02-01-01-02.wav", d / "03-02-05-02-01-01-02.wav", d / "notes.wav"])
    (d / "03-01-04-01-01-01-02.wav").write_bytes(b"garbage")
    m = corpora.read_corpus(tmp_path, "ravdess")
    assert [(r.emotion, r.intensity, r.gender) for r in m.rows] == [("angry", "strong", "female")]
    causes = {p.path.split("/")[-1]: p.cause for p in m.problems}
    assert "song" in causes["03-02-05-02-01-01-02.wav"]
    assert "MM-VV" in causes["notes.wav"]
    assert "not a readable" in causes["03-01-04-01-01-01-02.wav"]


def test_tess_savee_crema_emodb_names(tmp_path):
    _touch_audio([tmp_path / "tess/OAF_back_angry.wav", tmp_path / "tess/YAF_dog_ps.wav"])
    _touch_audio(
        [
            tmp_path / "savee/DC_sa01.wav",
            tmp_path / "savee/JK/su12.wav",
            tmp_path / "savee/KL_n30.wav",
        ]
    )
    _touch_audio([tmp_path / "crema/1001_DFA_ANG_XX.wav", tmp_path / "crema/1002_IEO_HAP_HI.wav"])
    (tmp_path / "crema/VideoDemographics.csv").write_text("ActorID,Age,Sex\n1001,51,Male\n")
    _touch_audio(
        [
            tmp_path / "emodb/03a01Fa.wav",
            tmp_path / "emodb/08b02Lb.wav",
            tmp_path / "emodb/16a05Wc.wav",
        ]
    )

    tess = corpora.read_corpus(tmp_path / "tess")
    assert [(r.speaker, r.emotion) for r in tess.rows] == [
        ("tess-OAF", "angry"),
        ("tess-YAF", "surprise"),
    ]
    savee = corpora.read_corpus(tmp_path / "savee", "savee")
    assert sorted((r.speaker, r.emotion) for r in savee.rows) == [
        ("savee-DC", "sad"),
        ("savee-JK", "surprise"),
        ("savee-KL", "neutral"),
    ]
    crema = corpora.read_corpus(tmp_path / "crema")
    assert [(r.speaker, r.gender, r.emotion, r.intensity) for r in crema.rows] == [
        ("crema-1001", "male", "angry", "unspecified"),
        ("crema-1002", "", "happy", "high"),
    ]
    emodb = corpora.read_corpus(tmp_path / "emodb")
    assert [(r.speaker, r.gender, r.emotion) for r in emodb.rows] == [
        ("emodb-03", "male", "happy"),
        ("emodb-16", "female", "angry"),
    ]
    assert "boredom" in emodb.problems[0].cause


def test_csv_manifest_and_tsv_roundtrip(tmp_path):
    _touch_audio([tmp_path / "a.wav", tmp_path / "b.wav"])
    (tmp_path / "m.csv").write_text(
        "path,label,speaker\na.wav,Happiness,s1\nb.wav,fearful,s2\nc.wav,sad,s3\nb.wav,bored,s2\n"
    )
    m = corpora.read_corpus(tmp_path / "m.csv")
    assert [(r.emotion, r.speaker) for r in m.rows] == [("happy", "s1"), ("fear", "s2")]
    causes = sorted(p.cause for p in m.problems)
    assert causes[0] == "file not found" and causes[1].startswith("unknown emotion label 'bored'")
    m.write_tsv(tmp_path / "m.tsv")
    back = corpora.read_corpus(tmp_path / "m.tsv")
    assert back.rows == m.rows


def test_check_audio_moves_silent_file_to_problems(tmp_path):
    _touch_audio([tmp_path / "a.wav"])
    sf.write(tmp_path / "b.wav", np.zeros(8000), 16000)
    (tmp_path / "m.csv").write_text("path,label,speaker\na.wav,sad,s1\nb.wav,sad,s1\n")
    m = corpora.check_audio(corpora.read_corpus(tmp_path / "m.csv"))
    assert len(m.rows) == 1 and "silent" in m.problems[0].cause


@pytest.mark.slow
def test_cli_inspect_json(ravdess_dir, capsys):
    assert cli.main(["data", "inspect", str(ravdess_dir), "--json", "--headers-only"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"] == 1440 and out["speakers"] == 24
    assert out["emotions"]["neutral"] == 96 and out["emotions"]["calm"] == 192
    assert 5000 < out["duration_s"] < 5600 and out["problems"] == []


def test_ased_counts_speakers_and_one_gender_per_speaker():
    from ..conftest import RAVDESS

    root = RAVDESS.parent / "ased"
    if not root.is_dir():
        import pytest

        pytest.skip("ASED not found")
    m = corpora.read_corpus(root)
    assert not m.problems and len(m.rows) == 2474
    counts = {
        e: sum(r.emotion == e for r in m.rows) for e in ("neutral", "fear", "happy", "angry", "sad")
    }
    assert counts == {"neutral": 522, "fear": 510, "happy": 486, "angry": 486, "sad": 470}
    genders: dict[str, set] = {}
    for r in m.rows:
        genders.setdefault(r.speaker, set()).add(r.gender)
    assert len(genders) == 65 and all(len(g) == 1 for g in genders.values())
    assert sum(g == {"female"} for g in genders.values()) == 25
    capital = [r for r in m.rows if r.path.endswith("S4-04-02-01-29.flac")]
    assert len(capital) == 1 and capital[0].emotion == "sad"  # the one capital letter
    emotions_of: dict[str, set] = {}
    for r in m.rows:
        emotions_of.setdefault(r.text, set()).add(r.emotion)
    shared = sorted(t for t, e in emotions_of.items() if len(e) > 1)
    assert shared == ["ased-01", "ased-02"] and len(emotions_of["ased-01"]) == 5
    assert len(emotions_of) == 2 + 25  # the two common sentences and 5 x 5 of one emotion


def _nemo_dir() -> Path:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "nemo"
    if not path.is_dir():
        if os.environ.get("EMOVOX_REQUIRE_DATA"):
            pytest.fail(f"nEMO not found at {path}")
        pytest.skip(f"nEMO not found at {path}")
    return path


@pytest.mark.slow
def test_nemo_is_read_with_speakers_sentences_and_mapped_labels():
    m = corpora.read_corpus(_nemo_dir())
    assert len(m.rows) == 1791 and not m.problems
    counts = Counter(r.emotion for r in m.rows)
    assert counts == {"neutral": 324, "sad": 306, "angry": 301, "happy": 299, "fear": 296,
                      "surprise": 265}  # fmt: skip
    assert len({r.speaker for r in m.rows}) == 9 and all(r.corpus == "nemo" for r in m.rows)
    assert {r.gender for r in m.rows} == {"male", "female"}
    texts = {r.text for r in m.rows}
    assert len(texts) == 36 and all(t.startswith("nemo:") for t in texts)
    # text-controlled: every sentence is spoken in every state
    assert all(corpora.spoken_in_every_emotion(m.rows))


@pytest.mark.slow
def test_nemo_in_its_original_layout_reads_the_same(tmp_path):
    """``samples/*.wav`` at 24 kHz beside ``data.tsv`` with nEMO's own columns."""
    import soxr

    shared = corpora.read_corpus(_nemo_dir())
    picked = [r for r in shared.rows if r.speaker == "nemo-KD0"][:12]
    (tmp_path / "samples").mkdir()
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for r in picked:
        stem = Path(r.path).stem
        wave = soxr.resample(audio.load(r.path), 16000, 24000)
        sf.write(tmp_path / "samples" / f"{stem}.wav", wave, 24000, subtype="PCM_16")
        speaker, emotion, _ = stem.split("_")
        text = r.text.removeprefix("nemo:")
        lines.append(
            f"{stem}.wav\t{emotion}\t{text.capitalize()}.\t{text}\t{speaker}\t{r.gender}\t30"
        )
    (tmp_path / "data.tsv").write_text("\n".join(lines) + "\n")
    m = corpora.read_corpus(tmp_path)
    assert [(r.speaker, r.emotion, r.gender, r.text) for r in m.rows] == [
        (r.speaker, r.emotion, r.gender, r.text) for r in picked
    ]
    assert all(abs(r.duration - p.duration) < 0.01 for r, p in zip(m.rows, picked, strict=True))


def test_a_corpus_folder_with_unknown_labels_is_refused_with_them_named(tmp_path, wav):
    for name in ("AB0_anger_1.wav", "AB0_bored_2.wav", "CD1_sleepy_3.wav"):
        wav(speechlike(1.0), name=name)
    with pytest.raises(ValueError, match="bored, sleepy"):
        corpora.read_corpus(tmp_path)
    (tmp_path / "AB0_bored_2.wav").unlink()
    (tmp_path / "CD1_sleepy_3.wav").unlink()
    assert [r.emotion for r in corpora.read_corpus(tmp_path).rows] == ["angry"]
