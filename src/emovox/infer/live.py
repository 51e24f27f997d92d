"""Live analysis: emotions while someone speaks, from audio fed as it arrives.

``stream = model.stream(sr=48000)``; ``for event in stream.feed(samples): ...``;
``result = stream.close()``. The same pieces as ``predict``, run incrementally: the speech
detector one block at a time (:class:`emovox.audio.vad.Frames`), speech regions by the same
rule over the recent frames, the same windows (:func:`emovox.infer.timeline.windows`) each
scored as soon as its audio (and the context the model hears) has arrived, adaptation to the
voice once it has ``adapt_min_windows`` windows (a running reference: memory stays flat), and
the same decisions. The audio is also written to a temporary file (disk, not memory), and
``close`` analyses it as ``predict`` analyses a file, so the final result is exactly
``predict``'s on the same audio.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import soundfile as sf
import soxr

from emovox.audio import vad, voicing
from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.infer import adapt, timeline
from emovox.infer.result import Result
from emovox.infer.steps import segment_of
from emovox.infer.timeline import Segment

# what an event is; "segment": a window decided; "answer": the running overall answer;
# "adapted": adaptation to the voice switched on; "speech_started" / "speech_ended"
EVENTS = ("speech_started", "speech_ended", "segment", "answer", "adapted")
HORIZON = 60.0  # seconds of recent frames the live speech regions are found in
KEEP = 30.0  # seconds of recent audio kept to cut windows from


@dataclass
class Event:
    """Something the live analysis found, at ``time`` seconds of the stream's audio."""

    type: str  # one of EVENTS
    time: float
    segment: Segment | None = None  # "segment": the window's span and its answer
    answer: dict | None = None  # "answer": emotion, confidence, probabilities, arousal, valence
    detail: str | None = None  # "adapted": to what

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class _Live:
    """The recent audio and frames, and what was already said."""

    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    audio_from: int = 0  # the stream sample index of audio[0]
    probs: list = field(default_factory=list)
    cues: list = field(default_factory=list)
    done: list = field(default_factory=list)  # starts (ms) of the windows scored lately
    speaking: bool = False
    region_start: float = 0.0  # where the speech going on began (it may predate HORIZON)
    sums: np.ndarray | None = None  # the running answer: summed probabilities ...
    dims: np.ndarray | None = None  # ... arousal and valence
    unfamiliar: float = 0.0  # ... unfamiliarity
    windows: int = 0
    adapted: bool = False


class Stream:
    """One live stream through an analyzer (``Analyzer.stream``)."""

    def __init__(self, analyzer, sr: int) -> None:
        if not isinstance(sr, int) or not 1 <= sr <= 768_000:
            raise ValueError(f"sample rate must be a whole number of Hz in 1..768000, not {sr!r}")
        self.analyzer, self.steps, self.sr = analyzer, analyzer.steps, sr
        self.cfg = analyzer.cfg
        self.n = 0  # samples at 16 kHz so far
        self.fed = 0  # samples at the stream's own rate so far
        self.frames = vad.Frames(analyzer.detector)
        self.resampler = soxr.ResampleStream(sr, SR, 1, dtype="float32", quality="HQ") \
            if sr != SR else None  # fmt: skip
        fd, self.path = tempfile.mkstemp(prefix="emovox-live-", suffix=".wav")
        os.close(fd)
        self.file = sf.SoundFile(self.path, "w", SR, 1, subtype="FLOAT")
        self.live = _Live()
        asked = self.steps.asks_adapting()
        self.reference = adapt.Running(self.cfg.reference) if asked else None
        self.closed = False

    # --- audio in -------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[Event]:
        """Mono samples at the stream's rate (float in [-1, 1], or int16); the events they
        complete, in order."""
        if self.closed:
            raise ValueError("the stream is closed")
        wave = _as_float(samples)
        if not np.isfinite(wave).all():  # refused before the resampler's state holds any
            raise ValueError("samples hold NaN or infinity")
        self.fed += len(wave)
        if self.resampler is not None:
            wave = self.resampler.resample_chunk(wave)
        return list(self._take(wave))

    def close(self) -> Result:
        """The final result: the whole stream analysed as ``predict`` analyses a file."""
        if self.closed:
            raise ValueError("the stream is closed")
        if self.resampler is not None:
            list(self._take(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True)))
        self.closed = True
        self.file.close()
        try:
            result = self.analyzer.predict(self.path)
        finally:
            os.unlink(self.path)
        result.path = "<stream>"
        return result

    def abort(self) -> None:
        """Stop without a result (the client went away): the temporary file goes too."""
        if not self.closed:
            self.closed = True
            self.file.close()
            os.unlink(self.path)

    @property
    def seconds(self) -> float:
        """Seconds of audio fed so far."""
        return self.fed / self.sr

    def _take(self, wave: np.ndarray) -> Iterator[Event]:
        self.file.write(wave)
        live = self.live
        live.audio = np.concatenate([live.audio, wave])
        self.n += len(wave)
        probs, cues = self.frames.push(wave)
        live.probs.append(probs)
        live.cues.append(cues)
        if len(probs):
            yield from self._events()
        drop = max(0, len(live.audio) - int(KEEP * SR))
        live.audio, live.audio_from = live.audio[drop:], live.audio_from + drop

    # --- what the recent audio says -------------------------------------------------------
    def _regions(self) -> tuple[list[tuple[float, float]], float]:
        """Speech regions of the last ``HORIZON`` seconds (stream seconds), as ``predict``
        finds them, and the frames' end."""
        live = self.live
        probs, cues = np.concatenate(live.probs), np.concatenate(live.cues)
        keep = int(HORIZON * SR / vad.FRAME)
        live.probs, live.cues = [probs[-keep:]], [cues[-keep:]]
        probs, cues = probs[-keep:].copy(), cues[-keep:]
        if self.cfg.speech.voiced is not None:
            probs[voicing.voiced_speech(cues, self.cfg.speech.voiced)] = 1.0
        heard = self.n - self.n % vad.FRAME  # whole frames so far
        offset = (heard - len(probs) * vad.FRAME) / SR
        found = vad.regions(probs, len(probs) * vad.FRAME, self.cfg.speech)
        return [(a + offset, b + offset) for a, b in found], heard / SR

    def _events(self) -> Iterator[Event]:
        regions, now = self._regions()
        live = self.live
        open_ = bool(regions) and regions[-1][1] >= now - 1e-6
        longer = len(regions) == 1 and regions[0][0] <= now - HORIZON + 1e-6
        if open_ and live.speaking and longer:  # speech going on for longer than the horizon
            regions[0] = (live.region_start, regions[0][1])
        if open_ != live.speaking:
            live.speaking = open_
            if open_:
                live.region_start = regions[-1][0]
            at = regions[-1][0] if open_ else (regions[-1][1] if regions else now)
            yield Event("speech_started" if open_ else "speech_ended", round(at, 3))
        fresh = [w for w in self._ready(regions, now, open_) if not self._done(w[0])]
        if fresh:
            yield from self._score(fresh)

    def _ready(self, regions, now: float, open_: bool) -> list[tuple[float, float]]:
        """The windows over ``regions`` whose audio, context included, has all arrived (of
        speech still going on, only whole windows) and is still kept."""
        cfg = self.cfg.timeline
        kept = self.live.audio_from / SR  # the oldest audio still held
        ready = []
        for k, (a, b) in enumerate(regions):
            going = open_ and k == len(regions) - 1
            spans = timeline.windows([(a, now if going else b)], cfg)
            if going:
                spans = [(s, e) for s, e in spans if e - s >= cfg.window - 1e-6]
            ready += [(s, e) for s, e in spans
                      if e + cfg.context <= now and max(0.0, s - cfg.context) >= kept]  # fmt: skip
        return ready

    def _done(self, start: float) -> bool:
        """Whether a window starting within 0.1 s of ``start`` was scored (a region's start
        moves by a few ms when the next region comes close); forgets what is no longer kept."""
        ms, live = round(start * 1000), self.live
        live.done = [d for d in live.done if d >= 1000 * live.audio_from / SR - 5000]
        return any(abs(ms - d) < 100 for d in live.done)

    def _score(self, spans: list[tuple[float, float]]) -> Iterator[Event]:
        live, cfg = self.live, self.cfg.timeline
        lengths = (int(cfg.min_window * SR), int(cfg.context * SR))
        waves = []
        for s, e in spans:
            a, b = timeline.window_bounds(s, e, self.n, *lengths)
            waves.append(live.audio[max(0, a - live.audio_from) : b - live.audio_from])
            live.done.append(round(s * 1000))
        was = live.adapted
        scores = self._scores(waves)
        if live.adapted and not was:
            said = (
                f"the voice's own windows: {self.reference.n} so far; heads: {self.steps.heads()}"
            )
            yield Event("adapted", round(spans[0][1], 3), detail=said)
        for (s, e), p, o, d in zip(spans, scores.probabilities, scores.unfamiliarity,
                                   scores.dimensions, strict=True):  # fmt: skip
            r = self.steps.decide(Result("<stream>"), p, float(o), d[None])
            yield Event("segment", round(e, 3), segment=segment_of(r, s, e))
            live.sums = p if live.sums is None else live.sums + p
            live.dims = d if live.dims is None else live.dims + d
            live.unfamiliar += float(o)
            live.windows += 1
        yield self._answer(spans[-1][1])

    def _scores(self, waves: list[np.ndarray]):
        """The windows' scores: read alone, or adapted to the voice heard so far once it has
        enough windows (the reference grows with each window)."""
        if self.reference is None:
            return self.steps.alone(waves)
        inputs = self.steps.encode(waves)
        self.reference.add(inputs)
        if not self.steps.enough(self.reference.n):
            return self.steps.classify(inputs)
        self.live.adapted = True
        e = self.steps.engine
        moved = self.reference.adapt(inputs, e.training_means(), e.speaker_normalised())
        return self.steps.classify(moved, adapted=True)

    def _answer(self, at: float) -> Event:
        live = self.live
        n = live.windows
        r = self.steps.decide(Result("<stream>"), live.sums / n, live.unfamiliar / n,
                              (live.dims / n)[None])  # fmt: skip
        answer = {k: getattr(r, k) for k in ("emotion", "reason", "confidence",
                                             "probabilities", "arousal", "valence")}  # fmt: skip
        return Event("answer", round(at, 3), answer=answer)


def _as_float(samples: np.ndarray) -> np.ndarray:
    """Mono float32 samples from float or int16 frames (as a WAV's are read)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"samples must be mono, one dimension, not shape {x.shape}")
    if x.dtype == np.int16:
        return (x / 32768.0).astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"samples must be float or int16, not {x.dtype}")
    return x.astype(np.float32)
