"""Rule packs checked against the CRM's schema: every object, field and value a rule names.

Runs on packs that loaded cleanly, over their YAML as written, so that each problem points at
the `path:line:col` where the name or value was typed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from .conditions import suggest
from .crm_schema import NUMBER_TYPES, TEXT_TYPES, CrmField, CrmObject, CrmSchema
from .document import Document, Loc
from .errors import Problem
from .loader import Catalog
from .templates import placeholders

# Placeholders every template may use whatever the object: see docs/rules.md "Templates".
_BUILT_IN_PLACEHOLDERS = {"missing", "Id"}
_VALUE_OPERATORS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte")
_PICKLIST_OPERATORS = ("equals", "not_equals", "in", "not_in")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_catalog(catalog: Catalog, schema: CrmSchema) -> list[Problem]:
    """The problems of the catalog's packs and tests against `schema`, in file and line order."""
    problems: list[Problem] = []
    for pack_file in catalog.packs:
        if pack_file.document is not None:
            problems.extend(_PackCheck(pack_file.document, schema).run())
    # A `*.test.yaml` file's tests run against every rule loaded with it.
    every = {r.id: r.rule.object for r in catalog.ruleset.rules}
    for test_file in catalog.test_files:
        if test_file.document is not None:
            problems.extend(_PackCheck(test_file.document, schema).tests(every))
    return sorted(problems, key=lambda p: (p.path, p.line, p.column))


def suggest_field(name: str, obj: CrmObject) -> str:
    """A "did you mean" tail from the object's field names and labels, or nothing."""
    names = list(obj.fields)
    by_label = {f.label.lower(): f.name for f in obj.fields.values() if f.label}
    exact = next((n for n in names if n.lower() == name.lower()), None)
    exact = exact or by_label.get(name.lower()) or by_label.get(name.replace("_", " ").lower())
    if exact:
        return f"; did you mean '{exact}'?"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    label = difflib.get_close_matches(name.lower(), list(by_label), n=1, cutoff=0.6)
    return f"; did you mean '{by_label[label[0]]}'?" if label else ""


class _PackCheck:
    def __init__(self, doc: Document, schema: CrmSchema) -> None:
        self.doc = doc
        self.schema = schema
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        data = self.doc.data
        used: list[CrmObject] = []
        for i, rule in enumerate(data.get("rules") or ()):
            obj = self._object(("rules", i, "object"), rule.get("object"))
            if obj is not None:
                used.append(obj)
                self._rule(("rules", i), rule, obj)
        self._labels(data.get("labels") or {}, used or list(self.schema.objects.values()))
        rule_objects = {
            rule.get("id"): rule.get("object") for rule in data.get("rules") or () if rule
        }
        return self.tests(rule_objects)

    def tests(self, rule_objects: dict[str, str]) -> list[Problem]:
        """The file's `tests:`: the objects and fields their events and expectations name,
        and the values their events hold. `rule_objects` are the tested rules' objects."""
        objects = sorted(set(rule_objects.values()))
        sole = objects[0] if len(objects) == 1 else None
        for i, test in enumerate(self.doc.data.get("tests") or ()):
            loc: Loc = ("tests", i)
            if test.get("event") is not None:
                self._test_steps([(loc, test)], sole, rule_objects)
            else:
                steps = [((*loc, "events", j), step) for j, step in enumerate(test["events"])]
                self._test_steps(steps, sole, rule_objects)
                if test.get("expect") is not None:
                    obj = self._event_object(steps[0], sole, quiet=True)
                    self._expect((*loc, "expect"), test["expect"], obj, rule_objects)
        return self.problems

    def _test_steps(
        self, steps: list[tuple[Loc, dict]], sole: str | None, rule_objects: dict[str, str]
    ) -> None:
        """A test's events: a sequence is about one record, so the first event's object (or
        the rules' only object) is every event's."""
        obj = self._event_object(steps[0], sole)
        for k, (loc, step) in enumerate(steps):
            event = step.get("event") or {}
            if k > 0 and event.get("object") not in (None, getattr(obj, "name", None)):
                continue  # a second object in one sequence: the test runner says so
            if obj is not None:
                for name, value in (event.get("fields") or {}).items():
                    self._event_value((*loc, "event", "fields", name), name, value, obj)
                if event.get("changed") is not None:
                    self._names((*loc, "event", "changed"), event["changed"], obj)
            if step.get("expect") is not None:
                self._expect((*loc, "expect"), step["expect"], obj, rule_objects)

    def _event_object(
        self, step: tuple[Loc, dict], sole: str | None, *, quiet: bool = False
    ) -> CrmObject | None:
        loc, test = step
        named = (test.get("event") or {}).get("object")
        if named is None:
            return self.schema.object(sole) if sole else None
        if quiet:
            return self.schema.object(named)
        return self._object((*loc, "event", "object"), named)

    def _event_value(self, loc: Loc, name: str, value: Any, obj: CrmObject) -> None:
        """A field of a test's event or expected defaults. Its type is not checked: a test may
        send a number as text on purpose, as an Outbound Message read without a schema does."""
        found = self._field(loc, name, obj, key=True)
        message = _outside_picklist(found, value) if found is not None else None
        if message:
            self._add(loc, message)

    def _expect(
        self, loc: Loc, expect: dict, obj: CrmObject | None, rule_objects: dict[str, str]
    ) -> None:
        """Fields named in expectations: `missing` by the rule's object, `defaults` by the
        event's."""
        for rule, names in (expect.get("missing") or {}).items():
            rule_obj = self.schema.object(rule_objects.get(rule, ""))
            if rule_obj is not None:
                self._names((*loc, "missing", rule), names, rule_obj)
        if obj is not None:
            for name, value in (expect.get("defaults") or {}).items():
                self._event_value((*loc, "defaults", name), name, value, obj)

    def _add(self, loc: Loc, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(loc, message, key=key))

    def _object(self, loc: Loc, name: str) -> CrmObject | None:
        obj = self.schema.object(name)
        if obj is None:
            hint = suggest(name, list(self.schema.objects))
            self._add(loc, f"unknown object '{name}' (not in the CRM schema){hint}")
        return obj

    def _field(
        self, loc: Loc, name: str, obj: CrmObject, *, key: bool = False, placeholder: bool = False
    ) -> CrmField | None:
        """The field `name` of `obj`, or None and a problem; a `placeholder` problem points at
        the `{name}` in its template when it can be found on the template's first line.
        A dotted name (`Account.Industry`, in rule tests) is a field of a related record."""
        relationship, dot, rest = name.partition(".")
        if dot:
            target = self._related(loc, relationship, obj)
            return self._field(loc, rest, target, key=key) if target is not None else None
        found = obj.fields.get(name)
        if found is None:
            problem = self.doc.problem(
                loc, f"unknown field '{name}' on {obj.name}{suggest_field(name, obj)}", key=key
            )
            if placeholder:
                problem = self._pointed(problem, "{" + name + "}")
            self.problems.append(problem)
        return found

    def _related(self, loc: Loc, relationship: str, obj: CrmObject) -> CrmObject | None:
        """The object a relationship (`Account`, `Owner`, `Dossier__r`) of `obj` leads to;
        None when it leads to an object the schema does not describe (not checked)."""
        by_name = {_relationship(f.name): f for f in obj.fields.values() if f.references}
        found = by_name.get(relationship)
        if found is None:
            hint = suggest(relationship, list(by_name))
            self._add(loc, f"unknown relationship '{relationship}' on {obj.name}{hint}")
            return None
        return next(filter(None, map(self.schema.object, found.references)), None)

    def _pointed(self, problem: Problem, needle: str) -> Problem:
        lines = self.doc.text.splitlines()
        if 0 < problem.line <= len(lines):
            at = lines[problem.line - 1].find(needle, problem.column - 1)
            if at >= 0:
                return replace(problem, column=at + 2)  # the name, after the brace
        return problem

    def _rule(self, loc: Loc, rule: dict, obj: CrmObject) -> None:
        when = rule.get("if") or {}
        for combinator in ("all", "any"):
            for j, cond in enumerate(when.get(combinator) or ()):
                self._condition((*loc, "if", combinator, j), cond, obj)
        if "not" in when:
            self._condition((*loc, "if", "not"), when["not"], obj)
        if "changed" in when:
            self._names((*loc, "if", "changed"), when["changed"], obj)
        then = rule["then"]
        for j, name in enumerate(then.get("require") or ()):
            self._field((*loc, "then", "require", j), name, obj)
        for name, value in (then.get("default") or {}).items():
            self._default((*loc, "then", "default", name), name, value, obj)
        prompt = then.get("prompt")
        if isinstance(prompt, dict):
            for locale, text in prompt.items():
                self._template((*loc, "then", "prompt", locale), text, obj)
        elif prompt is not None:
            self._template((*loc, "then", "prompt"), prompt, obj)
        for action in ("task", "escalate"):
            for part, text in (then.get(action) or {}).items():
                if part in ("subject", "owner", "related_to"):
                    self._template((*loc, "then", action, part), text, obj)

    def _condition(self, loc: Loc, cond: dict, obj: CrmObject) -> None:
        ((key, value),) = cond.items()
        if key in ("all", "any"):
            for j, item in enumerate(value):
                self._condition((*loc, key, j), item, obj)
        elif key == "not":
            self._condition((*loc, key), value, obj)
        elif key == "changed":
            self._names((*loc, key), value, obj)
        else:
            found = self._field((*loc, key), key, obj, key=True)
            if found is None:
                return
            if not isinstance(value, dict):
                self._value((*loc, key), found, value, "equals")
                return
            ((op, operand),) = value.items()
            if op in ("in", "not_in"):
                for k, item in enumerate(operand):
                    self._value((*loc, key, op, k), found, item, op)
            elif op in _VALUE_OPERATORS:
                self._value((*loc, key, op), found, operand, op)

    def _names(self, loc: Loc, value: str | list[str], obj: CrmObject) -> None:
        if isinstance(value, str):
            self._field(loc, value, obj)
            return
        for j, name in enumerate(value):
            self._field((*loc, j), name, obj)

    def _default(self, loc: Loc, name: str, value: Any, obj: CrmObject) -> None:
        found = self._field(loc, name, obj, key=True)
        if found is None:
            return
        if not found.updateable:
            # Lastmile writes defaults as an update of the saved record.
            self._add(loc, f"{name} cannot be written (it is read-only in the CRM)", key=True)
            return
        self._value(loc, found, value, "equals")

    def _template(self, loc: Loc, text: str, obj: CrmObject) -> None:
        for name in placeholders(text):
            if name not in _BUILT_IN_PLACEHOLDERS:
                self._field(loc, name, obj, placeholder=True)

    def _value(self, loc: Loc, found: CrmField, value: Any, op: str) -> None:
        message = _wrong_value(found, value, op)
        if message:
            self._add(loc, message)

    def _labels(self, labels: dict, objects: list[CrmObject]) -> None:
        """A label names a field of one of the objects the pack's rules are about."""
        every = CrmObject("", "", {n: f for obj in objects for n, f in obj.fields.items()})
        where = ", ".join(sorted({o.name for o in objects})) or "no object"
        for name in labels:
            if name not in every.fields:
                hint = suggest_field(name, every)
                self._add(("labels", name), f"unknown field '{name}' on {where}{hint}", key=True)


def _relationship(field_name: str) -> str:
    """A reference field's relationship name, as SOQL and formulas write it."""
    if field_name.endswith("__c"):
        return field_name.removesuffix("__c") + "__r"
    return field_name.removesuffix("Id")


def _wrong_value(found: CrmField, value: Any, op: str) -> str | None:
    """What is wrong with comparing `found` with `value` (or defaulting it to it), or None."""
    if value is None:
        return None
    kind = found.type
    shown = repr(value)
    if kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{found.name} is a {kind} field: {shown} is not a number"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return f"{found.name} is a checkbox: write true or false, not {shown}"
    elif kind == "date":
        if not (isinstance(value, str) and _DATE.match(value) and _is_date(value)):
            return f"{found.name} is a date: write it as 2026-03-31, not {shown}"
    elif kind == "datetime":
        if not (isinstance(value, str) and _is_datetime(value)):
            return f"{found.name} is a date and time: write it as 2026-03-31T09:00:00Z, not {shown}"
    elif kind not in TEXT_TYPES and kind not in ("reference", "id"):
        return None  # time, location, anyType...: not checked
    elif not isinstance(value, str):
        what = "text" if kind in TEXT_TYPES else f"a {kind}"
        return f"{found.name} is {what}: quote the value ('{value}'), or it never equals the field"
    elif op in _PICKLIST_OPERATORS:
        return _outside_picklist(found, value)
    return None


def _outside_picklist(found: CrmField, value: Any) -> str | None:
    """What is wrong with `value` in a restricted picklist, or None."""
    if not (found.restricted and isinstance(value, str)):
        return None
    # A multi-select picklist's value is its chosen values joined by ';'.
    chosen = value.split(";") if found.type == "multipicklist" else [value]
    wrong = next((v for v in chosen if v not in found.picklist), None)
    if wrong is None:
        return None
    hint = suggest(wrong, list(found.picklist))
    if not hint:
        hint = "; its values are " + ", ".join(f"'{v}'" for v in found.picklist[:12])
    return f"{wrong!r} is not a value of the {found.name} picklist{hint}"


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
