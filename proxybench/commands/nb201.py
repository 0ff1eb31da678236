"""``proxybench nb201``: inspect the NAS-Bench-201 space."""

from __future__ import annotations

NAME = "nb201"
HELP = "inspect the NAS-Bench-201 space (one cell, or a summary)"
ORDER = 80
EPILOG = "examples:\n  proxybench nb201 info 0\n  proxybench nb201 info 3,3,3,3,3,3 --classes 100\n" \
         "  proxybench nb201 summary"


def add_arguments(p) -> None:
    nsub = p.add_subparsers(dest="nb201_command", metavar="ACTION", required=True)
    info = nsub.add_parser("info", help="one cell: string, index, encodings, canonical key, counts")
    info.add_argument("arch", help="official index, arch string, or comma-separated op-index tuple")
    info.add_argument("--classes", type=int, default=10, help="classifier outputs (default 10)")
    info.add_argument("--resolution", type=int, default=32, help="input size for FLOPs (default 32)")
    nsub.add_parser("summary", help="size of the space and number of equivalence classes per rule")


def _parse_arch_arg(text: str) -> str:
    from ..benchmarks import nb201

    if "," in text:
        try:
            ops = tuple(int(t) for t in text.split(","))
        except ValueError:
            raise ValueError(f"bad op-index tuple {text!r}: expected 6 comma-separated integers") from None
        return nb201.ops_to_arch(ops)
    return nb201.parse_arch(text)


def run(args) -> int:
    from ..benchmarks import nb201

    if args.nb201_command == "summary":
        print(f"cells: {nb201.NUM_ARCHS}  ops: {', '.join(nb201.OPS)}")
        for rule in nb201.CANONICAL_RULES:
            print(f"equivalence classes ({rule}): {nb201.num_unique(rule)}")
        return 0
    arch = _parse_arch_arg(args.arch)
    params, flops = nb201.nb201_counts(arch, num_classes=args.classes, resolution=args.resolution)
    print(f"arch:           {arch}")
    print(f"index:          {nb201.arch_to_index(arch)}")
    print(f"op tuple:       {nb201.arch_to_ops(arch)}")
    print(f"NASLib tuple:   {nb201.arch_to_naslib(arch)}")
    print(f"canonical:      {nb201.canonical_key(arch)}")
    print(f"representative: {nb201.representative_index(arch)}")
    print(f"params (M):     {params:.6f}")
    print(f"FLOPs (M):      {flops:.6f}  ({args.classes} classes, {args.resolution}x{args.resolution})")
    return 0
