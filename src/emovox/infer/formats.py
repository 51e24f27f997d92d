"""Prediction results written as each input finishes: a text table, JSON, JSON lines, CSV, or a
timeline export (SRT and WebVTT subtitles, an Audacity label track).

``json`` is one list in input order, streamed (an interrupted run still closes the array);
``jsonl`` one object per line; ``csv`` one row per segment, or with ``every`` one row per stretch
of that many seconds (the share of speech per emotion); ``srt``, ``vtt`` and ``audacity`` one
cue or label per segment, for one input on stdout or one file per input in ``out_dir``; text an
aligned table on stdout with errors and warnings on stderr.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TextIO

from emovox.infer.analyzer import Result
from emovox.infer.timeline import Segment, time_held
from emovox.store.atomic import write_text

FORMATS = ("text", "json", "jsonl", "csv", "srt", "vtt", "audacity")
#: formats that hold one input's timeline each, and their file endings
TIMELINE_FORMATS = {"srt": ".srt", "vtt": ".vtt", "audacity": ".txt"}


def clock(seconds: float) -> str:
    """``m:ss.s``"""
    m, s = divmod(seconds, 60)
    return f"{int(m):d}:{s:04.1f}"


def check(fmt: str, every: float | None) -> None:
    """A ValueError for a format emovox does not write, or ``every`` with one but CSV."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if every is not None and fmt != "csv":
        raise ValueError(f"--every goes with --format csv, not --format {fmt}")


class Writer:
    """Writes results in one format; ``add`` each as it finishes, ``close`` at the end (also
    after an interruption: what was added is then complete)."""

    def __init__(
        self,
        fmt: str,
        labels: tuple[str, ...],
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        every: float | None = None,
        out_dir: str | Path | None = None,
    ) -> None:
        check(fmt, every)
        self.fmt, self.labels, self.out, self.err = fmt, labels, out, err
        self.every, self.out_dir, self.count = every, out_dir, 0
        self.csv = None
        if fmt == "csv":
            if every:
                cols = ["path", "start", "end", "speech_seconds", "dominant"]
                cols += [f"share_{k}" for k in (*labels, "unsure")]
            else:
                cols = ["path", "start", "end", "speaker", "emotion", "confidence", "speech"]
                cols += ["reason"]
                cols += ["arousal", "valence", "error"] + [f"p_{lab}" for lab in labels]
            self.csv = csv.DictWriter(out, cols)
            self.csv.writeheader()

    def add(self, result: Result) -> None:
        if result.error is None:
            for warning in result.warnings:
                print(f"emovox: warning: {result.path}: {warning}", file=self.err, flush=True)
        if self.fmt == "json":
            head = "[" if self.count == 0 else ","
            print(head + json.dumps(result.to_dict()), file=self.out, flush=True)
        elif self.fmt == "jsonl":
            print(json.dumps(result.to_dict()), file=self.out, flush=True)
        elif self.fmt == "csv":
            self._csv_rows(result)
        elif self.fmt in TIMELINE_FORMATS:
            self._timeline(result)
        else:
            self._text(result)
        self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            print("]" if self.count else "[]", file=self.out)
        self.out.flush()

    def _csv_rows(self, r: Result) -> None:
        if self.every:
            for row in per_interval(r, self.labels, self.every):
                self.csv.writerow(row)
        elif r.error is not None:
            self.csv.writerow({"path": r.path, "error": r.error})
        else:
            base = {"path": r.path, "speech": r.speech}
            silent = Segment(0.0, r.duration or 0.0, None, None, {}, r.reason)  # no speech
            for s in r.segments or [silent]:
                row = base | {"start": s.start, "end": s.end, "speaker": s.speaker}
                row |= {"emotion": s.emotion, "confidence": s.confidence, "reason": s.reason}
                row |= {"arousal": s.arousal, "valence": s.valence}
                row |= {f"p_{k}": v for k, v in (s.probabilities or {}).items()}
                self.csv.writerow(row)
        self.out.flush()

    def _timeline(self, r: Result) -> None:
        if r.error is not None:
            print(f"{r.path}: error: {r.error}", file=self.err, flush=True)
            return
        text = {"srt": to_srt, "vtt": to_vtt, "audacity": to_audacity}[self.fmt](r)
        if self.out_dir is None:
            print(text, file=self.out, end="", flush=True)
            return
        stem = Path(r.path).stem or "stdin"
        path = Path(self.out_dir) / f"{self.count:03d}-{stem}{TIMELINE_FORMATS[self.fmt]}"
        write_text(path, text)

    def _text(self, r: Result) -> None:
        if r.error is not None:
            print(f"{r.path}: error: {r.error}", file=self.err, flush=True)
            return
        answer = r.emotion or f"- ({r.reason}: {r.detail})"
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        print(f"{r.path}\t{answer}\t{conf}", file=self.out)
        if len(r.segments or []) > 1:
            for s in r.segments:
                emotion = s.emotion or s.reason
                who = f"{s.speaker}\t" if s.speaker else ""
                print(
                    f"  {clock(s.start)}-{clock(s.end)}\t{who}{emotion}\t{s.confidence:.2f}",
                    file=self.out,
                )
        if r.summary and len(r.segments or []) > 1:
            summ = r.summary
            share = ", ".join(f"{k} {v:.0%}" for k, v in summ["share"].items() if v > 0)
            speech = f"speech {summ['speech_duration']:.1f} s of {summ['duration']:.1f} s"
            print(f"  {speech}: {share}", file=self.out)
        self.out.flush()


def _cue(seg: Segment) -> str:
    """What a subtitle or label says of a segment: whose voice (a recording split by voice:
    ``[S1]``), the emotion and its probability."""
    said = f"{seg.emotion} {seg.confidence:.2f}" if seg.emotion else str(seg.reason or "unsure")
    return f"[{seg.speaker}] {said}" if seg.speaker else said


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    return f"{h:02d}:{m:02d}:{rest // 1000:02d}{sep}{rest % 1000:03d}"


def to_srt(r: Result) -> str:
    """SubRip: one numbered cue per segment."""
    cues = [
        f"{k}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{_cue(s)}\n"
        for k, s in enumerate(r.segments or [], 1)
    ]
    return "\n".join(cues)


def to_vtt(r: Result) -> str:
    """WebVTT: a header, then one cue per segment."""
    segments = r.segments or []
    cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{_cue(s)}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_audacity(r: Result) -> str:
    """Audacity's label track (File > Import > Labels): start, end, label, tab-separated."""
    return "".join(f"{s.start:.3f}\t{s.end:.3f}\t{_cue(s)}\n" for s in r.segments or [])


def per_interval(r: Result, labels: tuple[str, ...], every: float) -> list[dict]:
    """One row per ``every`` seconds of the recording: seconds of speech in it, each emotion's
    share of that speech (and unsure's), and the emotion held longest."""
    if r.error is not None:
        return [{"path": r.path, "start": 0.0, "end": None, "dominant": f"error: {r.error}"}]
    duration = r.duration or 0.0
    kinds = (*labels, "unsure")
    starts, held = time_held(r.segments or [], labels, duration, every)
    rows = []
    for start, seconds in zip(starts, held, strict=True):
        speech = float(seconds.sum())
        emotions = {k: v for k, v in zip(labels, seconds, strict=False) if v > 0}
        row = {"path": r.path, "start": round(float(start), 3)}
        row |= {"end": round(float(min(start + every, duration)), 3)}
        row |= {"speech_seconds": round(speech, 3)}
        row["dominant"] = max(emotions, key=emotions.get) if emotions else None
        row |= {
            f"share_{k}": round(float(v) / speech, 4) if speech else 0.0
            for k, v in zip(kinds, seconds, strict=True)
        }
        rows.append(row)
    return rows
