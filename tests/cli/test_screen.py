"""Text laid out to a width (lastmile/cli/screen.py): items never split unless longer than a line,
columns that make room by dropping spare ones, stacking a long first cell, then going to pairs."""

from __future__ import annotations

import pytest
import widths
from click.testing import CliRunner

from lastmile.cli import screen
from lastmile.cli.screen import WIDTH, grid, pack

HEADER = ("id", "status", "record", "tries", "outcome")
ROWS = [
    ("7", "dead", "00T7Q00000Sc0007AAA", "8", "-"),
    ("1234567", "done", "0067Q00000Sc0003AAA", "1", "own_change"),
]


def test_pack_keeps_items_whole_and_the_separator_mark_at_the_break() -> None:
    assert pack(["Description 3", "Outcome__c 4"], 80, sep=", ", lead="empty: ") == [
        "empty: Description 3, Outcome__c 4"
    ]
    assert pack(
        ["Description 3", "Outcome__c 4"], 23, sep=", ", lead="  empty: ", indent="    "
    ) == [
        "  empty: Description 3,",
        "    Outcome__c 4",
    ]
    # A lead with no room for the first item stands alone; an item longer than a line is split.
    assert pack(["Description 3"], 16, lead="empty at start: ", indent="  ") == [
        "empty at start:",
        "  Description 3",
    ]
    assert pack(["abcdefghijklmnop"], 8, lead="> ", indent="  ") == [
        "> abcdef",
        "  ghijkl",
        "  mnop",
    ]
    assert pack([], 10, lead="x") == ["x"]


def test_a_grid_that_fits_aligns_its_columns() -> None:
    head, lines = grid(HEADER, ROWS, 80, right={3})
    assert head == [
        "id       status  record               tries  outcome",
        "─" * 55,
    ]
    assert lines == [
        ["7        dead    00T7Q00000Sc0007AAA      8  -"],
        ["1234567  done    0067Q00000Sc0003AAA      1  own_change"],
    ]


def test_a_narrow_grid_drops_spare_columns_then_stacks_then_pairs() -> None:
    # 48 columns: tries leaves the table for a line under each row.
    head, lines = grid(HEADER, ROWS, 48, spare=(3,))
    assert head[0] == "id       status  record               outcome"
    assert lines[0] == ["7        dead    00T7Q00000Sc0007AAA  -", "  tries 8"]
    # 45: the long id stands above the rest of its row; the short one stays in its column.
    head, lines = grid(HEADER, ROWS, 45, spare=(3,))
    assert head[0] == "id    status  record               outcome"
    assert lines[0] == ["7     dead    00T7Q00000Sc0007AAA  -", "  tries 8"]
    assert lines[1] == ["1234567", "      done    0067Q00000Sc0003AAA  own_change", "  tries 1"]
    # 30: no room even for the header: each row is its first cell and pairs.
    head, lines = grid(HEADER, ROWS, 30, spare=(3,))
    assert head == []
    assert lines[0] == [
        "7",
        "  status dead",
        "  record 00T7Q00000Sc0007AAA",
        "  tries 8  outcome -",
    ]


@pytest.mark.parametrize("width", [30, 40, 45, 48, 80])
def test_no_grid_line_is_wider_than_the_width(width: int) -> None:
    head, lines = grid(HEADER, ROWS, width, spare=(3, 1))
    every = [*head, *(line for row_lines in lines for line in row_lines)]
    assert all(len(line) <= width for line in every)
    text = "\n".join(every)
    assert all(cell in text for row in ROWS for cell in row)


@pytest.mark.parametrize(
    ("columns", "width"), [(None, WIDTH), ("80", 80), ("200", 200), ("wide", WIDTH)]
)
def test_the_width_is_columns_when_set_and_wide_in_a_pipe(columns: str | None, width: int) -> None:
    # CliRunner's output is no terminal, as a pipe or a file.
    with CliRunner(env={**widths.columns(None), "COLUMNS": columns}).isolation():
        assert screen.console().width == width
