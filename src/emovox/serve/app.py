"""The HTTP service: the model loaded once, inference off the event loop, a bounded queue.

``POST /v1/predict`` takes one audio file (multipart field ``file``) and answers with the same
object ``emovox predict --format json`` gives for it, plus the model's id. Limits answer with
4xx and never affect the next request: an upload over ``max_upload_mb`` (413), audio longer
than ``max_seconds`` (413), a file that is not audio (415), audio that cannot be analysed
(empty, too short, NaN: 422; silence is an answer, ``reason`` silent), more than
``max_pending`` requests waiting or running (429 with Retry-After). ``?stream=true`` sends
progress lines before the answer. ``POST /v1/predict_many`` takes several (field ``files``,
up to ``max_files``) and answers each in order, an unreadable one with its error;
``adapt=folder`` reads them all against one reference voice, as ``emovox predict --adapt
folder`` reads a folder (one speaker or channel); ``adapt`` takes the words of
:data:`emovox.infer.analyzer.ADAPT` (0.5's ``adapt_by=group|none`` until 0.7).
``GET /`` is the web page, served from the package (no CDN). ``/v1/stream`` is a WebSocket
for live analysis (emovox.serve.live: its protocol, limits and close codes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from fastapi import FastAPI, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

import emovox
from emovox import audio
from emovox.infer import palette
from emovox.infer.analyzer import AnalysisConfig, Analyzer, Result
from emovox.infer.config import ADAPT, ADAPT_HELP, PRIOR_HELP, PRIORS
from emovox.infer.speakers import MAX_SPEAKERS
from emovox.serve.config import ServeConfig
from emovox.serve.live import add_stream
from emovox.serve.schema import ERRORS, Answer, Answers, ModelInfo
from emovox.store import integrity, runs

logger = logging.getLogger("emovox.serve")

STATIC = Path(__file__).parent / "static"
STATUS = {  # AudioError class -> HTTP status
    "AudioDecodeError": 415,
    "AudioTooLongError": 413,
    "AudioEmptyError": 422,
    "AudioTooShortError": 422,
    "AudioSilentError": 422,
    "AudioNonFiniteError": 422,
    "InternalError": 500,  # emovox.infer.result.INTERNAL: a bug, said as one
}


class _Service:
    """The model loaded once, its inference threads, and how many requests are in hand."""

    def __init__(self, cfg: ServeConfig, analyzer: Analyzer | None) -> None:
        limits = audio.AudioLimits(max_seconds=cfg.max_seconds)
        self.cfg, self.info, self.pending = cfg, _model_info(cfg.model), 0
        self.analyzer = analyzer or emovox.load_model(
            cfg.model, config=AnalysisConfig(limits=limits), engine=cfg.engine
        )
        self.executor = ThreadPoolExecutor(cfg.workers, thread_name_prefix="emovox-infer")
        cfg = self.analyzer.cfg
        self.variants = {(cfg.speakers, cfg.adapt, cfg.prior): self.analyzer}

    def voices(
        self, speakers: int | None, adapt: str | None = None, prior: str | None = None
    ) -> Analyzer:
        """The analyzer that splits recordings into ``speakers`` voices, adapts to ``adapt``
        and reads under ``prior`` (None: the server's own settings); one per setting, sharing
        the loaded model."""
        cfg = self.analyzer.cfg
        speakers = cfg.speakers if speakers is None else speakers
        if not 0 <= speakers <= MAX_SPEAKERS:
            raise HTTPException(422, f"speakers must be 0 (estimate) to {MAX_SPEAKERS}")
        if adapt is not None and adapt not in ADAPT:
            raise HTTPException(422, f"adapt must be one of {', '.join(ADAPT)}, not {adapt!r}")
        if prior is not None and prior not in PRIORS:
            raise HTTPException(422, f"prior must be one of {', '.join(PRIORS)}, not {prior!r}")
        key = (speakers, adapt or cfg.adapt, prior or cfg.prior)
        if key not in self.variants:
            changed = replace(cfg, speakers=speakers, adapt=key[1], prior=key[2])
            self.variants[key] = Analyzer(self.analyzer.engine, changed)
        return self.variants[key]

    async def predict(
        self,
        request: Request,
        file: UploadFile,
        stream: bool,
        speakers: int | None = None,
        adapt: str | None = None,
    ):
        analyzer = self.voices(speakers, adapt)
        if self.pending >= self.cfg.max_pending:
            raise HTTPException(
                429, "too many requests at once; retry shortly", {"Retry-After": "1"}
            )
        self.pending += 1
        try:
            data = await _read_limited(request, file, int(self.cfg.max_upload_mb * 2**20))
        except BaseException:
            self.pending -= 1
            raise
        name = file.filename or "upload"
        if stream:
            return StreamingResponse(
                self.streamed(data, name, analyzer), media_type="application/x-ndjson"
            )
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, analyzer.predict, data)
        finally:
            self.pending -= 1
        return self.answer(result, name)

    async def predict_many(
        self, request: Request, files: list[UploadFile], adapt: str, prior: str = "model"
    ):
        """Several uploads in one request, in order; ``adapt="folder"``: they share one
        reference voice (one speaker or channel: emovox.infer.adapt), read from all of them;
        ``prior="group"``: they are read under their own mix of emotions (emovox.infer.prior).
        An upload that cannot be read gets an error entry; the others are answered."""
        analyzer = self.voices(None, adapt, prior)
        if not 0 < len(files) <= self.cfg.max_files:
            raise HTTPException(422, f"send 1 to {self.cfg.max_files} files, not {len(files)}")
        if self.pending >= self.cfg.max_pending:
            raise HTTPException(
                429, "too many requests at once; retry shortly", {"Retry-After": "1"}
            )
        self.pending += 1
        try:
            limit = int(self.cfg.max_upload_mb * 2**20)
            datas = [await _read_chunks(f, limit) for f in files]
            names = [f.filename or f"upload{k}" for k, f in enumerate(files)]
            grouped = adapt == "folder" or prior == "group"  # one request, one group
            groups = ["uploads"] * len(files) if grouped else None
            job = lambda: list(  # noqa: E731
                analyzer.predict_many(datas, groups=groups, adapt_groups=adapt == "folder")
            )
            results = await asyncio.get_running_loop().run_in_executor(self.executor, job)
        finally:
            self.pending -= 1
        answers = []
        for name, r in zip(names, results, strict=True):
            r.path = name
            answers.append(r.to_dict() | {"model": self.info["id"]})
        return {"answers": answers, "model": self.info["id"]}

    def answer(self, result: Result, name: str) -> dict:
        result.path = name
        if result.error is not None:
            raise HTTPException(STATUS.get(result.error_type, 422), f"{name}: {result.error}")
        return result.to_dict() | {"model": self.info["id"]}

    async def streamed(self, data: bytes, name: str, analyzer: Analyzer):
        """Progress lines as the analysis advances, then the answer: a long upload shows how
        far it is instead of a bare "Analysing"."""
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()
        try:
            total = max(audio.info(data)[2], 1e-9)
        except (audio.AudioError, OSError):
            total = 0.0
        done = [0.0]

        def advance(seconds: float) -> None:  # in the inference thread
            done[0] += seconds
            if total:
                loop.call_soon_threadsafe(queue.put_nowait, min(done[0] / total, 1.0))

        def line(obj: dict) -> str:
            return json.dumps(obj) + "\n"

        try:
            analyse = lambda: analyzer.predict(data, progress=advance)  # noqa: E731
            job = loop.run_in_executor(self.executor, analyse)
            while not job.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield line({"progress": round(getter.result(), 3)})
                else:
                    getter.cancel()
            while not queue.empty():  # what was told before the job ended
                yield line({"progress": round(queue.get_nowait(), 3)})
            try:
                yield line({"result": self.answer(job.result(), name)})
            except HTTPException as exc:
                yield line({"error": exc.detail, "status": exc.status_code})
        finally:
            self.pending -= 1


def create_app(cfg: ServeConfig | None = None, analyzer: Analyzer | None = None) -> FastAPI:
    """The ASGI app; ``analyzer`` defaults to ``cfg.model`` loaded once."""
    cfg = cfg or ServeConfig()
    service = _Service(cfg, analyzer)
    # no /docs or /redoc: they load their scripts from a CDN, and users may be offline
    app = FastAPI(
        title="emovox",
        version=emovox.__version__,
        description=__doc__,
        docs_url=None,
        redoc_url=None,
    )

    _guard(app, cfg.api_key)

    @app.get("/v1/health")
    async def health() -> dict:
        return {"status": "ok", "model": service.info["id"], "pending": service.pending}

    @app.get("/v1/model", response_model=ModelInfo)
    async def model() -> dict:
        labels = list(service.analyzer.labels)
        return {**service.info, "labels": labels, "version": emovox.__version__}

    @app.post("/v1/predict", response_model=Answer, responses=ERRORS)
    async def predict(
        request: Request,
        file: UploadFile,
        stream: bool = False,
        speakers: int | None = None,
        adapt: str | None = Query(None, description=ADAPT_HELP + " (default: the server's)"),
    ):
        """The file's emotions. ``stream=true``: JSON lines, ``{"progress": 0..1}`` while it
        is analysed, then ``{"result": ...}`` (or ``{"error": ..., "status": ...}``).
        ``speakers``: split a recording into this many voices (0: estimated), as
        ``emovox predict --speakers``; segments then name the speaker."""
        return await service.predict(request, file, stream, speakers, adapt)

    @app.post("/v1/predict_many", response_model=Answers, responses=ERRORS)
    async def predict_many(
        request: Request,
        files: list[UploadFile],
        adapt: str = Form("recording", description=ADAPT_HELP),
        adapt_by: str | None = Form(None, deprecated=True, description="0.5's adapt: group|none"),
        prior: str = Form("model", description=PRIOR_HELP),
    ):
        """Several files' emotions, in order; ``adapt=folder``: read against one reference
        voice estimated from all of them (10 files or more: one speaker, one channel);
        ``prior=group``: under their own mix of emotions (20 files or more)."""
        return await service.predict_many(request, files, _adapt(adapt, adapt_by), prior)

    _page(app)
    service.streams = add_stream(app, service)

    app.router.on_shutdown.append(lambda: service.executor.shutdown(wait=False))
    return app


def _page(app: FastAPI) -> None:
    """The web page at ``/``, its files and the timeline pictures' colours."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/palette.json", include_in_schema=False)
    async def colours() -> dict:
        return palette.palette()


def _guard(app: FastAPI, key: str | None) -> None:
    """The API routes answer only with the right ``X-API-Key`` (when the server has a key)."""

    @app.middleware("http")
    async def api_key(request: Request, call_next):
        guarded = request.url.path in ("/v1/predict", "/v1/predict_many", "/v1/model")
        if key and guarded and request.headers.get("x-api-key") != key:
            return JSONResponse({"detail": "missing or wrong X-API-Key header"}, status_code=401)
        return await call_next(request)


def _adapt(adapt: str, adapt_by: str | None) -> str:
    """``adapt``, or what 0.5's ``adapt_by`` (group|none, logged as deprecated) meant."""
    if adapt_by is None:
        return adapt
    logger.warning(
        "adapt_by=%s is deprecated (gone in 0.7): send adapt=folder|recording|none", adapt_by
    )
    if adapt_by not in ("group", "none"):
        raise HTTPException(422, f"adapt_by must be group or none, not {adapt_by!r}")
    return "folder" if adapt_by == "group" else "recording"


async def _read_limited(request: Request, file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, or 413 as soon as it is known to be over ``limit``."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + 64 * 1024:  # the multipart envelope adds a little
        raise HTTPException(413, f"upload over the limit of {limit / 2**20:.0f} MB")
    data = await _read_chunks(file, limit)
    if not data:
        raise HTTPException(422, f"{file.filename or 'upload'}: empty file")
    return data


async def _read_chunks(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes, or 413 as soon as they are over ``limit`` (an empty one is b"":
    alone it is refused, in a batch the analysis says so)."""
    chunks, size = [], 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"{file.filename}: over the limit of {limit / 2**20:.0f} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _model_info(path: str | None) -> dict:
    """An id (hash of the member files) and a summary of the model card's facts."""
    src = runs.find_model(path)
    h = hashlib.sha256()
    # the digests the members record (verified whenever they are loaded), not the files again
    for stem, meta in zip(src.stems, src.member_meta(), strict=True):
        digest = meta.get(integrity.CHECKSUM_KEY)
        h.update((digest or integrity.sha256_file(Path(stem).with_suffix(".safetensors"))).encode())
    spec_path = src.path / "model.json"
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    train = spec.get("train", {})
    metrics = spec.get("metrics", {})
    card = {
        "kind": train.get("model"),
        "encoder": train.get("encoder"),
        "members": len(src.stems),
        # corpus names, not this machine's folders
        "trained_on": [Path(d).name for d in _as_list(train.get("data"))],
        "protocol": train.get("protocol"),
        "test_accuracy": metrics.get("accuracy"),
        "evaluation": spec.get("evaluation"),
    }
    name = "default" if path is None else Path(path).name
    return {"id": f"{name}-{h.hexdigest()[:12]}", "card": card}


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]
