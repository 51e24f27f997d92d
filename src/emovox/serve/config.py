"""What the service accepts and how much it does at once (no FastAPI import: the command line
builds its options from these defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from emovox.audio.decode import AudioLimits

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeConfig:
    """What the service accepts and how much it does at once."""

    model: str | None = None  # model folder, run or ensemble run; None: the bundled model
    engine: str = "torch"  # batched: the faster once loaded (docs/analysis.md)
    max_upload_mb: float = 50.0
    max_seconds: float = AudioLimits().max_seconds  # longest audio analysed (as the CLI)
    workers: int = 2  # inference threads: a long recording no longer holds up the clips (p99)
    max_pending: int = 32  # requests waiting or running; more are answered 429
    max_files: int = 200  # uploads in one /v1/predict_many request
    api_key: str | None = None  # when set, X-API-Key must carry it (/v1/predict, /v1/model,
    #   /v1/stream, where a browser may send it as ?api_key= instead)
    max_streams: int = 8  # live streams (/v1/stream) at once; more are closed with 4429
    max_message_kb: float = 1024.0  # one stream message; larger ones close the stream (4413)
