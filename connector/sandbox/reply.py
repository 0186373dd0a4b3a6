"""A REST answer (status, JSON body, headers), framework-free so composite subrequests can be
answered and collected like top-level requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SalesforceError


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, exc: SalesforceError) -> Reply:
        return cls(exc.status, exc.body())
