"""Load on `emovox serve` from another process on localhost: bounded, and it stops by itself.

Starts the server (the bundled model), sends ``--requests`` RAVDESS clips (3-5 s) with
``--concurrency`` in flight, plus ``--long`` 60 s recordings among them, then prints
throughput, clip latency percentiles, errors by status, and the server's peak memory.

    python benchmarks/serve_load.py --requests 500 --concurrency 8 --long 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emovox.data import demo  # noqa: E402
from emovox.data.corpora import read_corpus  # noqa: E402


def start(port: int, args: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "emovox.cli", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError("server did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="../shared/datasets/ravdess")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--long", type=int, default=3, help="60 s recordings sent among the clips")
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--server-args", default="", help="extra emovox serve options")
    args = ap.parse_args()
    rows = read_corpus(args.data).rows
    clips = [Path(r.path).read_bytes() for r in rows[:: max(1, len(rows) // 100)]]
    rec = demo.build([r for r in rows if r.emotion != "calm"][:40], seed=5, pause=(0.3, 1.0))
    buf = io.BytesIO()
    sf.write(buf, rec.wave[: 60 * 16000], 16000, format="FLAC")
    long_bytes = buf.getvalue()
    proc = start(args.port, args.server_args.split())
    url = f"http://127.0.0.1:{args.port}/v1/predict"
    client = httpx.Client(timeout=300)
    idle_rss = peak_rss_mb(proc.pid)

    def send(k: int) -> tuple[str, int, float]:
        is_long = args.long and k % max(1, args.requests // args.long) == 7
        data = long_bytes if is_long else clips[k % len(clips)]
        t0 = time.perf_counter()
        r = client.post(url, files={"file": ("x.flac", data)})
        return ("long" if is_long else "clip"), r.status_code, time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(send, range(args.requests)))
    wall = time.perf_counter() - t0
    lat = np.array([s for kind, code, s in results if kind == "clip" and code == 200])
    codes: dict[str, int] = {}
    for _, code, _ in results:
        codes[str(code)] = codes.get(str(code), 0) + 1
    health = httpx.get(f"http://127.0.0.1:{args.port}/v1/health").status_code
    print(
        json.dumps(
            {
                "requests": args.requests,
                "concurrency": args.concurrency,
                "long_recordings": args.long,
                "wall_s": round(wall, 1),
                "clips_per_s": round(len(lat) / wall, 2),
                "p50_s": round(float(np.percentile(lat, 50)), 3),
                "p95_s": round(float(np.percentile(lat, 95)), 3),
                "p99_s": round(float(np.percentile(lat, 99)), 3),
                "long_s": [round(s, 1) for kind, _, s in results if kind == "long"],
                "status_counts": codes,
                "errors": sum(v for k, v in codes.items() if k != "200"),
                "server_rss_idle_mb": round(idle_rss, 1),
                "server_rss_peak_mb": round(peak_rss_mb(proc.pid), 1),
                "health_after": health,
                "cpus": os.cpu_count(),
            }
        )
    )
    proc.terminate()
    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
