"""``emovox listen``: live analysis from the microphone, or ``--input FILE`` played at real
time (demos and tests): one line per segment as it happens, the summary on Ctrl-C or at the
file's end. The microphone needs ``pip install 'emovox[live]'`` (sounddevice)."""

from __future__ import annotations

import argparse
import json
import queue
import sys
import time
from collections.abc import Iterator

import numpy as np

from emovox.audio.decode import SAMPLE_RATE

INSTALL = "listening to a microphone needs sounddevice: pip install 'emovox[live]'"


def _cmd_listen(args: argparse.Namespace) -> int:
    import emovox
    from emovox.infer.formats import clock

    engine = "numpy" if args.engine == "auto" else args.engine
    try:
        model = emovox.load_model(args.model, engine=engine)
    except ValueError:  # a model the NumPy backend cannot run
        model = emovox.load_model(args.model, engine="torch")
    blocks = _file(args.input, args.block_ms, args.speed) if args.input else _microphone(args)
    sr = SAMPLE_RATE if args.input else args.rate
    stream = model.stream(sr)
    try:
        for block in blocks:
            for event in stream.feed(block):
                _say(event, args.format, clock)
    except KeyboardInterrupt:
        pass
    finally:
        result = stream.close()
        _summary(result, args.format, clock)
    return 0


def _file(path: str, block_ms: float, speed: float) -> Iterator[np.ndarray]:
    """The file's 16 kHz blocks, each when its audio would have been heard (``speed`` x real
    time; 0: as fast as they can be read)."""
    from emovox import audio

    wave = audio.load(path)
    step = int(SAMPLE_RATE * block_ms / 1000)
    started = time.monotonic()
    for i in range(0, len(wave), step):
        if speed > 0:
            time.sleep(max(0.0, started + (i + step) / SAMPLE_RATE / speed - time.monotonic()))
        yield wave[i : i + step]


def _microphone(args: argparse.Namespace) -> Iterator[np.ndarray]:
    """The default input device's blocks; a RuntimeError saying how to install what it
    needs, before anything starts, when sounddevice (or PortAudio) is missing."""
    try:
        import sounddevice
    except ImportError:
        raise RuntimeError(INSTALL) from None
    except OSError as exc:  # sounddevice without PortAudio
        raise RuntimeError(f"{INSTALL} ({exc})") from None
    return _heard(sounddevice, args)


def _heard(sounddevice, args: argparse.Namespace) -> Iterator[np.ndarray]:
    heard: queue.Queue = queue.Queue()
    step = int(args.rate * args.block_ms / 1000)

    def callback(samples, *_):  # PortAudio's thread: hand the block over, nothing more
        heard.put(samples[:, 0].copy())

    kw = {"samplerate": args.rate, "channels": 1, "dtype": "float32", "blocksize": step}
    with sounddevice.InputStream(callback=callback, **kw):
        print(f"listening at {args.rate} Hz; Ctrl-C ends", file=sys.stderr)
        while True:
            yield heard.get()


def _say(event, fmt: str, clock) -> None:
    if fmt == "jsonl":
        print(json.dumps(event.to_dict()), flush=True)
    elif event.type == "segment":
        s = event.segment
        said = f"{s.emotion} {s.confidence:.2f}" if s.emotion else f"- ({s.reason})"
        dims = f"arousal {s.arousal:+.2f}, valence {s.valence:+.2f}"
        print(f"{clock(s.start)}-{clock(s.end)}\t{said}\t{dims}", flush=True)
    elif event.type == "adapted":
        print(f"adapted to {event.detail}", file=sys.stderr, flush=True)


def _summary(result, fmt: str, clock) -> None:
    from emovox.infer.result import headline

    if fmt == "jsonl":
        print(json.dumps({"type": "result", "result": result.to_dict()}), flush=True)
        return
    summ = result.summary or {}
    share = ", ".join(f"{k} {v:.0%}" for k, v in summ.get("share", {}).items() if v > 0)
    speech = f"speech {summ.get('speech_duration', 0):.1f} s of {summ.get('duration', 0):.1f} s"
    print(f"summary: {headline(result)}; {speech}{': ' + share if share else ''}", flush=True)


def add_listen_parser(sub) -> None:
    p = sub.add_parser("listen", help="live: emotions while someone speaks (microphone or --input)")
    p.add_argument("--input", help="a file played at real time instead of the microphone")
    p.add_argument("--format", choices=["text", "jsonl"], default="text",
                   help="text: a line per segment; jsonl: every event as JSON")  # fmt: skip
    p.add_argument("--model", help="model folder or run (default: the bundled model)")
    p.add_argument("--engine", choices=["auto", "numpy", "torch"], default="auto",
                   help="auto (default): numpy where the model allows it")  # fmt: skip
    p.add_argument("--rate", type=int, default=SAMPLE_RATE, help="microphone sample rate (Hz)")
    p.add_argument("--block-ms", type=float, default=100.0, help="audio fed at a time (ms)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="--input: times real time (0: as fast as it can be read)")  # fmt: skip
    p.set_defaults(func=_cmd_listen)
