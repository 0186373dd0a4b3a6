"""How `lastmile report` prints the figures: wide tables when they fit the width, otherwise
compact ones (short headers and a legend, rows under their rule, the fields left empty on a line
under each row)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lastmile.cli.screen import Row, echo, fits, pack, print_grid
from lastmile.measure.language import duration, percent

_KEYS = ("occasions", "met_first_time", "met_after_prompt", "missed", "withdrawn", "open")
_WIDE = (
    *("occasions", "first time", "after prompt", "missed", "withdrawn", "open"),
    *("compliance", "median", "p90"),
)
_SHORT = ("occ", "1st", "after", "missed", "wdrawn", "open", "compl", "med", "p90")
_LEGEND = (
    "occ occasions",
    "1st met the first time",
    "after met after the prompt",
    "wdrawn withdrawn",
    "compl compliance",
    "med median time to comply",
    "p90 its 90th percentile",
)
_DEFAULTS = ("rule", "field", "applied", "overridden", "override rate")


def print_report(
    console: Console, figures: dict[str, Any], items: list[dict[str, Any]], by_team: bool
) -> None:
    """The report of `indicators` and `friction`, laid out to the console's width."""
    console.print(f"[bold]Adoption as of {figures['as_of']}[/bold]")
    if not any(r["occasions"] for r in figures["rules"]) and not figures["defaults"]:
        console.print("No occasions for that team." if by_team else "No occasions yet.")
        return
    sections = [
        ("Per rule", figures["rules"], None),
        ("Per team", figures["teams"], "team"),
        ("Per week (of opening)", figures["weeks"], "week"),
    ]
    if "people" in figures:
        sections.append(("Per person (person reports are on)", figures["people"], "person"))
    wide = [_table(*section) for section in sections]
    if fits(console, *wide):
        for table in wide:
            console.print(table)
    else:
        echo(console, pack(_LEGEND, console.width, sep=", "), "dim")
        console.print()
        rank = {r["rule"]: n for n, r in enumerate(figures["rules"])}
        for title, rows, key in sections:
            rows = sorted(rows, key=lambda r: rank.get(r["rule"], len(rank)))  # keys stay in order
            header = (key or "rule", *_SHORT)
            compact = _compact(rows, key, console.width)
            print_grid(console, title, header, compact, right=range(1, len(header)))
    if figures["defaults"]:
        _print_defaults(console, figures["defaults"])
    if items:
        table = _titled("Friction")
        for name in ("rule", "field", "figure", "hint"):
            table.add_column(name, overflow="fold")
        for item in items:
            table.add_row(
                *_texts(item["rule"], item.get("field", ""), item["figure"], item["hint"])
            )
        console.print(table)
    else:
        console.print("Friction: nothing stands out.")


def _figures(row: dict[str, Any]) -> list[str]:
    """Counts, compliance, median and p90 time to comply."""
    waits = row["time_to_comply_s"]
    compliance = row["compliance"]
    return [
        *(str(row[k]) for k in _KEYS),
        percent(compliance) if compliance is not None else "-",
        duration(waits["median"], "en") if waits else "-",
        duration(waits["p90"], "en") if waits else "-",
    ]


def _empty(row: dict[str, Any]) -> list[str]:
    """`Description 3`: how many occasions opened with each field empty; `NextStep 2 with a
    placeholder`: how many saw a placeholder value in it; `prompt held back 4`: how many
    occasions' prompts the prompt budget held back."""
    empty = [f"{field} {n}" for field, n in row["fields_missing"].items() if n]
    filler = row.get("fields_placeholder", {})
    held = [f"prompt held back {row['suppressed']}"] if row.get("suppressed") else []
    return empty + [f"{field} {n} with a placeholder" for field, n in filler.items() if n] + held


def _name(row: dict[str, Any]) -> str:
    """A rule's name, marked when it is in observe mode (measured, nothing written)."""
    return f"{row['rule']} (observe)" if row.get("mode") == "observe" else row["rule"]


def _titled(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)


def _texts(*cells: str) -> list[Text]:
    """Cells shown as they are: a team, rule or field name is no rich markup."""
    return [Text(c) for c in cells]


def _table(title: str, rows: list[dict[str, Any]], key: str | None) -> Table:
    table = _titled(title)
    for name in ([key] if key else []) + ["rule", *_WIDE]:
        table.add_column(name, justify="left" if name in ("rule", key) else "right", no_wrap=True)
    table.add_column("empty at the start", overflow="fold", min_width=16)
    for row in rows:
        empty = ", ".join(_empty(row)) or "-"
        keys = [str(row[key])] if key else []
        table.add_row(*_texts(*keys, _name(row), *_figures(row), empty))
    return table


def _compact(rows: list[dict[str, Any]], key: str | None, width: int) -> list[Row]:
    """With a key (team, week), each row indented under a line naming its rule."""
    indent = "  " if key else ""
    out, rule = [], None
    for row in rows:
        above = pack([row["rule"]], width) if key and row["rule"] != rule else []
        rule = row["rule"]
        lead = f"{indent}  empty at the start: "
        empty = _empty(row)
        below = pack(empty, width, sep=", ", lead=lead, indent=f"{indent}    ") if empty else []
        first = f"{indent}{row[key]}" if key else _name(row)
        out.append(Row((first, *_figures(row)), above, below))
    return out


def _print_defaults(console: Console, defaults: list[dict[str, Any]]) -> None:
    rows = [
        (
            d["rule"],
            d["field"],
            str(d["applied"]),
            str(d["overridden"]),
            percent(d["override_rate"]),
        )
        for d in defaults
    ]
    table = _titled("Defaults")
    for name in _DEFAULTS:
        table.add_column(name, justify="left" if name in ("rule", "field") else "right")
    for row in rows:
        table.add_row(*_texts(*row))
    if fits(console, table):
        console.print(table)
    else:
        print_grid(
            console, "Defaults", _DEFAULTS, [Row(r) for r in rows], right=range(2, len(_DEFAULTS))
        )


def print_versions(console: Console, history: dict[str, Any]) -> None:
    """A rule's figures per version and the change from each to the next (`--versions`)."""
    if not history["versions"]:
        return
    console.print()
    console.print(f"[bold]{history['rule']}: per version[/bold]")
    for n, v in enumerate(history["versions"], 1):
        share = percent(v["compliance"]) if v["compliance"] is not None else "-"
        ci = v["compliance_ci95"]
        interval = f" ({percent(ci[0])} to {percent(ci[1])})" if ci else ""
        console.print(
            f"  v{n} {v['version']} live from {v['week']}: {share}{interval}, "
            f"{v['occasions']} occasions, {v['owners']} owners"
        )
    for n, change in enumerate(history["changes"], 1):
        if change["difference"] is None:
            console.print(f"  v{n} to v{n + 1}: no closed occasions to compare")
            continue
        ci = change["ci95"]
        interval = f" (95 % interval {ci[0] * 100:+.0f} to {ci[1] * 100:+.0f})" if ci else ""
        verdict = "" if change["enough_data"] else ", not enough data"
        console.print(
            f"  v{n} to v{n + 1}: {change['difference'] * 100:+.0f} points{interval}{verdict}"
        )
