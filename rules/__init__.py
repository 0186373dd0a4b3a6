"""Lastmile's rule language: rule files in, Decisions out. Pure: no I/O after loading."""

from .errors import Problem, RuleError, RuleFileError
from .evaluate import evaluate
from .loader import Catalog, load_catalog, load_rules, load_text
from .records import Decision, FollowUpTask, Prompt, RecordEvent
from .ruleset import RuleSet
from .schema import json_schema

__all__ = [
    "Catalog",
    "Decision",
    "FollowUpTask",
    "Problem",
    "Prompt",
    "RecordEvent",
    "RuleError",
    "RuleFileError",
    "RuleSet",
    "evaluate",
    "json_schema",
    "load_catalog",
    "load_rules",
    "load_text",
]
