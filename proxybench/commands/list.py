"""``proxybench list``: what proxybench knows: proxies, benchmarks, teachers, data sets."""

from __future__ import annotations

import re

NAME = "list"
HELP = "list proxies, benchmarks, search spaces, teachers or datasets with one-line descriptions"
ORDER = 20
DESCRIPTION = """\
List what proxybench knows, one line each:
  proxies     name, direction (+1: the raw value grows with predicted accuracy; -1: it shrinks, and the score
              reported is its negative), what it needs, its paper, and what it computes; with --verbose, every
              proxy's declaration: needs, BN mode, groups and options (type, default, valid values)
  benchmarks  bundled and imported ground-truth tables ('proxybench groundtruth import' adds one)
  spaces      registered search spaces: architectures, how an architecture is written, the features their
              networks offer to proxies that need them
  teachers    the accepted forms of a teacher spec (--teacher)
  datasets    image sets for the input batches (--data)
  groups      proxy groups accepted by --proxies
"""
EPILOG = """\
examples:
  proxybench list proxies
  proxybench list proxies --kd          # only the KD-aware (teacher-based) proxies
  proxybench list proxies --verbose     # each proxy's declaration and options (for --option K=V)
  proxybench list proxies swap zen -v   # the same for some proxies (or groups)
  proxybench list benchmarks
  proxybench list spaces
  proxybench list teachers
"""
WHATS = ("proxies", "benchmarks", "spaces", "teachers", "datasets", "groups")


def add_arguments(p) -> None:
    p.add_argument("what", choices=WHATS, metavar="WHAT", help=f"one of: {', '.join(WHATS)}")
    p.add_argument("names", nargs="*", metavar="NAME", help="proxies: only these proxies or groups")
    p.add_argument("--kd", action="store_true", help="proxies: only those needing a teacher")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="proxies: each proxy's full declaration, options included")


def _needs(spec) -> str:
    parts = []
    if spec.data_free:
        parts.append("no data")
    else:
        parts.append("data" if spec.batches == 1 else f"{spec.batches} batches")
    if spec.labels:
        parts.append("labels")
    if spec.gradients:
        parts.append("gradients")
    if spec.teacher:
        parts.append("teacher")
    parts += [r.feature for r in spec.requires if not r.when]
    return "+".join(parts)


def _paper(text: str) -> str:
    """Authors and year of the first reference: 'Dong, Li & Wei, DisWOT: ..., CVPR 2023' -> 'Dong, Li & Wei 2023'."""
    if not text:
        return ""
    ref = text.split(";")[0]
    parts = [p.strip() for p in ref.split(",")]
    names = [parts[0]]
    if "&" not in parts[0] and "et al" not in parts[0]:
        for part in parts[1:]:
            if "&" in part:
                names.append(part)
                break
            if len(part.split()) != 1:
                break
            names.append(part)
    who = ", ".join(names) if len(names) <= 3 else f"{names[0]} et al."
    years = re.findall(r"(?<![\d.:])((?:19|20)\d{2})(?![\d.])", ref)
    if years and who.endswith(years[-1]):  # 'Hinton et al. 2015'
        return who
    return f"{who} {years[-1]}" if years else who


def _short(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    return "\n".join(lines)


def _select(names: list[str]) -> dict:
    """The specs of the named proxies and groups (all when none is named; aliases such as ``jacob_cov``
    accepted); unknown names raise."""
    from ..analysis.naslib import proxy_name
    from ..proxies import all_specs, proxy_groups

    specs, groups = all_specs(), proxy_groups()
    if not names:
        return specs
    chosen: list[str] = []
    for n in names:
        n = proxy_name(n)
        if n in groups:
            chosen += groups[n]
        elif n in specs:
            chosen.append(n)
        else:
            raise ValueError(f"unknown proxy {n!r}; valid proxies: {', '.join(specs)}; groups: {', '.join(groups)}")
    return {n: specs[n] for n in dict.fromkeys(chosen)}


def _details(name: str, s) -> str:
    """Every field of a proxy's declaration, options one per line."""
    lines = [f"{name}  (direction {s.direction:+d}; needs {_needs(s)}; bn {s.bn}"
             + (f"; groups {', '.join(s.groups)}" if s.groups else "") + ")",
             f"  {_short(s.description or (s.fn.__doc__ or '').strip().split(chr(10) * 2)[0], 300)}"]
    if s.paper:
        lines.append(f"  paper: {s.paper}")
    if s.requires:
        lines.append("  requires: " + "; ".join(r.describe() for r in s.requires))
    if s.options:
        lines.append("  options:")
        lines += [f"    {o.describe()}" for o in s.options]
    else:
        lines.append("  options: none")
    return "\n".join(lines)


def run(args) -> int:
    if args.names and args.what != "proxies":
        raise ValueError(f"names ({', '.join(args.names)}) apply to 'list proxies' only")
    if args.what == "proxies":
        specs = {n: s for n, s in _select(args.names).items() if s.teacher or not args.kd}
        if args.verbose:
            print("\n\n".join(_details(n, s) for n, s in specs.items()))
            return 0
        rows = [(name, f"{s.direction:+d}", _needs(s), _paper(s.paper), _short(s.summary))
                for name, s in specs.items()]
        print(_table(rows, ("proxy", "dir", "needs", "paper", "description")))
    elif args.what == "benchmarks":
        from ..benchmarks.groundtruth import describe_benchmarks
        from ..engine.config import DEFAULT_BENCHMARK

        rows = [(n + (" (default)" if n == DEFAULT_BENCHMARK else ""), d) for n, d in describe_benchmarks()]
        if not rows:
            print("no benchmark is registered; import one with 'proxybench groundtruth import'")
            return 0
        print(_table(rows, ("benchmark", "description")))
    elif args.what == "spaces":
        from ..benchmarks.spaces import all_spaces

        rows = [(name, f"{sp.num_archs:,}", ", ".join(sorted(sp.features)), f"{sp.description}; archs: {sp.arch_form}")
                for name, sp in all_spaces().items()]
        print(_table(rows, ("space", "archs", "features", "description")))
    elif args.what == "teachers":
        from ..distill.teachers import list_teachers

        print(_table(list_teachers(), ("teacher spec", "description")))
    elif args.what == "datasets":
        from ..benchmarks.datasets.registry import REGISTRY

        rows = [(d.name, "x".join(map(str, d.shape)), str(d.num_classes), d.description) for d in REGISTRY.values()]
        print(_table(rows, ("dataset", "shape", "classes", "notes")))
    else:
        from ..proxies import proxy_groups
        from ..proxies.registry import COMPUTED_GROUPS, GROUPS

        groups = proxy_groups()
        rows = [(g, f"{GROUPS[g]}: {', '.join(groups[g])}") for g in GROUPS]
        rows += [(g, COMPUTED_GROUPS[g]) for g in COMPUTED_GROUPS]
        print(_table(rows, ("group", "proxies (a proxy joins a group with groups=(...) in its decorator)")))
    return 0
