"""The commands that analyse audio: ``emovox predict`` (each input's result written as soon as
it is done) and ``emovox demo``. Argument parsing and output only; the work is
:class:`emovox.infer.analyzer.Analyzer`'s."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovox import audio
from emovox.audio.files import expand as expand_inputs
from emovox.cli import adapting


def _cmd_predict(args: argparse.Namespace) -> int:
    import emovox
    from emovox import audio
    from emovox.infer.analyzer import AnalysisConfig
    from emovox.infer.formats import Writer, check
    from emovox.infer.timeline import TimelineConfig

    check(args.format, args.every)  # before any other option's check
    inputs = expand_inputs(args.inputs)
    if not inputs:
        raise ValueError("no inputs: the folders and patterns given hold no audio files")
    timeline = TimelineConfig(window=args.window, hop=args.hop, smooth=args.smooth)
    cfg = AnalysisConfig(
        adapt=adapting.chosen(args),
        prior=args.prior,
        speakers=args.speakers,
        threshold=args.threshold,
        timeline=timeline,
        limits=audio.AudioLimits(max_seconds=args.max_seconds),
    )
    out_dir = _timeline_out_dir(args, inputs)
    model = emovox.load_model(args.model, args.device, cfg, _engine(args.engine, inputs))
    writer = Writer(args.format, model.labels, every=args.every, out_dir=out_dir)
    plots = _plot_paths(args.plot, inputs)
    failed = 0
    sources = (read_stdin() if item == "-" else item for item in inputs)
    try:
        with _progress(args, inputs) as advance:
            results = model.predict_many(sources, plots=plots, progress=advance)
            for item, result in zip(inputs, results, strict=True):
                result.path = item
                failed += result.error is not None
                writer.add(result)
    except KeyboardInterrupt:  # keep what is finished, complete in its format
        print(f"interrupted: {writer.count} of {len(inputs)} inputs written", file=sys.stderr)
        return 130
    finally:  # whatever stops the run, what was written is complete in its format
        writer.close()
    if failed:
        print(f"emovox: {failed} of {len(inputs)} inputs could not be analysed", file=sys.stderr)
    return 1 if failed else 0


def _timeline_out_dir(args: argparse.Namespace, inputs: list[str]) -> Path | None:
    """Where one file per input goes (srt, vtt, audacity); None: stdout, for one input."""
    from emovox.infer.formats import TIMELINE_FORMATS

    if args.output_dir is None:
        if args.format in TIMELINE_FORMATS and len(inputs) > 1:
            raise ValueError(f"--format {args.format} writes one file per input: give --output-dir")
        return None
    if args.format not in TIMELINE_FORMATS:
        raise ValueError(f"--output-dir goes with --format {', '.join(TIMELINE_FORMATS)}")
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    return Path(args.output_dir)


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
    from emovox.infer.analyzer import DEFAULT_THRESHOLD, AnalysisConfig
    from emovox.infer.formats import FORMATS
    from emovox.infer.timeline import TimelineConfig

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
        help="text table; json (one list); jsonl (a line per input, as each finishes); csv "
        "(a row per segment); srt / vtt subtitles or an audacity label track of the timeline",
    )
    pr.add_argument(
        "--every",
        type=_positive,
        metavar="SECONDS",
        help="with --format csv: a row per stretch of this many seconds (share of each emotion)",
    )
    pr.add_argument(
        "--output-dir",
        metavar="DIR",
        help="with --format srt, vtt or audacity: one file per input here (needed for several)",
    )
    pr.add_argument(
        "--plot",
        metavar="PNG",
        help="draw the timeline of a recording; for several inputs a folder of <k>-<name>.png",
    )
    pr.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        help="below this top probability the answer is 'unsure' (default: the model's own, "
        f"fitted with its temperature; {DEFAULT_THRESHOLD} for models without one)",
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
        help=f"longer inputs are refused (default {d.limits.max_seconds:.0f}, as the server)",
    )
    pr.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (torch runs it)")
    pr.add_argument(
        "--engine",
        choices=["auto", "numpy", "torch"],
        default="auto",
        help="numpy: fastest start (models that allow it); torch: fastest through many or long "
        "recordings; auto (default): numpy for one input up to 30 s, torch otherwise",
    )
    adapting.add_options(pr)
    pr.add_argument("--speakers", type=int, default=d.speakers, metavar="N", help=SPEAKERS_HELP)
    pr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    pr.set_defaults(func=_cmd_predict)


SPEAKERS_HELP = (
    "voices in a recording: 1 (default): one speaker; N: its windows split into N voices, each "
    "adapted to alone, segments name the speaker (S1, S2, ...); 0: the count estimated (up to 4)"
)


def read_stdin() -> bytes:
    """Standard input's bytes (``-`` as an input)."""
    return sys.stdin.buffer.read()


def _cmd_demo(args: argparse.Namespace) -> int:
    import soundfile as sf

    import emovox
    from emovox.data import corpora, demo
    from emovox.infer.formats import Writer, clock

    model = emovox.load_model()
    rows = [r for r in corpora.read_corpus(args.data).rows if r.emotion in model.labels]
    rows = [r for r in rows if r.speaker == args.speaker or r.speaker.endswith(args.speaker)]
    if not rows:
        raise ValueError(f"{args.data}: no clips of speaker {args.speaker!r} with {model.labels}")
    rec = demo.build(rows[:: max(1, len(rows) // args.clips)][: args.clips], seed=0)
    sf.write(args.out, rec.wave, audio.SAMPLE_RATE)
    result = model.predict(args.out, plot=args.plot)
    Writer("text", model.labels).add(result)
    truth = ", ".join(f"{clock(a)} {e}" for a, _, e in rec.truth)
    s = demo.score(result, rec.truth, len(rec.wave) / audio.SAMPLE_RATE)
    print(f"truth: {truth}")
    print(
        f"frame accuracy {s['frame_accuracy']:.2f}, speech/non-speech {s['speech_accuracy']:.2f}, "
        f"boundary error {s['boundary_error']:.2f} s (the bundled model has heard every RAVDESS "
        f"actor: this shows the pipeline; docs/analysis.md has held-out figures)"
    )
    print(f"-> {args.out}, {args.plot}")
    return 0


def add_demo_parser(sub) -> None:
    dm = sub.add_parser("demo", help="build a recording from a corpus's clips and read it back")
    dm.add_argument("data", nargs="?", default="../shared/datasets/ravdess", help="corpus folder")
    dm.add_argument("--speaker", default="05", help="whose clips (default: RAVDESS actor 05)")
    dm.add_argument("--clips", type=int, default=16, help="how many clips (default 16)")
    dm.add_argument("--out", default="emovox-demo.flac", help="the recording to write")
    dm.add_argument("--plot", default="emovox-demo.png", help="the timeline picture to write")
    dm.set_defaults(func=_cmd_demo)
