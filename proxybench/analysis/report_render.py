"""Rendering of report blocks (see :mod:`.report_tables`) as Markdown and as self-contained HTML.

HTML embeds each figure as base64 PNG and links its SVG twin (``figures/<name>.svg``); ``details`` blocks become
``<details>`` elements, collapsed, in both formats (GitHub and most Markdown viewers render them).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.35em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.1em; margin-top: 1.2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
td { white-space: nowrap; }
th { background: #f4f4f4; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
tr.nc td { font-style: italic; background: #fbf7e9; }
.kv td { text-align: left; font-family: monospace; word-break: break-all; white-space: normal; }
.kv td:first-child { white-space: nowrap; word-break: normal; }
.note { background: #fff3cd; border: 1px solid #e0c96b; padding: .6em 1em; }
.summary { font-size: 1.05em; background: #f6f8fa; border-left: 4px solid #4c78a8; padding: .6em 1em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
details { margin: .4em 0; } summary { cursor: pointer; font-weight: 600; }
"""


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _relative(path: Path, base: Path) -> str:
    path, base = Path(path).resolve(), base.resolve()
    return (path.relative_to(base) if path.is_relative_to(base) else path).as_posix()


def render_markdown(blocks: list[tuple], base: Path) -> str:
    """Markdown of ``blocks``; figure paths relative to ``base`` (the run directory)."""
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(kind[1])} {b[1]}\n")
        elif kind in ("p", "summary"):
            out.append(f"{b[1]}\n")
        elif kind == "note":
            out.append(f"> **{b[1]}**\n")
        elif kind == "table":
            header, rows, classes = b[1], b[2], b[3]
            lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            for r, c in zip(rows, classes):
                cells = [_md_cell(x) for x in r]
                if c == "nc":
                    cells = [f"*{x}*" if x else x for x in cells]
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines) + "\n")
        elif kind == "figure":
            png = Path(b[2])
            svg = png.with_suffix(".svg")
            vector = f" ([SVG]({_relative(svg, base)}))" if svg.is_file() else ""
            out.append(f"![{b[1]}]({_relative(png, base)})\n\n*{b[1]}*{vector}\n")
        elif kind == "details":
            inner = render_markdown(b[2], base)
            out.append(f"<details>\n<summary>{html.escape(b[1])}</summary>\n\n{inner}\n</details>\n")
    return "\n".join(out)


def _display_width(png: Path, dpi: float = 170.0, css_dpi: float = 100.0) -> int | None:  # dpi: plots.DPI
    """Display width in CSS pixels of a PNG drawn at ``dpi``: its size in inches at ``css_dpi`` (sharp on high-density
    screens, not oversized on others); None when the file is not a PNG."""
    head = Path(png).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return round(int.from_bytes(head[16:20], "big") * css_dpi / dpi)


def _html_blocks(blocks: list[tuple], base: Path | None) -> list[str]:
    e = html.escape
    body = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(b[1])}</p>")
        elif kind == "summary":
            body.append(f'<p class="summary">{e(b[1])}</p>')
        elif kind == "note":
            body.append(f'<p class="note">{e(b[1])}</p>')
        elif kind == "table":
            header, rows, classes = b[1], b[2], b[3]
            cls = ' class="kv"' if header == ["key", "value"] else ""
            parts = [f"<table{cls}><thead><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr></thead>",
                     "<tbody>"]
            for r, c in zip(rows, classes):
                rc = f' class="{c}"' if c else ""
                parts.append(f"<tr{rc}>" + "".join(f"<td>{e(str(x))}</td>" for x in r) + "</tr>")
            parts.append("</tbody></table>")
            body.append("\n".join(parts))
        elif kind == "figure":
            png = Path(b[2])
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            svg = png.with_suffix(".svg")
            link = (f' (<a href="{e(_relative(svg, base))}">SVG</a>)' if base is not None and svg.is_file() else "")
            width = _display_width(png)
            size = f' width="{width}"' if width else ""
            body.append(f'<figure><img alt="{e(b[1])}"{size} src="data:image/png;base64,{data}">'
                        f"<figcaption>{e(b[1])}{link}</figcaption></figure>")
        elif kind == "details":
            body.append(f"<details><summary>{e(b[1])}</summary>\n" + "\n".join(_html_blocks(b[2], base))
                        + "\n</details>")
    return body


def render_html(blocks: list[tuple], base: Path | None = None) -> str:
    """A self-contained HTML page of ``blocks`` (figures embedded; SVG links relative to ``base``)."""
    e = html.escape
    title = next((b[1] for b in blocks if b[0] == "h1"), "proxybench report")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(_html_blocks(blocks, base))
            + "\n</body></html>\n")


__all__ = ["CSS", "render_html", "render_markdown"]
