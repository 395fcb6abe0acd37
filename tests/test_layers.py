"""The package's layers point one way, and no import (function-level ones included) closes a cycle.

    _checks  <-  _io  <-  _figures  <-  theory  <-  model  <-  bounds  <-  document, validate, sweep  <-  cli

``boundcalc/__init__.py`` (the public API) and ``__main__`` sit on top.  Imports whose target is
not a literal (``importlib.import_module(f"...")``, ``__import__``) are refused, so the graph read
here is the whole graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "boundcalc"

RANK = {"_checks": 0, "_numeric": 0.05, "_stats": 0.05, "_io": 0.1, "_figures": 0.2, "theory": 1, "model": 2, "bounds": 3,
        "document": 4, "validate": 4, "sweep": 4, "cli": 5, "__init__": 6, "__main__": 6}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
            name = ".".join(parts)
            out[name] = path
        else:
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(absolute target module, line) of every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Call):
            fn = node.func
            fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if fname in ("import_module", "__import__"):
                arg = node.args[0] if node.args else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    found.append(("<non-literal import>", node.lineno))
                else:
                    found.append((arg.value, node.lineno))
    return found


MODULES = _modules()


def _edges():
    for name, path in MODULES.items():
        for target, line in _imports(name, path):
            if target == "<non-literal import>":
                yield name, target, line
                continue
            # the longest boundcalc module that the target names
            parts = target.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            if parts and parts[0] == "boundcalc":
                resolved = ".".join(parts)
                if resolved != name and resolved != "boundcalc":
                    yield name, resolved, line


def _layer(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_subpackage_has_a_layer():
    assert {_layer(m) for m in MODULES} <= set(RANK), {_layer(m) for m in MODULES} - set(RANK)


def test_no_import_points_upward_or_across():
    bad = []
    for source, target, line in _edges():
        if target == "<non-literal import>":
            bad.append(f"{source}:{line} imports a module whose name is not a literal")
            continue
        ls, lt = _layer(source), _layer(target)
        if ls == lt:
            continue
        if RANK[lt] > RANK[ls] or (RANK[lt] == RANK[ls]):
            bad.append(f"{source}:{line} ({ls}) imports {target} ({lt})")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for source, target, _ in _edges():
        if target in graph:
            graph[source].add(target)
    # Tarjan's strongly connected components
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not comps, comps


@pytest.mark.parametrize("source, target", [("boundcalc.theory.kde", "boundcalc.model.schemes"),
                                            ("boundcalc.bounds.result", "boundcalc.cli.main")])
def test_the_layer_rule_catches_an_upward_import(source, target):
    """The rule itself can fail: an upward import is ranked as one."""
    assert RANK[_layer(target)] > RANK[_layer(source)]


def test_the_scanner_sees_function_level_and_relative_imports(tmp_path):
    code = "def f():\n    from ..bounds import result\n    import importlib\n    importlib.import_module(name)\n"
    path = tmp_path / "x.py"
    path.write_text(code)
    found = [t for t, _ in _imports("boundcalc.theory.x", path)]
    assert "boundcalc.bounds.result" in found and "<non-literal import>" in found
