"""The package's shape, read from the source with ``ast`` (nothing is imported).

Why: import circles, modules that grow past one job and functions that grow past one screen creep back
one small edit at a time; each check names the offender, so the fix starts where the problem is.

* The import graph of decomp/ has no circle. An edge is every import, at module level or inside a
  function (a lazy import is still a dependency), plus the implicit one Python adds: importing
  ``a.b.c`` first runs the ``__init__`` of ``a`` and ``a.b``.
* No module of decomp/ is over :data:`MAX_MODULE_LINES` lines, no function over :data:`MAX_FUNCTION_LINES`.
* Acting (decomp/rollout/) imports no learner: what it shares with them lives in decomp/core/ops.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "decomp"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60

Graph = dict[str, set[str]]


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``package`` (a package is named by its folder)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name an import statement of module ``name`` may refer to (``from m import x``: m and m.x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: ``from . import x``, ``from ..m import x``
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: Path) -> Graph:
    """module -> the package's modules it imports, with the ancestor packages whose ``__init__`` that runs."""
    files = module_files(package)
    graph: Graph = {name: set() for name in files}
    for name, path in files.items():
        for target in imported_names(name, path) & files.keys():
            if target == name:
                continue
            graph[name].add(target)
            parts = target.split(".")
            for i in range(1, len(parts)):
                ancestor = ".".join(parts[:i])
                if ancestor in files and not (name == ancestor or name.startswith(ancestor + ".")):
                    graph[name].add(ancestor)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of ``graph`` as [a, b, ..., a], or None (depth-first search, in name order)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                return path[path.index(nxt):] + [nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def long_functions(package: Path, limit: int) -> list[str]:
    """'path:line name (n lines)' of every function or method (nested ones too) longer than ``limit`` lines."""
    out = []
    for path in module_files(package).values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > limit:
                    out.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_the_import_graph_of_decomp_has_no_circle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, ("import circle: " + " -> ".join(cycle) + ". Move what both sides need into a module "
                           "of its own that neither imports back")


def test_no_module_of_decomp_is_over_the_line_limit() -> None:
    sizes = {path: len(path.read_text().splitlines()) for path in module_files(PACKAGE).values()}
    over = [f"{path.relative_to(ROOT)} ({n} lines)" for path, n in sizes.items() if n > MAX_MODULE_LINES]
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {', '.join(over)}; split them along a seam"


def test_no_function_of_decomp_is_over_the_line_limit() -> None:
    over = long_functions(PACKAGE, MAX_FUNCTION_LINES)
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {'; '.join(over)}; split them into named steps"


def test_acting_imports_no_learner() -> None:
    acting = {m: ts for m, ts in import_graph(PACKAGE).items() if m == "decomp.rollout" or m.startswith("decomp.rollout.")}
    bad = [f"{module} imports {target}" for module, targets in sorted(acting.items()) for target in sorted(targets)
           if target == "decomp.core.learners" or target.startswith("decomp.core.learners.")]
    assert not bad, (f"rollout/ must not depend on a learner ({'; '.join(bad)}): shared tensor helpers belong in "
                     "decomp/core/ops.py, anything method-specific comes through the registry (decomp/core/methods.py)")


# ---- the checks themselves catch what they are for (a small package written to tmp_path) ------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(("files", "cycle"), [
    # a lazy import inside a function closes the circle as well as a module-level one
    ({"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import f\n",
      "pkg/b.py": "def f():\n    from pkg import a\n    return a\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
    # relative imports
    ({"pkg/__init__.py": "", "pkg/a.py": "from . import b\n", "pkg/b.py": "from .a import x\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    # importing pkg.sub.m runs pkg/sub/__init__.py, which imports back
    ({"pkg/__init__.py": "", "pkg/sub/__init__.py": "from pkg.a import x\n", "pkg/sub/m.py": "",
      "pkg/a.py": "import pkg.sub.m\n"}, ["pkg.a", "pkg.sub", "pkg.a"]),
])
def test_find_cycle_finds_a_circle(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    assert find_cycle(import_graph(_write(tmp_path, files))) == cycle


def test_no_circle_when_the_imports_form_a_tree(tmp_path: Path) -> None:
    """A package __init__ importing its own modules, and those importing siblings, is no circle."""
    pkg = _write(tmp_path, {"pkg/__init__.py": "from pkg.a import x\nfrom pkg.b import y\n",
                            "pkg/a.py": "from pkg.b import y\n", "pkg/b.py": "import os\n"})
    assert find_cycle(import_graph(pkg)) is None


def test_long_functions_names_the_offender(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(4))
    pkg = _write(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": f"def short():\n    pass\n\n\ndef long():\n{body}"})
    found = long_functions(pkg, 4)
    assert len(found) == 1 and found[0].endswith("pkg/m.py:5 long (5 lines)")
