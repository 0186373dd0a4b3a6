"""What "fits the terminal" means for a command's output, checked the same way in every test
folder. Importable as `widths` from every test folder: pytest puts `tests/` on sys.path for its
conftest.py."""

from __future__ import annotations

from rich.cells import cell_len


def fitted(output: str, width: int) -> list[str]:
    """The output's lines, having checked that none is wider than `width` and nothing was cut
    to `…`."""
    lines = output.splitlines()
    wide = [line for line in lines if cell_len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}:\n" + "\n".join(wide)
    assert "…" not in output, output
    return lines


def columns(width: int | None) -> dict[str, str | None]:
    """The environment of a command printing to a pipe with COLUMNS=`width` (None: unset), also
    where FORCE_COLOR or TTY_COMPATIBLE would make rich take the pipe for a terminal."""
    return {"COLUMNS": None if width is None else str(width), "FORCE_COLOR": None,
            "TTY_COMPATIBLE": None}  # fmt: skip
