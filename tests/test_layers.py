"""The layout's arrows: every import of every module runs one way (see docs/architecture.md).

Imports are read with `ast`, so those inside functions and under `TYPE_CHECKING` count too:
a lazy import upward is still an arrow upward.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Layer -> the Tessera layers it may import besides itself. `agent` may import everything
# below it; within `agent`, the stages follow the data flow (AGENT_STAGES).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "firmware_sim": {"base"},
    "adapters": {"base"},
    "rag": {"base", "adapters"},
    "tools": {"base", "adapters", "rag"},
    "evaluation": {"base", "adapters", "firmware_sim"},
    "agent": {"base", "adapters", "rag", "tools", "firmware_sim", "evaluation"},
}
AGENT_STAGES: dict[str, set[str]] = {
    "agent.llm": set(),
    "agent.ingest": set(),
    "agent.decide": {"agent.llm"},
    "agent.services": {"agent.llm", "agent.ingest", "agent.decide"},
}
# rag may read encoder output types (`adapters.base`), nothing of the encoders themselves.
TYPE_ONLY = {("rag", "adapters"): {"adapters.base"}, ("tools", "adapters"): {"adapters.base"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from agent import report` imports the module agent.report, not the package's names.
            submodules = [f"{name}.{a.name}" for a in node.names if is_module(f"{name}.{a.name}")]
            found += [(node.lineno, m) for m in submodules] or [(node.lineno, name)]
    return found


def is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in ALLOWED else None


def stage_of(module: str) -> str | None:
    return next((s for s in AGENT_STAGES if module == s or module.startswith(s + ".")), None)


def violations() -> list[str]:
    found: list[str] = []
    for layer in ALLOWED:
        for path in sorted((REPO / layer).rglob("*.py")):
            source = module_name(path)
            for line, target in imported_modules(path):
                target_layer = layer_of(target)
                if target_layer is None or target_layer == layer:
                    found += stage_violation(source, target, path, line) if layer == "agent" else []
                    continue
                where = f"{path.relative_to(REPO)}:{line} imports {target}"
                if target_layer not in ALLOWED[layer]:
                    found.append(f"{where}: {layer} may not import {target_layer}")
                elif (allowed := TYPE_ONLY.get((layer, target_layer))) and not any(
                    target == a or target.startswith(a + ".") for a in allowed
                ):
                    found.append(f"{where}: {layer} may import only {sorted(allowed)} from {target_layer}")
    return found


def stage_violation(source: str, target: str, path: Path, line: int) -> list[str]:
    """Within agent/: a stage imports only the stages before it; front ends import any."""
    source_stage, target_stage = stage_of(source), stage_of(target)
    if source_stage is None or target_stage is None or source_stage == target_stage:
        if source_stage is not None and target.startswith("agent") and target_stage is None and target not in {"agent"}:
            return [f"{path.relative_to(REPO)}:{line} imports {target}: stage {source_stage} may not import a front end"]
        return []
    if target_stage in AGENT_STAGES[source_stage]:
        return []
    return [f"{path.relative_to(REPO)}:{line} imports {target}: {source_stage} may not import {target_stage}"]


def test_every_import_runs_one_way():
    assert violations() == []


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The walk itself: a planted upward import, at module level and lazily, is reported."""
    fake = tmp_path / "adapters"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "leak.py").write_text("def f():\n    from agent.decide import loop\n")
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert [v for v in violations() if "leak.py" in v] == ["adapters/leak.py:2 imports agent.decide: adapters may not import agent"]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_layer_is_a_package(layer):
    assert (REPO / layer / "__init__.py").is_file()


def test_agent_top_level_stays_small():
    """agent/ shows its stages: a handful of front-end files beside the sub-packages."""
    files = sorted(p.name for p in (REPO / "agent").glob("*.py"))
    assert len(files) <= 10, files


def test_no_two_modules_import_each_other():
    """A pair of modules that import each other (even lazily) is one module split in two, or a layer inverted."""
    graph: dict[str, set[str]] = {}
    for layer in ALLOWED:
        for path in (REPO / layer).rglob("*.py"):
            graph[module_name(path)] = {t for _, t in imported_modules(path) if layer_of(t)}
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if b != a and a in graph.get(b, ())})
    assert pairs == []
