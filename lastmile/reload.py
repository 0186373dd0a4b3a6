"""The live rules: loaded from a directory, watched, and swapped in whole when it changes.

A changed directory is checked as a whole; only a directory without problems replaces the rules
in use. A bad file keeps the last good rules running and is logged with `path:line:col`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from lastmile.rules import Problem, RuleFileError, RuleSet, load_rules
from lastmile.rules.loader import MAX_FILE_BYTES, rule_files

log = structlog.get_logger("lastmile.rules")


@dataclass(frozen=True)
class RulesStatus:
    version: str | None  # the live rules; None until a first good load
    rules: int
    loaded_at: datetime | None
    problems: tuple[str, ...]  # of the last attempt, if it failed (`path:line:col: message`)


def _fingerprint(path: Path) -> tuple:
    """What changes when a rule file is added, removed or edited (cheap: no file is read)."""
    try:
        files = rule_files([path])
    except RuleFileError:
        return ("missing",)
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


def _check_crm(ruleset: RuleSet, crm: str) -> None:
    """Refuse packs written for another CRM than the one this service talks to: their objects
    and field names mean nothing here, so their rules would never match."""
    wrong: dict[str, Problem] = {}
    for item in ruleset.rules:
        if item.pack.crm != crm and item.pack.pack not in wrong:
            message = (
                f"pack '{item.pack.pack}' is for crm: {item.pack.crm}, but this service talks to "
                f"{crm}; keep the packs of one CRM in a rules directory of its own"
            )
            wrong[item.pack.pack] = Problem(item.source.path, 1, 1, message)
    if wrong:
        raise RuleFileError(list(wrong.values()))


class LiveRules:
    """Holds the rule set in use; `LiveRules(path)()` returns it (a zero-argument callable)."""

    def __init__(
        self,
        path: Path,
        *,
        poll_every: float = 1.0,
        max_file_bytes: int = MAX_FILE_BYTES,
        crm: str = "salesforce",
    ) -> None:
        self.path = Path(path)
        self.crm = crm  # the CRM this service talks to: packs for another are refused
        self.max_file_bytes = max_file_bytes
        self.poll_every = poll_every
        self._ruleset: RuleSet | None = None
        self._loaded_at: datetime | None = None
        self._problems: tuple[str, ...] = ()
        self._seen: tuple | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self) -> RuleSet:
        ruleset = self._ruleset
        if ruleset is None:
            raise RuntimeError(f"no rules loaded from {self.path}: {'; '.join(self._problems)}")
        return ruleset

    def status(self) -> RulesStatus:
        rs = self._ruleset
        return RulesStatus(
            rs.version if rs else None, len(rs.rules) if rs else 0, self._loaded_at, self._problems
        )

    def reload(self) -> bool:
        """Load the directory if it changed since the last attempt; True if new rules went live."""
        with self._lock:
            seen = _fingerprint(self.path)
            if seen == self._seen:
                return False
            self._seen = seen
            try:
                ruleset = load_rules([self.path], max_file_bytes=self.max_file_bytes)
                _check_crm(ruleset, self.crm)
            except RuleFileError as exc:
                self._problems = tuple(str(p) for p in exc.problems)
                for problem in exc.problems:
                    log.error("rules_rejected", problem=str(problem), keeping=self._version())
                return False
            if self._ruleset is not None and ruleset.version == self._ruleset.version:
                self._problems = ()
                return False
            self._ruleset, self._loaded_at, self._problems = ruleset, datetime.now(UTC), ()
            log.info("rules_loaded", version=ruleset.version, rules=len(ruleset.rules))
            return True

    def _version(self) -> str | None:
        return self._ruleset.version if self._ruleset else None

    def start(self) -> LiveRules:
        """Load now, then watch the directory in a background thread."""
        self.reload()
        self._thread = threading.Thread(target=self._watch, name="lastmile-rules", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_every):
            try:
                self.reload()
            except Exception:  # a watcher that dies would freeze the rules silently
                log.exception("rules_watch_failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
