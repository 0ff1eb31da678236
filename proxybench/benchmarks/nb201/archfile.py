"""Files of NB201 architectures: one official index or arch string per line, ``#`` comments allowed.

One reader serves every command that takes such a file (``kd-bench build --archs FILE``, ``eval --archs FILE``).
"""

from __future__ import annotations

from pathlib import Path

from .space import arch_to_index, parse_arch


def read_arch_lines(path: str | Path, what: str = "architecture file") -> list[tuple[int, str]]:
    """The ``(line number, text)`` of every line that is not empty once its ``#`` comment is cut.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not text or lists
    nothing; ``what`` names the file in the message (e.g. ``"--archs file"``)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} does not exist")
    try:
        lines = p.read_text().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{what} {p} is not a text file of indices or arch strings") from None
    items = [(n, text) for n, line in enumerate(lines, 1) if (text := line.split("#", 1)[0].strip())]
    if not items:
        raise ValueError(f"{what} {p} lists no architecture (one official index or arch string per line)")
    return items


def read_arch_indices(path: str | Path, what: str = "architecture file") -> list[int]:
    """The official indices of the architectures a file lists, in file order; a bad line is a ``ValueError``
    naming the file and line."""
    out = []
    for n, text in read_arch_lines(path, what):
        try:
            out.append(arch_to_index(parse_arch(text)))
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: {exc}") from None
    return out
