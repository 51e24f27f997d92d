"""``emovox serve``: the options, then uvicorn with :func:`emovox.serve.app.create_app`."""

from __future__ import annotations

import argparse
import os


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emovox.serve.app import create_app
    from emovox.serve.config import LOCAL_HOSTS, ServeConfig

    key = args.api_key or os.environ.get("EMOVOX_API_KEY")
    if args.host not in LOCAL_HOSTS and not key and not args.no_auth:
        raise ValueError(
            f"binding to {args.host} exposes the service: give --api-key (or set "
            "EMOVOX_API_KEY), or --no-auth to serve without one"
        )
    cfg = ServeConfig(
        model=args.model,
        engine=args.engine,
        max_upload_mb=args.max_upload_mb,
        max_seconds=args.max_seconds,
        workers=args.workers,
        max_pending=args.max_pending,
        api_key=None if args.no_auth else key,
        max_streams=args.max_streams,
        max_message_kb=args.max_message_kb,
    )
    uvicorn.run(create_app(cfg), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_serve_parser(sub) -> None:
    from emovox.serve.config import ServeConfig

    d = ServeConfig()
    sv = sub.add_parser(
        "serve", help="HTTP service and web page (GET /, POST /v1/predict, WebSocket /v1/stream)"
    )
    sv.add_argument("--model", help="model folder or run (default: the bundled model)")
    sv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--api-key", help="required as X-API-Key (default: $EMOVOX_API_KEY)")
    sv.add_argument("--no-auth", action="store_true", help="no key, even when bound elsewhere")
    sv.add_argument("--engine", choices=["numpy", "torch"], default=d.engine)
    sv.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb)
    sv.add_argument("--max-seconds", type=float, default=d.max_seconds, help="longest audio")
    sv.add_argument("--workers", type=int, default=d.workers, help="inference threads")
    sv.add_argument(
        "--max-pending",
        type=int,
        default=d.max_pending,
        help="requests waiting or running before 429 (default %(default)s)",
    )
    sv.add_argument(
        "--max-streams",
        type=int,
        default=d.max_streams,
        help="live streams (/v1/stream) at once before 4429 (default %(default)s)",
    )
    sv.add_argument(
        "--max-message-kb",
        type=float,
        default=d.max_message_kb,
        help="one live stream message's limit (default %(default)s)",
    )
    sv.add_argument(
        "--log-level", default="info", help="info (default): the address and each request"
    )
    sv.set_defaults(func=_cmd_serve)
