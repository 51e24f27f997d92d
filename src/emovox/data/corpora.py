"""Corpus folders -> manifests: one row per file (path, corpus, speaker, emotion, ...).

A manifest is data, never a folder of copies: splits and datasets are functions of it. Readers
follow each corpus's published file-name convention and report the files they cannot parse
instead of crashing.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from emovox import audio
from emovox.data import layouts
from emovox.data.labels import VOCABULARY, normalise_label

AUDIO_SUFFIXES = audio.AUDIO_SUFFIXES
_UNKNOWN = re.compile(r"unknown emotion label '([^']+)'")


@dataclass(frozen=True)
class Utterance:
    """One manifest row."""

    path: str
    corpus: str
    speaker: str
    emotion: str
    gender: str = ""  # "male" / "female" / "" when unknown
    intensity: str = ""  # "normal" / "strong" / corpus-specific level / ""
    text: str = ""  # sentence or word id
    duration: float = 0.0  # seconds, from the header
    sha1: str = ""  # content hash: finds byte-identical files, keys caches


@dataclass(frozen=True)
class Problem:
    path: str
    cause: str


@dataclass
class Manifest:
    rows: list[Utterance]
    problems: list[Problem]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list:
        return [getattr(r, name) for r in self.rows]

    def write_tsv(self, path: str | Path) -> None:
        """Write the rows as a tab-separated table (header = field names)."""
        names = [f.name for f in fields(Utterance)]
        tmp = Path(str(path) + ".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, names, delimiter="\t")
            w.writeheader()
            for r in self.rows:
                w.writerow(asdict(r))
        tmp.replace(path)

    @classmethod
    def read_tsv(cls, path: str | Path) -> Manifest:
        with Path(path).open(newline="") as f:
            rows = [
                Utterance(**{**r, "duration": float(r["duration"] or 0)})
                for r in csv.DictReader(f, delimiter="\t")
            ]
        return cls(rows, [])


def sha1_of(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def _row(path: Path, **kw: str) -> Utterance:
    """Finish a row: header duration and content hash; raises AudioError on unreadable files."""
    _, _, duration = audio.info(path)
    return Utterance(path=str(path), duration=round(duration, 4), sha1=sha1_of(path), **kw)


def _cause(exc: Exception) -> str:
    """The plain-words cause of a row that could not be read."""
    return exc.cause if isinstance(exc, audio.AudioError) else str(exc)


def _scan(
    root: Path, parse: Callable[[Path], dict[str, str]], files: Iterable[Path] | None = None
) -> Manifest:
    rows, problems = [], []
    for p in sorted(files if files is not None else root.rglob("*")):
        if p.suffix.lower() not in AUDIO_SUFFIXES or not p.is_file():
            continue
        try:
            rows.append(_row(p, **parse(p)))
        except (ValueError, KeyError, audio.AudioError) as exc:
            problems.append(Problem(str(p), _cause(exc)))
    return Manifest(rows, problems)


# --- RAVDESS: 03-01-EE-II-SS-RR-AA.(wav|flac) -------------------------------------------------
def read_csv_manifest(path: str | Path) -> Manifest:
    """A user's own corpus: a CSV with columns path, label, speaker (gender, corpus optional).

    Relative paths are taken relative to the CSV file's folder.
    """
    path = Path(path)
    base = path.parent
    rows, problems = [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label", "speaker"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: CSV manifest lacks columns {sorted(missing)}")
        for r in reader:
            p = Path(r["path"])
            p = p if p.is_absolute() else base / p
            try:
                rows.append(
                    _row(
                        p,
                        corpus=r.get("corpus") or path.stem,
                        speaker=r["speaker"],
                        gender=(r.get("gender") or "").lower(),
                        emotion=normalise_label(r["label"]),
                    )
                )
            except (ValueError, audio.AudioError) as exc:
                problems.append(Problem(str(p), _cause(exc)))
    return Manifest(rows, problems)


# --- ASED (Amharic): EN-SS-RR-GG-PP.(wav|flac) in 01Neutral ... 05Angry -----------------------
def spoken_in_every_emotion(rows: Sequence[Utterance]) -> list[bool]:
    """Per row: its sentence occurs, among ``rows``, in every emotion its corpus has there
    (where a sentence belongs to one emotion, its words give the emotion away)."""
    by_corpus: dict[str, set[str]] = {}
    by_text: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        by_corpus.setdefault(r.corpus, set()).add(r.emotion)
        by_text.setdefault((r.corpus, r.text), set()).add(r.emotion)
    return [bool(r.text) and by_text[r.corpus, r.text] == by_corpus[r.corpus] for r in rows]


def _read_ased(root: Path) -> Manifest:
    """ASED, each speaker given the gender most of their file names carry (five files carry
    the other code, slips in the originals: ../shared/datasets/ased/PROVENANCE.md)."""
    m = _scan(root, layouts.parse_ased)
    votes: dict[str, Counter] = {}
    for r in m.rows:
        votes.setdefault(r.speaker, Counter())[r.gender] += 1
    rows = [replace(r, gender=votes[r.speaker].most_common(1)[0][0]) for r in m.rows]
    return Manifest(rows, m.problems)


def _read_crema(root: Path) -> Manifest:
    genders = layouts.crema_genders(root)
    return _scan(root, lambda p: layouts.parse_crema(p, genders))


def _read_nemo(root: Path) -> Manifest:
    """nEMO as distributed (``samples/*.wav`` beside ``data.tsv``, 24 kHz) or as the shared
    copy (flat 16 kHz FLAC beside ``manifest.tsv``)."""
    table = layouts.nemo_table(root)
    samples = root / "samples"
    if samples.is_dir() and (root / "data.tsv").exists():
        return _scan(samples, lambda p: layouts.parse_nemo(p, table))
    return _scan(root, lambda p: layouts.parse_nemo(p, table))


READERS: dict[str, Callable[[Path], Manifest]] = {
    "ravdess": lambda root: _scan(root, layouts.parse_ravdess),
    "tess": lambda root: _scan(root, layouts.parse_tess),
    "savee": lambda root: _scan(root, layouts.parse_savee),
    "crema-d": lambda root: _read_crema(root),
    "emodb": lambda root: _scan(root, layouts.parse_emodb),
    "ased": lambda root: _read_ased(root),
    "nemo": lambda root: _read_nemo(root),
}


def detect_corpus(root: Path) -> str:
    """Guess the corpus of a folder from its first audio file's name."""
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        stem = p.stem
        if layouts.RAVDESS_RE.match(stem):
            return "ravdess"
        if layouts.EMODB_RE.match(stem):
            return "emodb"
        if re.match(r"^\d{4}_[A-Z]{3}_[A-Z]{3}_[A-Z]{2}$", stem):
            return "crema-d"
        if re.match(r"^(OAF|YAF)_", stem, re.I):
            return "tess"
        if layouts.SAVEE_RE.match(stem):
            return "savee"
        if layouts.ASED_RE.match(stem):
            return "ased"
        if layouts.NEMO_RE.match(stem):
            return "nemo"
        break
    raise ValueError(f"{root}: cannot tell which corpus this is; pass --corpus or a CSV manifest")


def read_corpus(path: str | Path, corpus: str | None = None) -> Manifest:
    """Manifest of a corpus folder (reader chosen by ``corpus`` or detected), a CSV or a TSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix == ".tsv":
            return Manifest.read_tsv(path)
        return read_csv_manifest(path)
    name = corpus or detect_corpus(path)
    if name not in READERS:
        raise ValueError(f"unknown corpus {name!r}; known: {', '.join(READERS)}")
    manifest = READERS[name](path)
    unknown = sorted({m.group(1) for p in manifest.problems if (m := _UNKNOWN.match(p.cause))})
    if unknown:  # a folder whose labels emovox cannot map: refused whole, the labels named
        raise ValueError(
            f"{path}: emotion labels emovox does not know: {', '.join(unknown)} "
            f"(known: {', '.join(VOCABULARY)} and their usual synonyms)"
        )
    return manifest


def read_corpora(paths: Iterable[str | Path]) -> Manifest:
    """Concatenate several corpora into one manifest."""
    rows, problems = [], []
    for p in paths:
        m = read_corpus(p)
        rows += m.rows
        problems += m.problems
    return Manifest(rows, problems)


def check_audio(manifest: Manifest, limits: audio.AudioLimits | None = None) -> Manifest:
    """Decode every row; rows that fail move to ``problems`` with their cause."""
    good, problems = [], list(manifest.problems)
    for r in manifest.rows:
        try:
            audio.load(r.path, limits=limits)
            good.append(r)
        except audio.AudioError as exc:
            problems.append(Problem(r.path, exc.cause))
    return Manifest(good, problems)


def summarise(manifest: Manifest) -> dict:
    """Counts per emotion, speaker, corpus and gender, total duration and problem files."""

    def counts(name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in manifest.column(name):
            out[v] = out.get(v, 0) + 1
        return dict(sorted(out.items()))

    return {
        "files": len(manifest),
        "speakers": len(set(manifest.column("speaker"))),
        "emotions": counts("emotion"),
        "corpora": counts("corpus"),
        "genders": counts("gender"),
        "per_speaker": counts("speaker"),
        "duration_s": round(sum(manifest.column("duration")), 3),
        "problems": [asdict(p) for p in manifest.problems],
    }
