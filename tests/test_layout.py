"""The package's shape as DESIGN.md draws it: one import name, no import cycles, each folder
importing only what its row of the layout table allows, and a command line that imports a
command's dependencies only when that command runs."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lastmile.rules, .connector and .webhooks live in the top-level folders rules/, connector/ and
# webhooks/ (setuptools' package-dir): walk each, since lastmile/ does not hold them.
ROOTS = ("lastmile", "lastmile.rules", "lastmile.connector", "lastmile.webhooks")
WIRING = (
    "lastmile.runtime",
    "lastmile.wsgi",
    "lastmile.celery_worker",
    "lastmile.cli",
    "lastmile.__main__",
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS:
        package = importlib.import_module(root)
        found[root] = Path(package.__file__)
        for info in pkgutil.walk_packages(package.__path__, f"{root}."):
            if info.name.startswith("lastmile.migrations.versions."):
                continue  # Alembic's scripts, loaded by Alembic
            spec = importlib.util.find_spec(info.name)
            assert spec is not None and spec.origin is not None, info.name
            found[info.name] = Path(spec.origin)
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours `name` imports anywhere in its source (type-checking and
    function-level imports included: a cycle through them is still a cycle in the design)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert _cycles(graph) == []


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_each_folder_imports_what_the_design_allows(graph: dict[str, set[str]]) -> None:
    wrong = []
    for name, targets in graph.items():
        for target in targets:
            if _in(name, "lastmile.rules"):
                ok = _in(target, "lastmile.rules")  # pure: nothing else of ours
            elif _in(name, "lastmile.connector"):
                ok = _in(target, "lastmile.connector", "lastmile.rules")
            elif _in(name, "lastmile.webhooks"):
                ok = not _in(target, *WIRING)
            elif _in(name, *WIRING):
                ok = True
            else:  # the core: never the Flask app or the command line
                ok = not _in(target, "lastmile.webhooks", *WIRING)
            if not ok:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_cli_modules_are_imported_by_nothing_else(graph: dict[str, set[str]]) -> None:
    users = {
        n
        for n, ts in graph.items()
        if not _in(n, "lastmile.cli") and any(_in(t, "lastmile.cli") for t in ts)
    }
    assert users <= {"lastmile.__main__"}


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT / "tests" / "core"
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


HEAVY = {"flask", "sqlalchemy", "alembic", "celery", "werkzeug", "cheroot", "simple_salesforce"}


def test_help_imports_no_command() -> None:
    loaded = _loaded_after(
        "from lastmile.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not {m.split(".")[0] for m in loaded} & (HEAVY | {"durable_rules_engine", "pydantic"})


def test_rules_check_imports_no_server_side_package() -> None:
    pack = ROOT / "examples" / "rules" / "client-calls.yaml"
    loaded = _loaded_after(
        "from lastmile.cli import main\n"
        f"try:\n    main(['rules', 'check', {str(pack)!r}])\nexcept SystemExit:\n    pass"
    )
    assert "lastmile.rules" in loaded
    assert not {m.split(".")[0] for m in loaded} & HEAVY


def test_the_short_help_of_each_command_is_its_own() -> None:
    """`lastmile --help` lists commands from a table, so it need not import them: the table's
    line is the command's own first help line."""
    from lastmile.cli import COMMANDS, main

    for name, (_module, _attribute, line) in COMMANDS.items():
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name in (name, f"{name}_cmd", "digest")
        assert (command.help or "").strip().splitlines()[0] == line, name
