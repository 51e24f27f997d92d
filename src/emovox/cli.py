"""Command-line interface: argument parsing only; each command calls one function below."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_data_inspect(args: argparse.Namespace) -> int:
    from emovox import corpora

    manifest = corpora.read_corpus(args.path, args.corpus)
    if not args.headers_only:
        manifest = corpora.check_audio(manifest)
    summary = corpora.summarise(manifest)
    if args.json:
        print(json.dumps(summary))
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{args.path}[/]: {summary['files']} files, {summary['speakers']} speakers, "
              f"{summary['duration_s'] / 60:.1f} min")  # fmt: skip
    for key in ("emotions", "corpora", "genders"):
        t = Table(key, "files")
        for k, v in summary[key].items():
            t.add_row(k or "(unknown)", str(v))
        con.print(t)
    per = summary["per_speaker"].values()
    if per:
        con.print(f"files per speaker: min {min(per)}, max {max(per)}")
    if summary["problems"]:
        con.print(f"[red]{len(summary['problems'])} problem files:[/]")
        for p in summary["problems"]:
            con.print(f"  {p['path']}: {p['cause']}")
    else:
        con.print("no problem files")
    return 0


def _cmd_features_extract(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.progress import Progress

    from emovox import corpora, data
    from emovox.cache import ArrayCache
    from emovox.evaluate import write_json
    from emovox.features import FeatureConfig, FeatureExtractor

    manifest = corpora.read_corpus(args.data, args.corpus)
    clips = data.load_clips(manifest.rows)
    cfg = FeatureConfig()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Progress() as bar:
        task = bar.add_task("features", total=len(clips.waves))
        feats = data.clean_features(
            clips.waves, [r.sha1 for r in clips.rows], FeatureExtractor(cfg),
            None if args.no_cache else ArrayCache(), progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    offsets = np.cumsum([0] + [len(f) for f in feats])
    tmp = out / "features.tmp.npz"
    np.savez(tmp, features=np.concatenate(feats), offsets=offsets,
             paths=np.array([r.path for r in clips.rows]),
             emotions=np.array([r.emotion for r in clips.rows]),
             speakers=np.array([r.speaker for r in clips.rows]),
             feature_names=np.array([f"{g}{i}" for g, n in cfg.dims().items()
                                     for i in range(n)]))  # fmt: skip
    tmp.replace(out / "features.npz")
    corpora.Manifest(clips.rows, []).write_tsv(out / "manifest.tsv")
    write_json({"feature_config": cfg.to_dict(), "slices": {g: [s.start, s.stop] for g, s in
                cfg.slices().items()}, "errors": clips.errors}, out / "features.json")  # fmt: skip
    print(f"{len(feats)} clips, {int(offsets[-1])} frames x {cfg.n_features} features -> "
          f"{out / 'features.npz'}; {len(clips.errors)} unreadable files")  # fmt: skip
    for path, cause in clips.errors:
        print(f"  {path}: {cause}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emovox", description="Speech emotion recognition toolkit")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="corpus manifests").add_subparsers(dest="sub", required=True)
    insp = data.add_parser("inspect", help="counts per emotion/speaker/corpus and problem files")
    insp.add_argument("path", help="corpus folder, CSV (path,label,speaker) or manifest TSV")
    insp.add_argument("--corpus", help="reader to use (default: detect from file names)")
    insp.add_argument("--json", action="store_true", help="print one JSON object")
    insp.add_argument("--headers-only", action="store_true",
                      help="read headers only (fast); default decodes every file")  # fmt: skip
    insp.set_defaults(func=_cmd_data_inspect)

    feat = sub.add_parser("features", help="handcrafted features").add_subparsers(
        dest="sub", required=True)
    ext = feat.add_parser("extract", help="write frame-level features of a corpus to DIR")
    ext.add_argument("data", help="corpus folder, CSV or manifest TSV")
    ext.add_argument("--out", required=True, help="output folder (features.npz + manifest.tsv)")
    ext.add_argument("--corpus", help="reader to use (default: detect)")
    ext.add_argument("--no-cache", action="store_true", help="do not read/write the cache")
    ext.set_defaults(func=_cmd_features_extract)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"emovox: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
