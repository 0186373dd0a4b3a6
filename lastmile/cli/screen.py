"""The width the commands print to, and plain text laid out to it: what `lastmile report`,
`digest` and `events` share so that their output fits an 80-column terminal, nothing cut."""

from __future__ import annotations

import os
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, chop_cells
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.text import Text

WIDTH = 140  # a pipe or a file (no terminal, no COLUMNS): wide lines, the same on every machine
GAP = "  "  # between columns


def console() -> Console:
    """Rich's console at the terminal's width, or at COLUMNS when that is set; WIDTH otherwise."""
    found = Console(highlight=False, soft_wrap=False)
    if found.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return found
    return Console(highlight=False, soft_wrap=False, width=WIDTH)


def fits(console: Console, *parts: RenderableType) -> bool:
    """Whether every part (e.g. a rich Table) prints at the console's width with nothing cut to
    `…` or dropped: its narrowest rendering, measured without a limit, is no wider."""
    unlimited = console.options.update_width(100_000)
    return all(Measurement.get(console, unlimited, p).minimum <= console.width for p in parts)


def echo(console: Console, lines: Iterable[str], style: str = "") -> None:
    """Print lines as they are: no markup, no emoji codes (a team may be called `Sales [EU]`)."""
    for line in lines:
        console.print(Text(line, style=style))


@dataclass(frozen=True)
class Row:
    """A row of `print_grid`: its cells, and lines (fitted to the width) above and below it."""

    cells: Sequence[str]
    above: Sequence[str] = ()
    below: Sequence[str] = ()


def print_grid(
    console: Console,
    title: str,
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    right: Container[int] = (),
    spare: Sequence[int] = (),
) -> None:
    """A titled `grid` at the console's width, each row between its lines above and below."""
    cells = [r.cells for r in rows]
    head, lines = grid(header, cells, console.width, right=right, spare=spare)
    echo(console, pack(title.split(), console.width), "bold")
    echo(console, head[:1], "bold")
    echo(console, head[1:])
    for row, row_lines in zip(rows, lines, strict=True):
        echo(console, [*row.above, *row_lines, *row.below])
    console.print()


def pack(
    items: Iterable[str], width: int, *, sep: str = " ", lead: str = "", indent: str = ""
) -> list[str]:
    """`items` joined by `sep` in lines of at most `width` cells, never splitting an item unless it
    alone is longer than a line. The first line starts with `lead`, the others with `indent`; a
    line that breaks keeps the separator's mark (the comma of ", ")."""
    mark, words = sep.rstrip(), list(items)
    lines: list[str] = []
    line, joiner = lead, ""  # what goes before the next item on this line
    for n, word in enumerate(words):
        tail = mark if n < len(words) - 1 else ""
        wraps = line.strip() and cell_len(line + joiner + word + tail) > width
        if wraps and (joiner or cell_len(indent + word + tail) <= width):  # a lead stays if no use
            lines.append((line + joiner).rstrip())
            line, joiner = indent, ""
        if cell_len(line + word + tail) > width:  # longer than a line on its own: split it
            room = width - max(cell_len(line), cell_len(indent)) - cell_len(tail)
            *whole, word = chop_cells(word, max(room, 1))
            for part in whole:
                lines.append(line + part)
                line = indent
        line, joiner = line + joiner + word, sep
    return [*lines, line]


def grid(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    right: Container[int] = (),
    spare: Sequence[int] = (),
) -> tuple[list[str], list[list[str]]]:
    """Columns `GAP` apart, each as wide as its longest cell (those in `right` aligned right),
    under a header and a rule line: the header's lines and each row's lines, none longer than
    `width` and nothing cut. When the columns do not fit, the `spare` ones leave the table (in
    that order) and follow each row as `header value` pairs; then a first cell too long for the
    room left stands on a line of its own above the rest of its row; and when not even the
    header's first cell has room, there is no header and every other cell is such a pair."""
    widths = [max(map(cell_len, column)) for column in zip(header, *rows, strict=True)]
    shown = list(range(len(header)))

    def room() -> int:  # for the first column
        return width - sum(widths[i] + cell_len(GAP) for i in shown[1:])

    for i in spare:
        if room() >= widths[0]:
            break
        shown.remove(i)
    widths[0] = min(widths[0], room())
    table = widths[0] >= cell_len(header[0])
    if not table:
        shown = [0]
    dropped = [i for i in range(1, len(header)) if i not in shown]

    def line(cells: Sequence[str]) -> str:
        padded = [_pad(cells[i], widths[i], i in right) for i in shown]
        return GAP.join(padded).rstrip()

    out = []
    for row in rows:
        if table and cell_len(row[0]) <= widths[0]:
            lines = [line(row)]
        else:
            lines = pack([row[0]], width) + ([line(["", *row[1:]])] if table else [])
        if dropped:
            indent = " " * (cell_len(row[0]) - cell_len(row[0].lstrip()) + 2)
            pairs = [f"{header[i]} {row[i]}" for i in dropped]
            lines += pack(pairs, width, sep=GAP, lead=indent, indent=indent)
        out.append(lines)
    if not table:
        return [], out
    return [
        line(header),
        "─" * (sum(widths[i] for i in shown) + cell_len(GAP) * (len(shown) - 1)),
    ], out


def _pad(cell: str, width: int, right: bool) -> str:
    space = " " * (width - cell_len(cell))
    return space + cell if right else cell + space
