"""Durations, natural lists and prompt/task templates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from lastmile.rules.templates import Duration, join_naturally, placeholders, render

# 2026-11-23 is a Monday.
MON = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
THU = MON + timedelta(days=3)
FRI = MON + timedelta(days=4)
SAT = MON + timedelta(days=5)
SUN = MON + timedelta(days=6)


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("30m", 30, "m"),
        ("30 min", 30, "m"),
        ("30 mins", 30, "m"),
        ("1 minute", 1, "m"),
        ("45 minutes", 45, "m"),
        ("4h", 4, "h"),
        ("4 hours", 4, "h"),
        ("1 hour", 1, "h"),
        ("4H", 4, "h"),
        ("2d", 2, "d"),
        ("1 day", 1, "d"),
        ("3 days", 3, "d"),
        ("1w", 1, "w"),
        ("2 weeks", 2, "w"),
        ("2 business days", 2, "bd"),
        ("1 business day", 1, "bd"),
        ("2 Business Days", 2, "bd"),
        ("3bd", 3, "bd"),
        ("  2d  ", 2, "d"),
        ("0h", 0, "h"),
    ],
)
def test_durations_parse(text: str, amount: int, unit: str) -> None:
    d = Duration.parse(text)
    assert (d.amount, d.unit) == (amount, unit)
    assert str(d) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2",
        "h",
        "d2",
        "2.5h",
        "-1d",
        "2 months",
        "2 mo",
        "two days",
        "2 business",
        "2 weekdays",
        "2d 4h",
        "1 y",
        "4 hrs",
        "1e3m",
    ],
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape("is not a duration; write e.g. 30m, 4h, 2d, 1w or 2 business days"),
    ):
        Duration.parse(text)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(days=7)),
        ("0h", timedelta(0)),
    ],
)
def test_calendar_durations_add_exactly(text: str, delta: timedelta) -> None:
    assert Duration.parse(text).after(FRI) == FRI + delta


def test_calendar_days_do_not_skip_weekends() -> None:
    assert Duration.parse("2d").due_date(FRI) == date(2026, 11, 29)  # Sunday


@pytest.mark.parametrize(
    ("start", "text", "due"),
    [
        (MON, "2 business days", date(2026, 11, 25)),  # Wednesday
        (THU, "1 business day", date(2026, 11, 27)),  # Friday
        (THU, "2 business days", date(2026, 11, 30)),  # over the weekend to Monday
        (FRI, "1 business day", date(2026, 11, 30)),  # Monday
        (FRI, "2 business days", date(2026, 12, 1)),  # Tuesday
        (FRI, "5 business days", date(2026, 12, 4)),  # a week later
        (FRI, "10 business days", date(2026, 12, 11)),  # two weeks later
        # From a weekend, as from the Friday before: the first business day is Monday.
        (SAT, "1 business day", date(2026, 11, 30)),  # Monday
        (SAT, "2 business days", date(2026, 12, 1)),  # Tuesday
        (SUN, "2 business days", date(2026, 12, 1)),
        (SAT, "0 business days", date(2026, 11, 30)),  # the Monday itself
        (MON, "0 business days", date(2026, 11, 23)),
    ],
)
def test_business_days(start: datetime, text: str, due: date) -> None:
    assert Duration.parse(text).due_date(start) == due


def test_business_days_keep_the_time_of_day() -> None:
    assert Duration.parse("2 business days").after(FRI) == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert Duration.parse("1bd").after(SAT) == datetime(2026, 11, 30, 10, 30, tzinfo=UTC)


def test_business_days_never_land_on_a_weekend() -> None:
    for offset in range(7):
        start = MON + timedelta(days=offset)
        for n in range(1, 12):
            assert Duration.parse(f"{n}bd").after(start).weekday() < 5


@pytest.mark.parametrize(
    ("items", "locale", "text"),
    [
        ([], "en", ""),
        (["Outcome"], "en", "Outcome"),
        (["Outcome", "Next step"], "en", "Outcome and Next step"),
        (["A", "B", "C"], "en", "A, B and C"),
        (["Uitkomst", "Volgende stap"], "nl", "Uitkomst en Volgende stap"),
        (["A", "B", "C"], "nl", "A, B en C"),
        (["A", "B"], "nl-BE", "A en B"),
        (["A", "B"], "NL", "A en B"),
        (["A", "B"], "de", "A und B"),
        (["A", "B"], "xx", "A and B"),  # an unknown language falls back to English
    ],
)
def test_join_naturally(items: list[str], locale: str, text: str) -> None:
    assert join_naturally(items, locale) == text


def test_placeholders_are_listed_in_order() -> None:
    assert placeholders("Follow-up: {Subject} for {Id} ({missing})") == ["Subject", "Id", "missing"]
    assert placeholders("no placeholders, {{literal}} braces") == []
    assert placeholders("") == []


@pytest.mark.parametrize(
    "template",
    [
        "{}",
        "{0}",
        "{Account.Name}",
        "{Name!r}",
        "{Amount:>10}",
        "{Name[0]}",
        "{_x}",
        "{a b}",
        "{Name",
        "Name}",
    ],
)
def test_bad_placeholders_are_rejected(template: str) -> None:
    with pytest.raises(ValueError):
        placeholders(template)


def test_bad_placeholder_message_says_what_to_write() -> None:
    with pytest.raises(ValueError, match=r"bad placeholder \{Account.Name\}.*write \{FieldName\}"):
        placeholders("Call {Account.Name}")
    with pytest.raises(ValueError, match=r"bad placeholder \{Amount:>10\}"):
        placeholders("{Amount:>10}")


FIELDS = {
    "Subject": "Call Acme",
    "Amount": 5.0,
    "Rate": 2.5,
    "IsWon": True,
    "Lost": False,
    "NextStep": None,
    "Blank": "",
    "Count": 3,
    "Braces": "{Subject}",
}


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("Follow-up: {Subject}", "Follow-up: Call Acme"),
        ("{Amount}/{Rate}/{Count}", "5/2.5/3"),
        ("{IsWon} {Lost}", "true false"),
        ("[{NextStep}]", "[]"),  # null renders as nothing
        ("[{Blank}]", "[]"),
        ("[{NoSuchField}]", "[]"),  # an absent field renders as nothing
        ("Record {Id}", "Record 006A"),
        ("Fill in: {missing}.", "Fill in: Outcome and Next step."),
        ("{Braces}", "{Subject}"),  # a value is never read as a template
        ("{{literal}} {Subject}", "{literal} Call Acme"),
        ("", ""),
    ],
)
def test_render(template: str, text: str) -> None:
    assert render(template, FIELDS, "006A", "Outcome and Next step") == text


def test_render_missing_defaults_to_nothing() -> None:
    assert render("Fill in: {missing}.", {}, "006A") == "Fill in: ."


def test_render_id_prefers_the_records_own_id_field() -> None:
    assert render("{Id}", {"Id": "001X"}, "006A") == "001X"
    assert render("{Id}", {"Id": None}, "006A") == "006A"
    assert render("{Id}", {"Id": ""}, "006A") == "006A"


@pytest.mark.parametrize("text", ["99999999999 days", "99999999999 business days", "3651d", "522w"])
def test_a_duration_past_ten_years_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="longer than 10 years"):
        Duration.parse(text)


def test_ten_years_is_the_longest_duration() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert Duration.parse("3650d").after(start).year == 2035
    assert Duration.parse("2600 business days").after(start) > start
