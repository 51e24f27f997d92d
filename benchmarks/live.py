"""Live analysis (``model.stream()``, ``/v1/stream``): latency, real-time factor, memory, and
the final result against ``predict`` on the same audio.

- equal: a recording of ``--equal`` minutes fed in random chunks of 1-8000 samples; is the
  final result ``predict``'s on the file (probabilities and segments)?
- one stream, in-process, the NumPy engine, fed at real time for ``--paced`` minutes: latency
  from the end of a window's audio (its context included) to its event, median and p99;
- ``--streams`` streams at once through one ``emovox serve`` (WebSocket; its default engine,
  torch, or ``--serve-engine numpy``), each at real time for ``--paced`` minutes: the same
  latency, over all streams;
- one stream fed ``--minutes`` of audio as fast as it is analysed: real-time factor and memory
  (RSS) after each 10 minutes, against the first minute's.

    python benchmarks/live.py --equal 10 --paced 2 --streams 4 --minutes 60 --block-ms 20

The recording: RAVDESS clips (24 actors) joined with pauses (emovox.data.demo.build_long).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emovox  # noqa: E402
from emovox.data import demo  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402

SR = 16000
BLOCK = 320  # 20 ms a message, as the page's worklet sends (--block-ms)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ready_at(segment: dict, context: float) -> float:
    """When a window's audio, context included, has all arrived (stream seconds)."""
    return segment["end"] + context


def equal(model, wave: np.ndarray, folder: Path) -> dict:
    path = folder / "equal.wav"
    sf.write(path, wave, SR, subtype="FLOAT")
    stream, rng, i, t0 = model.stream(SR), np.random.default_rng(0), 0, time.time()
    while i < len(wave):
        n = int(rng.integers(1, 8001))
        stream.feed(wave[i : i + n])
        i += n
    final, fed = stream.close(), time.time() - t0
    want = model.predict(str(path))
    same = final.probabilities == want.probabilities and [s.to_dict() for s in final.segments] == [
        s.to_dict() for s in want.segments
    ]
    return {
        "minutes": len(wave) / SR / 60,
        "final_equals_predict": same,
        "segments": len(want.segments),
        "seconds_feeding_and_closing": round(fed, 1),
    }


def paced_one(model, wave: np.ndarray, minutes: float) -> dict:
    """One in-process stream at real time: each event's delay past its window's audio."""
    stream, context = model.stream(SR), model.cfg.timeline.context
    delays, t0 = [], time.monotonic()
    for i in range(0, int(minutes * 60 * SR), BLOCK):
        time.sleep(max(0.0, t0 + (i + BLOCK) / SR - time.monotonic()))  # the block is heard
        for e in stream.feed(wave[i : i + BLOCK]):
            if e.type == "segment":
                delays.append(time.monotonic() - (t0 + ready_at(e.segment.to_dict(), context)))
    stream.close()
    return summary(delays)


def summary(delays: list[float]) -> dict:
    ms = sorted(1000 * d for d in delays)
    return {"events": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1)}  # fmt: skip


def paced_served(wave: np.ndarray, minutes: float, streams: int, engine: str) -> dict:
    """``streams`` WebSocket clients at real time through one server."""
    from websockets.sync.client import connect

    port = 8790
    cmd = ["serve", "--port", str(port), "--engine", engine, "--max-streams", str(streams)]
    server = subprocess.Popen([sys.executable, "-m", "emovox.cli", *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(8)
    delays, lock, context = [], threading.Lock(), emovox.load_model().cfg.timeline.context

    def client(k: int) -> None:
        offset = int(k * 37.3 * SR)  # each stream hears a different stretch
        part = np.roll(wave, -offset)[: int(minutes * 60 * SR)]
        started: list[float] = []  # when the stream's time 0 was
        with connect(f"ws://127.0.0.1:{port}/v1/stream", max_size=None) as ws:
            ws.send(json.dumps({"format": "f32le", "sample_rate": SR}))
            ws.recv()
            done = threading.Event()

            def listen() -> None:
                while True:
                    m = json.loads(ws.recv())
                    if m["type"] == "segment":
                        due = started[0] + ready_at(m["segment"], context)
                        with lock:
                            delays.append(time.monotonic() - due)
                    if m["type"] == "result":
                        done.set()
                        return

            threading.Thread(target=listen, daemon=True).start()
            t0 = time.monotonic()
            started.append(t0)
            for i in range(0, len(part), BLOCK):  # each block when it has been heard
                time.sleep(max(0.0, t0 + (i + BLOCK) / SR - time.monotonic()))
                ws.send(part[i : i + BLOCK].astype("<f4").tobytes())
            ws.send(json.dumps({"type": "close"}))
            done.wait(600)

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(30)
    return {"streams": streams, "engine": engine, "block_ms": 1000 * BLOCK / SR, **summary(delays)}


def long_run(model, wave: np.ndarray, minutes: float) -> dict:
    """One stream fed ``minutes`` (the recording looped) as fast as it is analysed."""
    stream, memory, t0 = model.stream(SR), {}, time.time()
    step = 60 * SR
    for m in range(int(minutes)):
        start = (m * step) % (len(wave) - step)
        for i in range(start, start + step, BLOCK):
            stream.feed(wave[i : i + BLOCK])
        if m == 0 or (m + 1) % 10 == 0:
            memory[m + 1] = round(rss_mb(), 1)
    fed = time.time() - t0
    stream.close()
    return {"minutes": minutes, "real_time_factor": round(fed / (minutes * 60), 3),
            "rss_mb_after_minute": memory,
            "rss_growth_mb": round(max(memory.values()) - memory[1], 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--equal", type=float, default=10.0, help="minutes fed in random chunks")
    ap.add_argument("--paced", type=float, default=2.0, help="minutes at real time")
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=60.0, help="minutes for RTF and memory")
    ap.add_argument("--block-ms", type=float, default=20.0, help="audio per message")
    ap.add_argument("--serve-engine", default="torch", help="as emovox serve's default")
    args = ap.parse_args()
    global BLOCK
    BLOCK = int(SR * args.block_ms / 1000)
    rows = [r for r in read_corpus(args.data).rows if r.emotion != "calm"]
    wave = demo.build_long(rows, 10 * 60, seed=1).wave.astype(np.float32)
    model = emovox.load_model(engine="numpy")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.equal:
            out["equal"] = equal(model, wave[: int(args.equal * 60 * SR)], Path(tmp))
            print(json.dumps(out["equal"]), flush=True)
    if args.paced:
        out["one_stream"] = {"block_ms": args.block_ms, **paced_one(model, wave, args.paced)}
        print(json.dumps(out["one_stream"]), flush=True)
        if args.streams:
            out["served"] = paced_served(wave, args.paced, args.streams, args.serve_engine)
            print(json.dumps(out["served"]), flush=True)
    if args.minutes:
        out["long"] = long_run(model, wave, args.minutes)
        print(json.dumps(out["long"]), flush=True)


if __name__ == "__main__":
    main()
