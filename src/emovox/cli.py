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
