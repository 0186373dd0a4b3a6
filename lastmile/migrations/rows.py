"""Rows a migration derives from the ledger (occasion rows, who overrode a default, the folded
totals), built after the last structural step of an upgrade.

The derivation is the store's own code, which reads today's tables with every column they have.
So a revision that needs rows built only asks for it (`want`), and the newest revision builds
what was asked (`build`) once its columns exist: a store at 0002 upgraded to today gets its
rows made by code that finds every column it reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from lastmile.store import defaults as kept_defaults
from lastmile.store import occasions as kept
from lastmile.store import totals

OCCASIONS = "occasion rows"  # 0003: occasions and default overrides from the ledger
TOTALS = "totals"  # 0004: occasion figures folded up to yesterday


def want(attributes: dict[str, Any], what: str) -> None:
    """Ask for `what` to be built when the upgrade's structural steps are done."""
    attributes.setdefault("lastmile_rows", set()).add(what)


def build(conn: sa.Connection, attributes: dict[str, Any]) -> None:
    """Build what earlier revisions of this upgrade asked for. The rules' deadlines (`within`)
    and the integration user come from the caller when it has them (`lastmile db upgrade`, a
    worker starting); rows built without are derived again with the rules at the first
    indicators asked for."""
    wanted = attributes.get("lastmile_rows", set())
    progress = attributes.get("progress")
    if OCCASIONS in wanted:
        kept.rebuild_rows(conn, attributes.get("within") or {}, progress=progress)
        kept_defaults.refresh_all(conn, attributes.get("integration_user"), progress)
    if TOTALS in wanted:
        today = datetime.combine(datetime.now(UTC).date(), time(), UTC)
        totals.fold(conn, today - timedelta(days=1), progress)
