"""``/v1/stream``: live analysis over a WebSocket (:mod:`emovox.infer.live`).

The client's first message is JSON, ``{"format": "f32le" | "s16le", "sample_rate": 48000}``
(little-endian float32 or 16-bit PCM, mono, any rate), or ``{"format": "webm"}`` (also
``"ogg"``: a browser MediaRecorder's chunks, decoded as they come, :mod:`emovox.audio.chunks`);
then binary messages of samples (or chunks) in that format. The server answers
``{"type": "ready", ...}``, then each event as one JSON text message (``speech_started``,
``speech_ended``, ``segment``, ``answer``, ``adapted``) as soon as it is known. The client's
text message ``{"type": "close"}`` asks for the final result: ``{"type": "result",
"result": {...}}`` (what ``/v1/predict`` answers for the same audio), then a normal close.
Limits close the socket with a code and a reason, never affecting another stream or the HTTP
API: 4400 a message that is not what the protocol says (bad JSON, a frame not a whole number
of samples, NaN, chunks that do not decode, a rate that changes mid-stream), 4401 a missing or
wrong API key (header ``X-API-Key`` or, from a browser, ``?api_key=``), 4413 a message over
``max_message_kb`` or a stream over ``max_seconds``, 4429 more than ``max_streams`` at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from emovox.audio.chunks import ChunkDecoder
from emovox.audio.decode import SAMPLE_RATE
from emovox.infer.live import Stream

FORMATS = {"f32le": np.dtype("<f4"), "s16le": np.dtype("<i2")}
COMPRESSED = ("webm", "ogg")  # containers a MediaRecorder writes; FFmpeg finds the codec
logger = logging.getLogger("emovox.serve")


class Refused(Exception):
    """A stream closed by its limits: the close code and the reason sent with it."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class _Source:
    """One connection's stream and how its messages become samples: a sample type, or a
    decoder of compressed chunks."""

    stream: Stream
    dtype: np.dtype | None
    decoder: ChunkDecoder | None

    def close(self) -> None:
        self.stream.abort()
        if self.decoder is not None:
            self.decoder.pipe.end()  # the decoding thread ends too


class Streams:
    """The live streams of one service: how many are open, and threads of their own so a
    stream never waits behind a long upload (nor an upload behind a stream)."""

    def __init__(self, service) -> None:
        self.service, self.cfg, self.open = service, service.cfg, 0
        self.executor = ThreadPoolExecutor(self.cfg.max_streams, thread_name_prefix="emovox-live")

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        key = self.cfg.api_key
        if key and key not in (ws.headers.get("x-api-key"), ws.query_params.get("api_key")):
            await ws.close(4401, "missing or wrong API key (X-API-Key header or ?api_key=)")
            return
        if self.open >= self.cfg.max_streams:
            await ws.close(4429, f"more than {self.cfg.max_streams} streams at once; retry later")
            return
        self.open += 1
        source = None
        try:
            source = await self._start(ws)
            await self._run(ws, source)
        except Refused as why:
            logger.info("stream closed %d: %s", why.code, why.reason)
            await ws.close(why.code, why.reason[:120])
        except WebSocketDisconnect:
            logger.info("stream: the client went away")
        finally:
            self.open -= 1
            if source is not None:
                source.close()

    async def _start(self, ws: WebSocket):
        """The stream (and decoder) the first message describes."""
        first = _json(await ws.receive_text())
        fmt, sr = first.get("format", "f32le"), first.get("sample_rate")
        if fmt not in (*FORMATS, *COMPRESSED):
            known = ", ".join((*FORMATS, *COMPRESSED))
            raise Refused(4400, f"format must be one of {known}, not {fmt!r}")
        if fmt in COMPRESSED:
            sr = SAMPLE_RATE  # what the decoder gives
        if not isinstance(sr, int) or isinstance(sr, bool) or not 1 <= sr <= 768_000:
            raise Refused(4400, f"sample_rate must be a whole number of Hz, not {sr!r}")
        decoder = ChunkDecoder() if fmt in COMPRESSED else None
        source = _Source(self.service.analyzer.stream(sr), FORMATS.get(fmt), decoder)
        labels = list(self.service.analyzer.labels)
        await ws.send_text(json.dumps({"type": "ready", "sample_rate": sr, "labels": labels}))
        return source

    async def _run(self, ws: WebSocket, source: _Source) -> None:
        stream = source.stream
        loop, limit = asyncio.get_running_loop(), int(self.cfg.max_message_kb * 1024)
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(msg.get("code", 1000))
            if msg.get("text") is not None:
                said = _json(msg["text"])
                if said.get("type") != "close":
                    raise Refused(4400, "after the first message, only samples or a close; "
                                  "the rate cannot change mid-stream")  # fmt: skip
                if source.decoder is not None:  # what is still being decoded
                    await self._feed(ws, stream, source.decoder.finish)
                result = await loop.run_in_executor(self.executor, stream.close)
                await ws.send_text(json.dumps({"type": "result", "result": result.to_dict()}))
                await ws.close(1000, "done")
                return
            data = msg.get("bytes") or b""
            if len(data) > limit:
                raise Refused(4413, f"a message of {len(data)} bytes is over {limit}")
            if source.decoder is not None:
                source.decoder.push(data)
                await self._feed(ws, stream, source.decoder.take)
                continue
            if len(data) % source.dtype.itemsize:
                raise Refused(4400, f"{len(data)} bytes is not a whole number of samples")
            await self._feed(ws, stream, partial(np.frombuffer, data, source.dtype))

    async def _feed(self, ws: WebSocket, stream, samples) -> None:
        """``samples()`` (called on a stream thread) through the stream; its events out."""

        def work():
            got = samples()
            if stream.seconds + len(got) / stream.sr > self.cfg.max_seconds:
                raise Refused(4413, f"longer than the maximum of {self.cfg.max_seconds:g} s")
            return stream.feed(got)

        try:
            events = await asyncio.get_running_loop().run_in_executor(self.executor, work)
        except ValueError as exc:
            raise Refused(4400, str(exc)) from None
        for event in events:
            await ws.send_text(json.dumps(event.to_dict()))


def _json(text: str) -> dict:
    try:
        said = json.loads(text)
    except json.JSONDecodeError:
        said = None
    if not isinstance(said, dict):
        raise Refused(4400, "a text message must be a JSON object")
    return said


def add_stream(app: FastAPI, service) -> Streams:
    """``/v1/stream`` on ``app``, over ``service``'s model."""
    streams = Streams(service)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        await streams.serve(ws)

    app.router.on_shutdown.append(lambda: streams.executor.shutdown(wait=False))
    return streams
