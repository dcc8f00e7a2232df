"""The installed package has no import cycle, counting imports made inside functions: data flows one way.

The graph is read from the source with ``ast`` (nothing is imported to build it), one node per module of every
package ``pyproject.toml`` installs; ``from pkg import name`` is an edge to ``pkg.name`` where that is a module,
else to ``pkg``.
"""

import ast
import importlib
import pkgutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def package_modules(packages: list[str]) -> dict[str, Path]:
    """Module name -> source file of every module of ``packages`` (importable names)."""
    out = {}
    for name in packages:
        pkg = importlib.import_module(name)
        out[name] = Path(pkg.__file__)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.ispkg:
                out[f"{name}.{info.name}"] = Path(pkg.__path__[0]) / f"{info.name}.py"
    return out


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` it imports anywhere in its source."""
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                for a in node.names:
                    target = f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    if target in modules:
                        edges.add(target)
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    modules = package_modules(installed_packages())
    assert len(modules) > 80 and "phymo.app.evaluation.datasets" in modules
    graph = import_graph(modules)
    assert "phymo.app.evaluation.scoring" in graph["phymo.app.evaluation.truth"]  # edges are found
    assert cycles(graph) == []


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    pkg = tmp_path / "loop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from loop import c\n    return c\n")
    (pkg / "c.py").write_text("import loop.a\n")
    modules = {"loop": pkg / "__init__.py", **{f"loop.{m}": pkg / f"{m}.py" for m in "abc"}}
    assert cycles(import_graph(modules)) == [["loop.a", "loop.b", "loop.c"]]


def test_every_package_folder_installs():
    """A folder with an ``__init__.py`` under an installed package is an installed package itself."""
    packages = installed_packages()
    for name in packages:
        for info in pkgutil.iter_modules(importlib.import_module(name).__path__):
            assert not info.ispkg or f"{name}.{info.name}" in packages, f"{name}.{info.name} is not installed"
