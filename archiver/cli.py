"""argparse → Config → run. The one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .config import load_config
from .errors import ArchiverError, UsageError
from .inputs import Inputs, read_inputs
from .progress import JsonReporter, Reporter, TextReporter
from .run import run_archive

# The other commands' modules are imported by their handlers: a cron run that has nothing
# to do should not pay for loading the gallery, discover or retag (bench/: no-op rerun).

__all__ = ["entry", "main"]

COMMANDS = ("archive", "status", "verify", "retag", "index", "rebuild", "discover", "demo")
_TOP_LEVEL = {"-h", "--help", "--version"}


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; returns the exit status (see DESIGN.md)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = _parser().parse_args(_with_command(args_in))
        return int(args.handler(args, stdin or sys.stdin, out, err))
    except ArchiverError as exc:
        print(f"suno-archiver: error: {exc}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("suno-archiver: interrupted", file=err)
        return 130
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2


def entry() -> None:
    """The console script and `python -m archiver`: `main()`, then an exit that skips the
    interpreter's teardown of its ~400 modules (60-80 ms, bench/). By the time main() returns,
    the run has closed the manifest, the lock, the files and the thread pools; only the
    standard streams are left to flush. An unexpected exception still exits the usual way,
    with its traceback. Before anything runs, glibc is asked for fewer malloc arenas
    (memory.py): a setting for the whole process, so it is made here and not by main()."""
    from .memory import limit_malloc_arenas

    limit_malloc_arenas()
    code = main()
    with contextlib.suppress(OSError):  # (a reader that went away: nothing left to tell it)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _with_command(argv: list[str]) -> list[str]:
    if argv and (argv[0] in COMMANDS or argv[0] in _TOP_LEVEL):
        return argv
    return ["archive", *argv]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suno-archiver",
        description="Archive songs made through PiAPI's Suno API: fetch, download, tag, record.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _archive_parser(commands.add_parser("archive", help="archive tasks (the default command)"))
    status = commands.add_parser("status", help="what the archive holds, waits for, has lost")
    _common(status)
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.set_defaults(handler=_status)
    verify = commands.add_parser("verify", help="re-hash every file against the manifest")
    _common(verify)
    _output_options(verify)
    verify.add_argument("--repair", action="store_true",
                        help="fetch missing or changed files again (changed ones are kept aside)")
    verify.set_defaults(handler=_verify)
    retag = commands.add_parser("retag", help="re-apply tags from the stored JSON, offline")
    _common(retag)
    retag.add_argument("--id3-version", choices=("2.3", "2.4"), help="ID3 version (default 2.3)")
    retag.set_defaults(handler=_retag)
    index = commands.add_parser("index", help="rewrite the gallery (index.html, playlist.m3u8)")
    _common(index)
    index.set_defaults(handler=_index)
    rebuild = commands.add_parser(
        "rebuild", help="a new manifest from the .info.json sidecars (the old one is kept)")
    _common(rebuild)
    rebuild.set_defaults(handler=_rebuild)
    _discover_parser(commands.add_parser(
        "discover", help="list the music task IDs in the account's PiAPI history"))
    demo = commands.add_parser("demo", help="archive the bundled samples from an embedded server")
    _common(demo, dest_default="suno-archive-demo")
    _output_options(demo)
    demo.set_defaults(handler=_demo)
    return parser


def _common(parser: argparse.ArgumentParser, dest_default: str | None = None) -> None:
    parser.add_argument("-d", "--dest", metavar="DIR", default=dest_default,
                        help="archive folder (default: config, else ./suno-archive)")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML config (default: $XDG_CONFIG_HOME/suno-archiver/config.toml)")


def _output_options(parser: argparse.ArgumentParser, *, json_events: bool = True) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    if json_events:
        parser.add_argument("--json", action="store_true",
                            help="one JSON event a line on stdout (errors also as text on stderr)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(json=False)


def _archive_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_ids", nargs="*", metavar="TASK_ID")
    parser.add_argument("-i", "--input-file", action="append", default=[], metavar="FILE",
                        help="file of task IDs, one a line ('-' = stdin; '#' comments)")
    parser.add_argument("--from-json", action="append", default=[], metavar="FILE",
                        help="archive a saved Get Task response or webhook payload (no API call)")
    _common(parser)
    _output_options(parser)
    parser.add_argument("-o", "--output", metavar="TEMPLATE",
                        help="file name template (default '{title} [{id8}].{ext}')")
    parser.add_argument("-j", "--jobs", metavar="N", help="concurrent downloads (default 8)")
    parser.add_argument("--api-jobs", metavar="N", help="concurrent API calls (default 4)")
    parser.add_argument("--api-rate", metavar="RPS", help="API requests per second at most")
    parser.add_argument("--assets", metavar="LIST", help="audio,video,image (default: all)")
    parser.add_argument("--id3-version", choices=("2.3", "2.4"), help="ID3 version (default 2.3)")
    parser.add_argument("--give-up-after", metavar="N",
                        help="runs before a dead asset stops counting as an error (default 5)")
    parser.add_argument("--base-url", metavar="URL",
                        help="PiAPI base URL (env PIAPI_BASE_URL; default https://api.piapi.ai)")
    parser.add_argument("--pending", action="store_true", help="re-check every queued task")
    parser.add_argument("--retry-failed", action="store_true",
                        help="ask again about tasks PiAPI failed")
    parser.add_argument("--error-file", metavar="FILE",
                        help="write the IDs of the tasks that failed, for -i to read back")
    parser.set_defaults(handler=_archive)


def _discover_parser(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    _output_options(parser, json_events=False)  # stdout carries the task IDs
    parser.add_argument("--since", metavar="DATE", help="only tasks made on or after DATE")
    parser.add_argument("--until", metavar="DATE", help="only tasks made on or before DATE")
    parser.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="only this model (repeatable; default: every music model)")
    parser.add_argument("--max-pages", type=int, default=1000, metavar="N",
                        help="stop after N pages of 100 (default 1000)")
    parser.add_argument("--archive", action="store_true", help="archive what was found")
    parser.add_argument("--base-url", metavar="URL", help="PiAPI base URL")
    parser.set_defaults(handler=_discover)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {key: value for key, value in vars(args).items() if value is not None}


def _reporter(args: argparse.Namespace, out: TextIO, err: TextIO) -> Reporter:
    if args.json:
        return JsonReporter(out, err, quiet=args.quiet)
    return TextReporter(err, quiet=args.quiet, bars=False if args.no_progress else None)


def _archive(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    config = load_config(_flags(args), os.environ, args.config)
    inputs = read_inputs(args.task_ids, args.input_file, args.from_json, stdin)
    if not inputs and not (config.pending or config.retry_failed) and not inputs.errors:
        raise UsageError("no task IDs given (arguments, -i FILE, --from-json FILE or --pending)")
    error_file = Path(args.error_file) if args.error_file else None
    result = run_archive(config, inputs, _reporter(args, out, err), error_file=error_file)
    return result.exit_code


def _status(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .status import print_status, read_status

    config = load_config(_flags(args), os.environ, args.config)
    print_status(read_status(config.dest), out, args.json)
    return 0


def _demo(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .demorun import run_demo  # the sample server is only loaded for the demo

    return run_demo(Path(args.dest), _reporter(args, out, err), err)


def _verify(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .verify import run_verify

    config = load_config(_flags(args), os.environ, args.config)
    return run_verify(config, args.repair, _reporter(args, out, err), out)


def _retag(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .retag import run_retag

    return run_retag(load_config(_flags(args), os.environ, args.config), err)


def _index(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .gallery import run_index

    return run_index(load_config(_flags(args), os.environ, args.config).dest, err)


def _discover(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .discover import run_discover

    config = load_config(_flags(args), os.environ, args.config)
    found = run_discover(config, args.since, args.until, args.model, args.max_pages, out)
    if not args.quiet:
        print(f"found {len(found)} music task{'s' if len(found) != 1 else ''}", file=err)
    if not args.archive or not found:
        return 0
    inputs = Inputs(task_ids=tuple(entry.task_id for entry in found))
    return run_archive(config, inputs, _reporter(args, out, err)).exit_code


def _rebuild(args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    from .rebuild import run_rebuild

    return run_rebuild(load_config(_flags(args), os.environ, args.config).dest, err)
