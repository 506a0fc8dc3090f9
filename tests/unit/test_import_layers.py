"""Imports flow one way (issue 16, item 4; the layers are in docs/ARCHITECTURE.md).

The test reads every module's source with `ast` — imports inside functions included — and
fails on a forbidden direction:

- `drivers/` knows nothing of the agent or the district: it never imports `agent/` or `district/`;
- `agent/` never imports `district/` (the district imports the agent's payload types, not back);
- no module imports a composition root (`agent/runtime/agent.py`, `agent/cli.py`,
  `agent/demo*.py`) except another composition root;
- the core config (`agent/config.py`) does not import a camera module (`drivers/camera/*`);
- no import cycles between modules (imports under `if TYPE_CHECKING:` do not count: they never
  run).

Known breaks that wait on files other work is still changing are listed in the allow-lists below,
each with the issue that removes it. A listed entry that no longer happens fails the test too, so
the lists only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "drivers", "district", "models")

# The composition roots: they build the agent from its services, so every service may be
# imported by them and none of them by a service.
COMPOSITION_ROOTS = frozenset({
    "agent.__main__", "agent.cli", "agent.runtime.agent", "agent.demo", "agent.demo_parts",
})

# (importer, imported) pairs that break a rule today. Each waits on a file that is being changed
# elsewhere; remove the entry together with the import.
ALLOWED_BREAKS: dict[tuple[str, str], str] = {
    # issue 16 item 4: the tablet emulator builds its class from the agent's roster file; the
    # roster reader moves to drivers/ (or the emulator takes a list) once issue 16 items 1-3
    # have landed in agent/tablets/ and drivers/emulators/tablets.py.
    ("drivers.emulators.tablets", "agent.tablets.roster"):
        "issue 16: drivers/emulators/tablets.py and agent/tablets/roster.py",
}

# Import cycles that exist today, as the sorted set of their modules. Same rule as above.
ALLOWED_CYCLES: dict[frozenset[str], str] = {
    # issue 16 item 4: demo_parts imports demo's helpers, demo imports demo_parts lazily; the
    # shared helpers move into demo_parts once agent/demo*.py are free to change.
    frozenset({"agent.demo", "agent.demo_parts"}):
        "issue 16: agent/demo.py and agent/demo_parts.py",
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run: all of them but those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(mod: str, is_pkg: bool, node: ast.Import | ast.ImportFrom,
             mods: dict[str, Path]) -> list[str]:
    """The project modules one import statement loads (`from pkg import sub` loads pkg.sub)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".") if is_pkg else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix
                 for a in node.names]
    out = []
    for name in names:
        # `import a.b.c` of something that is not a module of ours: take its longest known prefix
        while name and name not in mods:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return out


def _edges() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _import_nodes(tree):
            for target in _targets(mod, path.name == "__init__.py", node, mods):
                if target != mod:
                    graph[mod].add(target)
    return graph


GRAPH = _edges()


def _under(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def _breaks() -> list[tuple[str, str, str]]:
    found = []
    for src, targets in GRAPH.items():
        for dst in sorted(targets):
            if _under(src, "drivers") and (_under(dst, "agent") or _under(dst, "district")):
                found.append((src, dst, "drivers/ must not import agent/ or district/"))
            if _under(src, "agent") and _under(dst, "district"):
                found.append((src, dst, "agent/ must not import district/"))
            if dst in COMPOSITION_ROOTS and src not in COMPOSITION_ROOTS:
                found.append((src, dst, "only a composition root imports a composition root"))
            if src == "agent.config" and _under(dst, "drivers.camera"):
                found.append((src, dst, "the core config must not import a camera module"))
    return found


def _cycles() -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[frozenset[str]] = []
    counter = 0
    for start in sorted(GRAPH):
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(GRAPH[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = set()
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.add(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(frozenset(comp))
    return out


def test_the_walker_sees_imports_inside_functions_and_skips_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from agent.bus import Bus\n"
        "def f():\n    from drivers.panel import device\n    import agent.config\n"
    )
    targets = [t for n in _import_nodes(tree) for t in _targets("x", False, n, _modules())]
    assert "drivers.panel.device" in targets
    assert "agent.config" in targets
    assert "agent.bus" not in targets


def test_the_walker_finds_every_package() -> None:
    assert "drivers.panel.device" in GRAPH and "agent.uplink.service" in GRAPH
    assert "district.cli" in GRAPH
    assert "agent.config" in GRAPH["agent.uplink.service"]


def test_imports_flow_one_way() -> None:
    bad = [f"{src} -> {dst}: {why}" for src, dst, why in _breaks()
           if (src, dst) not in ALLOWED_BREAKS]
    assert not bad, "forbidden imports (see docs/ARCHITECTURE.md):\n" + "\n".join(bad)


def test_there_are_no_import_cycles() -> None:
    bad = [" <-> ".join(sorted(c)) for c in _cycles() if c not in ALLOWED_CYCLES]
    assert not bad, "import cycles:\n" + "\n".join(bad)


@pytest.mark.parametrize("pair", sorted(ALLOWED_BREAKS))
def test_every_allowed_break_still_exists(pair: tuple[str, str]) -> None:
    src, dst = pair
    assert dst in GRAPH.get(src, set()), f"{src} no longer imports {dst}: drop the allow-list entry"


@pytest.mark.parametrize("cycle", sorted(ALLOWED_CYCLES, key=sorted))
def test_every_allowed_cycle_still_exists(cycle: frozenset[str]) -> None:
    assert cycle in _cycles(), f"{sorted(cycle)} is no longer a cycle: drop the allow-list entry"


# Test modules that still import another test module's helpers. Shared helpers live in
# tests/helpers/; these wait on test files that issue 16 items 1-3 are changing.
ALLOWED_TEST_IMPORTS: dict[tuple[str, str], str] = {
    # the lesson-day room (FakeRecorder, Room, open_room) changes with the recorder Protocol
    **{(f"tests.integration.{m}", "tests.integration.test_lessons_day"):
       "issue 16 items 1-3: move to tests/helpers/ with the recorder Protocol"
       for m in ("test_lessons_checkpoint", "test_lessons_holiday", "test_lessons_restart",
                 "test_lessons_devices", "test_lessons_late_usage")},
    ("tests.integration.test_web_tls", "tests.integration.test_tablet_gateway"):
        "issue 16 items 1-3: the tablets_cfg fixture moves with the tablet work",
    ("tests.integration.test_tablet_homework", "tests.integration.test_tablet_gateway"):
        "issue 16 items 1-3: the tablet agent fixtures move with the tablet work",
    ("tests.integration.test_live_timetable", "tests.integration.test_lessons_day"):
        "issue 16 items 1-3: move to tests/helpers/ with the recorder Protocol",
    # landed with live lessons beside this test; to move into tests/helpers/ next
    ("tests.integration.test_live_control", "tests.integration.test_uplink_broker"):
        "move the broker subscriber helpers to tests/helpers/mqtt.py",
    ("tests.integration.test_live_fuzz", "tests.integration.test_recording_fuzz"):
        "move AgentThread and the JSON strategies to tests/helpers/",
    ("tests.integration.test_live_srt", "tests.integration.test_live_rtmp"):
        "move live_cfg to tests/helpers/",
}


def _test_module_imports() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        src = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            for name in names:
                if name.startswith("tests.") and name.rpartition(".")[2].startswith("test_"):
                    found.add((src, name))
    return found


def test_test_modules_do_not_import_each_other() -> None:
    bad = sorted(f"{a} -> {b}" for a, b in _test_module_imports() - ALLOWED_TEST_IMPORTS.keys())
    assert not bad, "put shared test helpers in tests/helpers/:\n" + "\n".join(bad)


def test_every_allowed_test_import_still_exists() -> None:
    gone = sorted(f"{a} -> {b}" for a, b in ALLOWED_TEST_IMPORTS.keys() - _test_module_imports())
    assert not gone, "drop these allow-list entries:\n" + "\n".join(gone)
