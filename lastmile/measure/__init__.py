"""Adoption measurement: occasions from the ledger, indicators per rule, team, week and default,
the friction report and the stand-up digest. Team level by default; small teams are `other`."""

from .digest import DigestPostError, digest, digest_text, post_digest
from .friction import friction
from .indicators import indicators, parse_time
from .teams import OTHER, Teams, TeamsError, UnknownTeam

__all__ = [
    "OTHER",
    "DigestPostError",
    "Teams",
    "TeamsError",
    "UnknownTeam",
    "digest",
    "digest_text",
    "friction",
    "indicators",
    "parse_time",
    "post_digest",
]
