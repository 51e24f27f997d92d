"""Each corpus's published file-name convention, parsed: a file's path -> its labels
(speaker, emotion, and what else the name says), or a ValueError saying why it does not fit.
:mod:`emovox.data.corpora` walks the folders and builds manifests from these."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emovox.data.labels import normalise_label

_RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess(p: Path) -> dict[str, str]:
    m = RAVDESS_RE.match(p.stem)
    if not m:
        raise ValueError("file name does not follow MM-VV-EE-II-SS-RR-AA")
    modality, channel, emo, inten, stmt, _, actor = m.groups()
    if channel != "01":
        raise ValueError(f"vocal channel {channel} is song, not speech")
    if emo not in _RAVDESS_EMOTIONS:
        raise ValueError(f"unknown RAVDESS emotion code {emo}")
    return dict(
        corpus="ravdess",
        speaker=f"ravdess-{actor}",
        gender="male" if int(actor) % 2 else "female",
        emotion=_RAVDESS_EMOTIONS[emo],
        intensity={"01": "normal", "02": "strong"}.get(inten, inten),
        text=stmt,
    )


# --- TESS: OAF_back_angry.wav, YAF_..._ps.wav ---------------------------------------------------
def parse_tess(p: Path) -> dict[str, str]:
    parts = p.stem.split("_")
    if len(parts) < 3 or parts[0].upper() not in {"OAF", "YAF"}:
        raise ValueError("file name does not follow (OAF|YAF)_word_emotion")
    return dict(
        corpus="tess",
        speaker=f"tess-{parts[0].upper()}",
        gender="female",
        emotion=normalise_label("_".join(parts[2:])),
        text=parts[1].lower(),
    )


# --- SAVEE: DC_a01.wav (flat) or DC/a01.wav (original) ---------------------------------------
_SAVEE_EMOTIONS = {
    "a": "angry",
    "d": "disgust",
    "f": "fear",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprise",
}
SAVEE_RE = re.compile(r"^(?:([A-Z]{2})_)?(sa|su|[adfhn])(\d\d)$")


def parse_savee(p: Path) -> dict[str, str]:
    m = SAVEE_RE.match(p.stem)
    speaker = (m.group(1) if m else None) or p.parent.name
    if not m or not re.fullmatch(r"[A-Z]{2}", speaker):
        raise ValueError("file name does not follow [SPK_]<a|d|f|h|n|sa|su><NN>")
    return dict(
        corpus="savee",
        speaker=f"savee-{speaker}",
        gender="male",
        emotion=_SAVEE_EMOTIONS[m.group(2)],
        text=f"{m.group(2)}{m.group(3)}",
    )


# --- CREMA-D: 1001_DFA_ANG_XX.wav -------------------------------------------------------------
_CREMA_EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
_CREMA_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}


def crema_genders(root: Path) -> dict[str, str]:
    """ActorID -> gender from VideoDemographics.csv when the corpus folder has it."""
    for demo in root.rglob("VideoDemographics.csv"):
        with demo.open(newline="") as f:
            return {r["ActorID"]: r["Sex"].strip().lower() for r in csv.DictReader(f)}
    return {}


def parse_crema(p: Path, genders: dict[str, str]) -> dict[str, str]:
    parts = p.stem.split("_")
    if len(parts) != 4 or not parts[0].isdigit() or parts[2] not in _CREMA_EMOTIONS:
        raise ValueError("file name does not follow ActorID_SENT_EMO_LVL")
    return dict(
        corpus="crema-d",
        speaker=f"crema-{parts[0]}",
        gender=genders.get(parts[0], ""),
        emotion=_CREMA_EMOTIONS[parts[2]],
        intensity=_CREMA_LEVELS.get(parts[3], parts[3].lower()),
        text=parts[1],
    )


# --- EmoDB: 03a01Fa.wav -----------------------------------------------------------------------
_EMODB_EMOTIONS = {
    "W": "angry",
    "E": "disgust",
    "A": "fear",
    "F": "happy",
    "N": "neutral",
    "T": "sad",
}
_EMODB_MALE = {"03", "10", "11", "12", "15"}
EMODB_RE = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])$")


def parse_emodb(p: Path) -> dict[str, str]:
    m = EMODB_RE.match(p.stem)
    if not m:
        raise ValueError("file name does not follow SStttEv (e.g. 03a01Fa)")
    spk, text, emo, _ = m.groups()
    if emo == "L":
        raise ValueError("emotion 'boredom' (L) is outside the shared vocabulary")
    return dict(
        corpus="emodb",
        speaker=f"emodb-{spk}",
        gender="male" if spk in _EMODB_MALE else "female",
        emotion=_EMODB_EMOTIONS[emo],
        text=text,
    )


_ASED_EMOTIONS = {"n": "neutral", "f": "fear", "h": "happy", "s": "sad", "a": "angry"}
ASED_RE = re.compile(r"^([nfhsaNFHSA])(\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ased(p: Path) -> dict[str, str]:
    m = ASED_RE.match(p.stem)
    if not m:
        raise ValueError("file name does not follow EN-SS-RR-GG-PP")
    letter, _, sentence, _, gender, speaker = m.groups()
    return dict(
        corpus="ased",
        speaker=f"ased-{speaker}",
        gender={"01": "female", "02": "male"}.get(gender, ""),
        emotion=_ASED_EMOTIONS[letter.lower()],
        text=ased_text(letter, sentence),
    )


# Sentences 01 and 02 of every folder are the two spoken in all five emotions; 03-07 are the
# folder's own (PROVENANCE.md: 5 x 5 specific + 2 common). The corpus does not say which are
# which: the centroids of Whisper base's layer-6 mean states (speaker-standardised) per folder
# and sentence number agree across all 10 pairs of folders for 01 and 02 only (cosine 0.26 to
# 0.78; every other number has pairs below 0): python benchmarks/ased_sentences.py.
_ASED_COMMON = ("01", "02")


def ased_text(letter: str, sentence: str) -> str:
    """The sentence's id, shared across folders for the two common sentences."""
    return f"ased-{sentence}" if sentence in _ASED_COMMON else f"ased-{letter.lower()}{sentence}"


# --- nEMO: {speaker}_{emotion}_{sentence}.(wav|flac), with a table of text and gender -------
NEMO_RE = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")


def nemo_table(root: Path) -> dict[str, dict[str, str]]:
    """File stem -> {gender, text} from the corpus's table: nEMO's own ``data.tsv`` (file_id,
    normalized_text, gender, ...) or the shared copy's ``manifest.tsv`` (flac_path, text,
    gender); empty when neither is there (the names still give speaker and emotion)."""
    for name, key, text in (("data.tsv", "file_id", "normalized_text"),
                            ("manifest.tsv", "flac_path", "text")):  # fmt: skip
        path = root / name
        if path.exists():
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
            return {
                Path(r[key]).stem: {"gender": r.get("gender", ""), "text": r.get(text, "")}
                for r in rows
                if r.get(key)
            }
    return {}


def parse_nemo(p: Path, table: dict[str, dict[str, str]]) -> dict[str, str]:
    """A nEMO file: speaker, emotion (anger, fear, happiness, sadness, surprised, neutral
    mapped onto the vocabulary) and the sentence (its normalised text: the same sentence is
    spoken in every state, so the words never give the emotion away)."""
    m = NEMO_RE.match(p.stem)
    if not m:
        raise ValueError("file name does not follow {speaker}_{emotion}_{sentence}")
    speaker, emotion, sentence = m.groups()
    known = table.get(p.stem, {})
    text = known.get("text", "").strip()
    return dict(
        corpus="nemo",
        speaker=f"nemo-{speaker}",
        gender=known.get("gender", "") if known.get("gender") in ("male", "female") else "",
        emotion=normalise_label(emotion),
        text=f"nemo:{text}" if text else f"nemo-{sentence}",
    )
