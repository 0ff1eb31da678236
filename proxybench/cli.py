"""The ``proxybench`` command line."""

from __future__ import annotations

import argparse
import sys

from ._version import __version__


class UsageError(Exception):
    """Bad usage or bad input: exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxybench",
        description="Score training-free proxies on NAS-Bench-201 networks and correlate them with stored "
                    "vanilla and knowledge-distillation accuracies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  proxybench --version\n  proxybench nb201 info 0\n",
    )
    parser.add_argument("--version", action="version", version=f"proxybench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("nb201", help="inspect the NAS-Bench-201 space")
    nsub = p.add_subparsers(dest="nb201_command", metavar="ACTION", required=True)
    info = nsub.add_parser("info", help="show one cell: string, index, encodings, canonical key, counts")
    info.add_argument("arch", help="official index, arch string, or comma-separated op-index tuple")
    info.add_argument("--classes", type=int, default=10)
    info.add_argument("--resolution", type=int, default=32)
    nsub.add_parser("summary", help="size of the space and number of equivalence classes per rule")
    return parser


def _parse_arch_arg(text: str) -> str:
    from .benchmarks import nb201

    if "," in text:
        try:
            ops = tuple(int(t) for t in text.split(","))
        except ValueError:
            raise UsageError(f"bad op-index tuple {text!r}: expected 6 comma-separated integers") from None
        return nb201.ops_to_arch(ops)
    return nb201.parse_arch(text)


def _cmd_nb201(args) -> int:
    from .benchmarks import nb201

    if args.nb201_command == "summary":
        print(f"cells: {nb201.NUM_ARCHS}  ops: {', '.join(nb201.OPS)}")
        for rule in nb201.CANONICAL_RULES:
            print(f"equivalence classes ({rule}): {nb201.num_unique(rule)}")
        return 0
    arch = _parse_arch_arg(args.arch)
    params, flops = nb201.nb201_counts(arch, num_classes=args.classes, resolution=args.resolution)
    print(f"arch:          {arch}")
    print(f"index:         {nb201.arch_to_index(arch)}")
    print(f"op tuple:      {nb201.arch_to_ops(arch)}")
    print(f"NASLib tuple:  {nb201.arch_to_naslib(arch)}")
    print(f"canonical:     {nb201.canonical_key(arch)}")
    print(f"representative:{nb201.representative_index(arch):>6}")
    print(f"params (M):    {params:.6f}")
    print(f"FLOPs (M):     {flops:.6f}  ({args.classes} classes, {args.resolution}x{args.resolution})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "nb201":
            return _cmd_nb201(args)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        print(f"proxybench: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001
        print(f"proxybench: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
