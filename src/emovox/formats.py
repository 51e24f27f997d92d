"""Prediction results written as text, JSON, JSON lines or CSV, as each input finishes.

``json`` is one list in input order (printed at the end); ``jsonl`` one object per line as
soon as an input is done; ``csv`` one row per clip, or per segment of a long recording; text an
aligned table on stdout with errors on stderr.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TextIO

from emovox.demo import clock
from emovox.predict import Result

FORMATS = ("text", "json", "jsonl", "csv")


class Writer:
    """Writes results in one format; ``add`` each as it finishes, ``close`` at the end."""

    def __init__(
        self, fmt: str, labels: tuple[str, ...], out: TextIO = sys.stdout, err: TextIO = sys.stderr
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.fmt, self.labels, self.out, self.err = fmt, labels, out, err
        self.held: list[dict] = []
        self.csv = None
        if fmt == "csv":
            cols = ["path", "start", "end", "emotion", "confidence", "speech", "reason", "error"]
            self.csv = csv.DictWriter(out, cols + [f"p_{lab}" for lab in labels])
            self.csv.writeheader()

    def add(self, result: Result) -> None:
        d = result.to_dict()
        if self.fmt == "json":
            self.held.append(d)
        elif self.fmt == "jsonl":
            print(json.dumps(d), file=self.out, flush=True)
        elif self.fmt == "csv":
            self._csv_rows(result)
        else:
            self._text(result)

    def close(self) -> None:
        if self.fmt == "json":
            print(json.dumps(self.held), file=self.out)
        self.out.flush()

    def _csv_rows(self, r: Result) -> None:
        base = {"path": r.path, "speech": r.speech, "reason": r.reason, "error": r.error}
        rows = [(0.0, r.duration, r.emotion, r.confidence, r.probabilities)]
        if r.segments:
            rows = [(s.start, s.end, s.emotion, s.confidence, s.probabilities) for s in r.segments]
        for start, end, emotion, conf, probs in rows:
            row = base | {"start": start, "end": end, "emotion": emotion, "confidence": conf}
            row |= {f"p_{k}": v for k, v in (probs or {}).items()}
            self.csv.writerow(row)
        self.out.flush()

    def _text(self, r: Result) -> None:
        if r.error is not None:
            print(f"{r.path}: error: {r.error}", file=self.err, flush=True)
            return
        answer = r.emotion or f"- ({r.reason})"
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        print(f"{r.path}\t{answer}\t{conf}", file=self.out)
        for s in r.segments or []:
            emotion = s.emotion or "unsure"
            print(
                f"  {clock(s.start)}-{clock(s.end)}\t{emotion}\t{s.confidence:.2f}", file=self.out
            )
        if r.summary:
            summ = r.summary
            share = ", ".join(f"{k} {v:.0%}" for k, v in summ["share"].items() if v > 0)
            speech = f"speech {summ['speech_duration']:.1f} s of {summ['duration']:.1f} s"
            print(f"  {speech}: {share}", file=self.out)
        self.out.flush()
