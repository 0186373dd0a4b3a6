"""The SVG charts: one series per rule, one bar per step or field, figures on the elements,
everything from the figures escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lastmile.webhooks import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def test_compliance_chart_draws_a_series_per_rule_and_a_point_per_week_with_a_figure() -> None:
    svg = parse(
        charts.compliance_chart(
            {
                "call-essentials": [("2026-W46", 0.5), ("2026-W47", 0.75)],
                "proposal-essentials": [("2026-W47", 1.0)],
            }
        )
    )
    series = svg.findall(f".//{SVG}g[@class='series']")
    assert [g.get("data-rule") for g in series] == ["call-essentials", "proposal-essentials"]
    points = [(p.get("data-week"), p.get("data-value")) for p in series[0].iter(f"{SVG}circle")]
    assert points == [("2026-W46", "0.5"), ("2026-W47", "0.75")]
    assert len(series[0].findall(f"{SVG}polyline")) == 1  # two points joined
    assert len(series[1].findall(f"{SVG}polyline")) == 0  # one point: nothing to join
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "2026-W46" in labels and "100%" in labels and "call-essentials" in labels


def test_a_week_without_compliance_breaks_the_line_and_has_no_point() -> None:
    svg = parse(
        charts.compliance_chart(
            {"r": [("2026-W45", 0.2), ("2026-W46", None), ("2026-W47", 0.4), ("2026-W48", 0.6)]}
        )
    )
    (series,) = svg.findall(f".//{SVG}g[@class='series']")
    assert [p.get("data-week") for p in series.iter(f"{SVG}circle")] == [
        "2026-W45",
        "2026-W47",
        "2026-W48",
    ]
    # W45 alone before the gap: no line; W47-W48 after it: one line.
    assert len(series.findall(f"{SVG}polyline")) == 1


def test_points_lie_higher_for_higher_compliance() -> None:
    svg = parse(charts.compliance_chart({"r": [("2026-W46", 0.1), ("2026-W47", 0.9)]}))
    low, high = (float(c.get("cy")) for c in svg.iter(f"{SVG}circle"))
    assert high < low  # SVG's y grows downwards


def test_text_from_figures_is_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    markup = str(charts.compliance_chart({hostile: [("2026-W47", 0.5)]}))
    assert "<script>" not in markup
    svg = parse(markup)
    assert svg.find(f".//{SVG}g[@class='series']").get("data-rule") == hostile
    bars = str(charts.fields_left_empty({hostile: 1}, 2))
    assert "<script>" not in bars
    assert parse(bars).find(f".//{SVG}rect[@class='field-bar']").get("data-label") == hostile


def test_funnel_has_three_steps_in_order_with_their_counts_and_lengths() -> None:
    svg = parse(charts.funnel(5, 3, 2))
    steps = svg.findall(f".//{SVG}rect[@class='funnel-step']")
    assert [(s.get("data-label"), s.get("data-value")) for s in steps] == [
        ("first time", "5.0"),
        ("after prompt", "3.0"),
        ("missed", "2.0"),
    ]
    widths = [float(s.get("width")) for s in steps]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[1] / widths[0] == pytest.approx(3 / 5, abs=0.01)
    assert "5 (50.0%)" in [t.text for t in svg.iter(f"{SVG}text")]


def test_an_empty_funnel_draws_empty_bars() -> None:
    steps = parse(charts.funnel(0, 0, 0)).findall(f".//{SVG}rect[@class='funnel-step']")
    assert len(steps) == 3
    assert {s.get("width") for s in steps} == {"0.0"}


def test_fields_left_empty_sorted_by_count_as_a_share_of_occasions() -> None:
    svg = parse(charts.fields_left_empty({"Description": 2, "Outcome__c": 5, "Next": 0}, 10))
    bars = svg.findall(f".//{SVG}rect[@class='field-bar']")
    assert [b.get("data-label") for b in bars] == ["Outcome__c", "Description", "Next"]
    full = float(bars[0].get("width")) / 0.5
    assert float(bars[1].get("width")) == pytest.approx(full * 0.2, abs=0.1)
    assert "5 of 10" in [t.text for t in svg.iter(f"{SVG}text")]


def test_time_to_comply_shows_median_and_p90_or_nothing() -> None:
    svg = parse(charts.time_to_comply(3600, 86400))
    bars = svg.findall(f".//{SVG}rect[@class='ttc-bar']")
    assert [b.get("data-label") for b in bars] == ["median", "p90"]
    assert float(bars[0].get("width")) < float(bars[1].get("width"))
    assert parse(charts.time_to_comply(None, None)).findall(f".//{SVG}rect[@class='ttc-bar']") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (45, "45 s"),
        (600, "10 min"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (86400, "1 d"),
        (86400 + 4 * 3600, "1 d 4 h"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert charts.duration(seconds) == text


def test_percent() -> None:
    assert charts.percent(0.8) == "80.0%"
    assert charts.percent(2 / 3) == "66.7%"
    assert charts.percent(None) == "–"
