"""Teams for adoption figures: owner id -> team name, with small teams folded into `other`.

Privacy by design (DESIGN.md): a team with fewer people listed than the minimum group size, and
owners in no team, are reported together as `other`; a small team's name is never handed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..users import user_key

OTHER = "other"


class TeamsError(ValueError):
    """The teams file cannot be used; the message says where and what to change."""


class UnknownTeam(LookupError):
    """A team the figures do not name (unknown, or too small to be named)."""


@dataclass(frozen=True)
class Teams:
    """Who is in which reportable team; everyone else is `other`."""

    _members: dict[str, str] = field(default_factory=dict)  # user key -> reportable team
    names: tuple[str, ...] = ()  # the reportable teams, sorted (never a small one)

    @classmethod
    def load(cls, path: Path | None, min_group_size: int) -> Teams:
        """Read `teams: {Team name: [user id, ...]}`; None: no teams (everyone is `other`)."""
        if path is None:
            return cls()
        try:
            data = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise TeamsError(f"{path}: cannot read the teams file ({exc.strerror})") from None
        except YAMLError as exc:
            raise TeamsError(f"{path}: not valid YAML: {exc}") from None
        return cls.build(_parse(path, data), min_group_size)

    @classmethod
    def build(cls, teams: dict[str, list[str]], min_group_size: int) -> Teams:
        """From team name -> user ids (also what tests use)."""
        owner_of: dict[str, str] = {}
        for name, users in teams.items():
            for user in users:
                key = user_key(user)
                if owner_of.get(key, name) != name:
                    # Said without the teams' names: either might be a small one.
                    raise TeamsError(f"user {user} is listed in two teams; list each person once")
                owner_of[key] = name
        sizes: dict[str, int] = {}
        for name in owner_of.values():
            sizes[name] = sizes.get(name, 0) + 1
        big = {name for name, size in sizes.items() if size >= min_group_size and name != OTHER}
        members = {key: name for key, name in owner_of.items() if name in big}
        return cls(members, tuple(sorted(big)))

    def team_of(self, owner: str | None) -> str:
        """The reportable team of an owner id (15 or 18 characters), or `other`."""
        if not owner:
            return OTHER
        return self._members.get(user_key(owner), OTHER)

    def members(self, team: str | None = None) -> list[str]:
        """The user keys (15-character ids) of a reportable team, or of every such team."""
        return sorted(k for k, name in self._members.items() if team is None or name == team)

    def reportable(self) -> tuple[str, ...]:
        """Every team name a report may show: the big teams and `other`."""
        return (*self.names, OTHER)

    def check(self, team: str) -> str:
        """`team` if a report may name it, else UnknownTeam (a small team answers the same)."""
        if team in self.reportable():
            return team
        raise UnknownTeam(f"no such team in the figures; teams: {', '.join(self.reportable())}")


def _parse(path: Path, data: object) -> dict[str, list[str]]:
    teams = data.get("teams") if isinstance(data, dict) else None
    if not isinstance(teams, dict):
        raise TeamsError(f"{path}: expected `teams: {{Team name: [user id, ...]}}`")
    result: dict[str, list[str]] = {}
    for n, (name, users) in enumerate(teams.items(), 1):
        if not isinstance(name, str) or not name.strip():
            raise TeamsError(f"{path}: team {n} has no name")
        if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
            raise TeamsError(f"{path}: team {n} must list user ids (strings)")
        result[name.strip()] = users
    return result
