"""``emovox predict``: its options, and the loop that analyses each input and writes its
result as soon as it is done (argument parsing and output only; the work is
:class:`emovox.predict.Analyzer`'s)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_predict(args: argparse.Namespace) -> int:
    import emovox
    from emovox import audio
    from emovox.formats import Writer
    from emovox.predict import AnalysisConfig, expand_inputs, read_stdin
    from emovox.timeline import TimelineConfig

    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise ValueError("no inputs: the folders and patterns given hold no audio files")
    timeline = TimelineConfig(window=args.window, hop=args.hop, smooth=args.smooth)
    cfg = AnalysisConfig(
        threshold=args.threshold,
        timeline=timeline,
        limits=audio.AudioLimits(max_seconds=args.max_seconds),
    )
    model = emovox.load_model(args.model, args.device, cfg, _engine(args.engine, inputs))
    writer = Writer(args.format, model.labels)
    plots = _plot_paths(args.plot, inputs)
    failed = 0
    with _progress(args, inputs) as advance:
        for k, item in enumerate(inputs):
            source = read_stdin() if item == "-" else item
            result = model.analyze(source, plot=plots[k], progress=advance)
            if item == "-":
                result.path = "-"
            failed += result.error is not None
            writer.add(result)
    writer.close()
    return 1 if failed else 0


def _engine(engine: str, inputs: list[str]) -> str:
    """``auto``: NumPy (no torch import, 0.4 s to start) for one input of up to 30 s, torch
    (batched: 2.7x faster per second of audio, docs/analysis.md) for anything longer or more."""
    from emovox import audio

    if engine != "auto" or len(inputs) > 1 or inputs[0] == "-":
        return engine if engine != "auto" else "torch"
    try:
        return "auto" if audio.info(inputs[0])[2] <= 30.0 else "torch"
    except (audio.AudioError, OSError):
        return "auto"  # the analysis will report the problem


def _plot_paths(plot: str | None, inputs: list[str]) -> list[Path | None]:
    """``--plot``: the PNG for one input; a folder of ``<name>.png`` for several."""
    if not plot:
        return [None] * len(inputs)
    if len(inputs) == 1 and not plot.endswith("/"):
        return [Path(plot)]
    folder = Path(plot)
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"{k:03d}-{Path(item).stem or 'stdin'}.png" for k, item in enumerate(inputs)]


def _progress(args: argparse.Namespace, inputs: list[str]):
    """A rich progress bar on stderr over the inputs' audio seconds (from their headers);
    a no-op when asked for none."""
    import contextlib

    from emovox import audio

    if args.no_progress or (len(inputs) == 1 and inputs[0] == "-"):
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def bar():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        total = 0.0
        for item in inputs:
            try:
                total += audio.info(item)[2]
            except (audio.AudioError, OSError):
                pass
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("analysing", total=max(total, 1e-9))
            yield lambda seconds: progress.advance(task, seconds)

    return bar()


def _positive(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value}")
    return x


def _probability(value: str) -> float:
    x = float(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return x


PREDICT_EPILOG = """exit status: 0 every input analysed; 1 some inputs could not be read (each
says why: an error line on stderr, or an "error" object); 2 the command itself is wrong (an
invalid option value, an unavailable device, a model folder that is not a model)."""


def add_predict_parser(sub) -> None:
    from emovox.formats import FORMATS
    from emovox.predict import AnalysisConfig
    from emovox.timeline import TimelineConfig

    d, t = AnalysisConfig(), TimelineConfig()
    pr = sub.add_parser(
        "predict",
        help="emotion of recordings: a label per clip, a timeline for long audio",
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pr.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio or video files (WAV, FLAC, MP3, OGG, M4A, AAC, MP4, WebM...), "
        "folders, quoted globs ('talks/*.m4a'), @list.txt, or - for stdin",
    )
    pr.add_argument(
        "--model",
        help="model folder, run folder or ensemble run (default: the model bundled with emovox)",
    )
    pr.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text table; json (one list); jsonl (a line per input, as each finishes); csv",
    )
    pr.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the timeline of a recording; for several inputs a folder of <k>-<name>.png",
    )
    pr.add_argument(
        "--threshold",
        type=_probability,
        default=d.threshold,
        help=f"below this top probability the answer is 'unsure' (default {d.threshold})",
    )
    pr.add_argument(
        "--window",
        type=_positive,
        default=t.window,
        help=f"seconds per prediction (default {t.window})",
    )
    pr.add_argument(
        "--hop", type=_positive, default=t.hop, help=f"seconds between windows (default {t.hop})"
    )
    pr.add_argument(
        "--smooth", type=float, default=t.smooth, help=f"seconds of smoothing (default {t.smooth})"
    )
    pr.add_argument(
        "--max-seconds",
        type=_positive,
        default=d.limits.max_seconds,
        help=f"longer inputs are refused (default {d.limits.max_seconds:.0f})",
    )
    pr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (torch runs it)")
    pr.add_argument(
        "--engine",
        choices=["auto", "numpy", "torch"],
        default="auto",
        help="numpy: fastest start (models that allow it); torch: fastest through many or long "
        "recordings; auto (default): numpy for one input up to 30 s, torch otherwise",
    )
    pr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    pr.set_defaults(func=_cmd_predict)
