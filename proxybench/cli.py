"""The ``proxybench`` command line.

Each sub-command lives in its own module under :mod:`proxybench.commands` and exposes ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; this module discovers them, so adding a command touches no
other file. Exit status: 0 success, 2 bad usage or bad input, 1 other failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading

from . import commands as _commands
from ._version import __version__


class UsageError(Exception):
    """Bad usage or bad input: exit status 2."""


def _command_modules() -> list:
    mods = []
    for info in pkgutil.iter_modules(_commands.__path__, _commands.__name__ + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        mod = importlib.import_module(info.name)
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="proxybench",
        description="Score training-free proxies on NAS-Bench-201 networks and correlate them with stored "
                    "vanilla and knowledge-distillation accuracies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  proxybench eval\n  proxybench list proxies\n  proxybench nb201 info 0\n"
               "run 'proxybench COMMAND --help' for the options of each command",
    )
    parser.add_argument("--version", action="version", version=f"proxybench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           epilog=getattr(mod, "EPILOG", None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        handlers[mod.NAME] = mod.run
    return parser, handlers


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so a terminated run stops the way an interrupted one does."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(handlers[args.command](args) or 0)
    except Terminated:
        print("proxybench: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("proxybench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `proxybench list proxies | head`): stop quietly, as
        # command-line tools killed by SIGPIPE do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 128 + signal.SIGPIPE
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001
        print(f"proxybench: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
