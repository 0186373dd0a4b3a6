"""Privacy by design: a team under the minimum size is never named, in the API, the CLI or the
digest, filters included; ids of 15 and 18 characters name the same person."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from measure_support import NORTH, SMALL_TEAM, TINY, World, user

from lastmile.cli.report import digest_cmd, report
from lastmile.measure import OTHER, Teams, TeamsError, UnknownTeam, digest

TIMES = ("2026-11-20T00:00:00Z", "2026-11-24T12:00:00Z")


def test_the_api_never_names_the_small_team(scenario: World) -> None:
    answers = []
    for as_of in TIMES:
        for params in ({}, {"team": SMALL_TEAM}, {"team": OTHER}, {"rule": "call-notes"}):
            answer = scenario.get("/api/indicators", as_of=as_of, **params)
            assert answer.status_code == 200
            answers.append(answer.text)
    assert all(SMALL_TEAM not in text for text in answers)
    assert any('"other"' in text for text in answers)  # its people are counted, as `other`


def test_asking_for_the_small_team_answers_like_an_unknown_team(scenario: World) -> None:
    small = scenario.get("/api/indicators", as_of=TIMES[1], team=SMALL_TEAM).json()
    unknown = scenario.get("/api/indicators", as_of=TIMES[1], team="Nobody Here").json()
    assert small == unknown
    assert small["rules"] == [
        {**small["rules"][0], "occasions": 0}
    ]  # the rule is listed, with nothing in it
    assert small["teams"] == [] and small["weeks"] == [] and small["defaults"] == []


def test_the_cli_report_never_names_the_small_team(scenario: World) -> None:
    runner = CliRunner()
    outputs = []
    for args in ([], ["--json"], ["--team", SMALL_TEAM], ["--team", SMALL_TEAM, "--json"]):
        result = runner.invoke(report, ["--as-of", TIMES[1], *args], env=scenario.env)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert all(SMALL_TEAM not in out for out in outputs)
    assert "Advisers North" in outputs[0] and "other" in outputs[0]
    assert "No occasions for that team." in outputs[2]


def test_the_digest_of_the_small_team_is_refused_without_naming_it(scenario: World) -> None:
    with pytest.raises(UnknownTeam) as caught:
        digest(
            scenario.runtime.store,
            scenario.runtime.rules(),
            scenario.settings,
            SMALL_TEAM,
            date(2026, 11, 18),
        )
    assert SMALL_TEAM not in str(caught.value)
    result = CliRunner().invoke(
        digest_cmd, ["--team", SMALL_TEAM, "--day", "2026-11-18"], env=scenario.env
    )
    assert result.exit_code == 1
    assert SMALL_TEAM not in result.output and "no such team" in result.output
    # `other`, which holds the small team's people, has its digest, and still no name.
    fine = CliRunner().invoke(
        digest_cmd, ["--team", OTHER, "--day", "2026-11-18", "--json"], env=scenario.env
    )
    assert fine.exit_code == 0, fine.output
    assert SMALL_TEAM not in fine.output and json.loads(fine.output)["team"] == OTHER


def test_teams_fold_small_ones_and_match_15_and_18_character_ids(tmp_path: Path) -> None:
    teams = Teams.build({"Advisers North": NORTH, SMALL_TEAM: TINY}, min_group_size=5)
    assert teams.names == ("Advisers North",)
    assert teams.reportable() == ("Advisers North", OTHER)
    assert teams.team_of(NORTH[0]) == teams.team_of(NORTH[0][:15]) == "Advisers North"
    assert teams.team_of(TINY[0]) == OTHER and teams.team_of(user("ZZ")) == OTHER
    assert teams.team_of(None) == OTHER
    # With a lower minimum the two-person team is big enough to be named.
    assert Teams.build({SMALL_TEAM: TINY}, min_group_size=2).team_of(TINY[1][:15]) == SMALL_TEAM
    # A person listed twice counts once.
    assert Teams.build({"Pair": [TINY[0], TINY[0][:15], TINY[1]]}, 3).names == ()
    assert Teams.load(None, 5).team_of(NORTH[0]) == OTHER
    with pytest.raises(UnknownTeam):
        teams.check(SMALL_TEAM)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("teams: [a, b]", "expected `teams:"),
        ("teams:\n  North: 5\n", "must list user ids"),
        ("teams: {North: [", "not valid YAML"),
        (f"teams:\n  A: [{TINY[0]}]\n  B: [{TINY[0][:15]}]\n", "listed in two teams"),
    ],
)
def test_a_bad_teams_file_is_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TeamsError, match=says):
        Teams.load(path, 5)
    with pytest.raises(TeamsError, match="cannot read"):
        Teams.load(tmp_path / "missing.yaml", 5)
