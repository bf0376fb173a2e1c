"""The import check: what the deployed code imports must be deployed.

The package's own imports and the handlers' are read with ``ast`` (nothing is executed) and
checked against the stripped dependency layer, the common package and the runtime.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batchgate_tools.layerbuild.files import JUNK_DIRS, python_sources, rel_to_root
from batchgate_tools.layerbuild.strip import RUNTIME_SDK, STRIPPED_MODULES


@dataclass
class ImportUse:
    module: str  # the imported name, absolute (``from a import b`` gives ``a.b``)
    base: str  # the module that must exist (``a`` for ``from a import b``)
    source: Path
    line: int
    top_level: bool  # executed at import time (not inside a def, TYPE_CHECKING or try/ImportError)


def _imports(path: Path, package: str | None) -> Iterator[ImportUse]:
    """Every import in a module, resolved to absolute names (``from a import b`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def names(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        if isinstance(node, ast.Import):
            return [(a.name, a.name) for a in node.names]
        base = node.module or ""
        if node.level:
            if package is None:
                return []  # a relative import in a handler folder: local to the function
            parts = package.split(".")
            base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
        return [(base if a.name == "*" else f"{base}.{a.name}", base) for a in node.names]

    def visit(body: Iterable[ast.AST], top: bool) -> Iterator[ImportUse]:
        for child in body:
            if isinstance(child, ast.Import | ast.ImportFrom):
                for name, base in names(child):
                    yield ImportUse(name, base, path, child.lineno, top)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from visit(ast.iter_child_nodes(child), False)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from visit(child.orelse, top)  # the body only runs under a type checker
            elif isinstance(child, ast.Try) and any(
                h.type is not None and re.search(r"ImportError|ModuleNotFoundError", ast.unparse(h.type))
                for h in child.handlers
            ):
                yield from visit(ast.iter_child_nodes(child), False)  # guarded: an optional import
            else:
                yield from visit(ast.iter_child_nodes(child), top)

    yield from visit(tree.body, True)


def _module_package(path: Path, pkg_root: Path) -> str:
    """The package a module's relative imports resolve against (``a/b/c.py`` and ``a/b/__init__.py``: a.b)."""
    return ".".join(path.relative_to(pkg_root.parent).with_suffix("").parts[:-1])


@dataclass
class ImportReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Shipped modules no handler reaches that import what Lambda lacks (laptop-only features):
    # harmless while nothing imports them; the deploy tests import every other module.
    unimportable: list[str] = field(default_factory=list)


def _resolve(name: str, modules: dict[str, Path]) -> list[str]:
    """The package modules an import executes: the longest known prefix and its parent packages."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return [".".join(parts[:k]) for k in range(1, n + 1) if ".".join(parts[:k]) in modules]
    return []


def check_imports(common_pkg: Path, dependency_root: Path, function_dirs: Iterable[Path]) -> ImportReport:
    """What the deployed code imports must be deployed: stdlib, the layers, or the runtime's SDK.

    Starting from the handlers, the package's import graph is followed. A missing import that runs
    at cold start (module level, in a module the handlers import at module level) is an error: the
    function would not start. One on a path that runs later (inside a function) is a warning. A
    shipped module no handler reaches may import laptop-only libraries: it is listed, not an error.
    """
    available = set(sys.stdlib_module_names) | {"batchgate", *RUNTIME_SDK, "awslambdaric"}
    for entry in dependency_root.iterdir():
        if entry.name.endswith((".dist-info", ".libs")) or entry.name in JUNK_DIRS:
            continue
        available.add(entry.name.split(".", 1)[0])
    modules: dict[str, Path] = {}
    for p in python_sources(common_pkg):
        parts = p.relative_to(common_pkg.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    # Folders without __init__.py import as namespace packages: `import a.ns` and `from a.ns import
    # mod` work, `from a.ns import name` does not.
    namespaces = {
        ".".join(d.relative_to(common_pkg.parent).parts)
        for d in [common_pkg, *common_pkg.rglob("*")]
        if d.is_dir()
        and not (JUNK_DIRS & set(d.parts))
        and ".".join(d.relative_to(common_pkg.parent).parts) not in modules
    }
    uses: dict[str, list[ImportUse]] = {
        m: list(_imports(p, _module_package(p, common_pkg))) for m, p in modules.items()
    }
    handlers: dict[str, list[ImportUse]] = {}
    for fdir in function_dirs:
        for p in python_sources(fdir):
            if "tests" not in p.relative_to(fdir).parts:
                handlers[rel_to_root(p)] = list(_imports(p, None))

    def reach(only_top_level: bool) -> set[str]:
        seen: set[str] = set()
        todo = [u for us in handlers.values() for u in us if u.top_level or not only_top_level]
        while todo:
            use = todo.pop()
            for mod in _resolve(use.module, modules):
                if mod not in seen:
                    seen.add(mod)
                    todo += [u for u in uses[mod] if u.top_level or not only_top_level]
        return seen

    cold_start, any_path = reach(True), reach(False)
    report = ImportReport()
    sources = [*handlers.items(), *((m, uses[m]) for m in sorted(modules))]
    for where, module_uses in sources:
        is_handler = where in handlers
        label = where if is_handler else rel_to_root(modules[where])
        for use in module_uses:
            top = use.module.split(".", 1)[0]
            if any(use.module == m or use.module.startswith(m + ".") for m in STRIPPED_MODULES):
                problem = f"{label}:{use.line} imports {use.module}, which the dependency layer strips"
            elif top not in available:
                problem = f"{label}:{use.line} imports {top}, which is in neither layer nor the runtime"
            elif (
                top == "batchgate"
                and use.base not in modules
                and use.module not in modules
                and not (use.module == use.base and use.base in namespaces)
            ):
                problem = f"{label}:{use.line} imports {use.base}, which is not a module of the package (no such file, or a folder without __init__.py)"
            else:
                continue
            if use.top_level and (is_handler or where in cold_start):
                report.errors.append(problem)
            elif is_handler or where in any_path:
                report.warnings.append(problem + " (fails if that code path runs on Lambda)")
            else:
                report.warnings.append(problem + " (no handler imports this module)")
                if use.top_level and where not in report.unimportable:
                    report.unimportable.append(where)
    return report
