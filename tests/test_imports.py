"""The package's shape: no import cycle, an emulator that knows only the contract, and
names that mean one thing (no module hiding a function, no error hiding a built-in)."""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys
from pathlib import Path

import skybox_nb
from skybox_nb import errors

PACKAGE = Path(skybox_nb.__file__).parent
# What the emulator may import of the package: modules that know no transport and import
# nothing of the package but each other.
CONTRACT = {"skybox_nb.contract", "skybox_nb.validation", "skybox_nb.formats",
            "skybox_nb.isotime", "skybox_nb.processes"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports when it is imported (its top level, outside
    ``if TYPE_CHECKING:``; imports inside functions run later and are left out)."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for n in nodes:
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                continue
            if isinstance(n, ast.Import):
                found.update(a.name for a in n.names if a.name.startswith("skybox_nb"))
            elif isinstance(n, ast.ImportFrom):
                module = ".".join(base[: len(base) - n.level + 1] + [n.module or ""]).strip(".") \
                    if n.level else n.module or ""
                if module.startswith("skybox_nb"):
                    found.update(f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                                 for a in n.names)
            for block in ("body", "orelse", "finalbody", "handlers"):
                if isinstance(n, (ast.If, ast.Try, ast.With)) and isinstance(getattr(n, block, None), list):
                    visit(getattr(n, block))

    visit(ast.parse(path.read_text()).body)
    return found - {name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_import_cycle_in_the_package():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH.get(node, ())):
            # importing a package's own submodule from its __init__ is not a cycle
            if nxt not in GRAPH or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            walk(name, [name])
    assert cycles == []


def test_the_emulator_imports_only_the_contract():
    outside = {name: sorted(m for m in deps if not m.startswith("skybox_nb.emulator"))
               for name, deps in GRAPH.items() if name.startswith("skybox_nb.emulator")}
    assert {m for deps in outside.values() for m in deps} <= CONTRACT, outside
    for name in CONTRACT:  # and those know nothing else of the package
        assert GRAPH[name] <= CONTRACT, (name, GRAPH[name])
    # the whole emulator loads without the client, ledger or request modules
    code = ("import sys, skybox_nb.emulator; "
            "print(sorted(m for m in sys.modules if m.startswith('skybox_nb.') "
            "and not m.startswith('skybox_nb.emulator')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert set(eval(loaded)) <= CONTRACT, loaded


def test_sweep_is_the_function_even_after_its_module_was_imported():
    import skybox_nb.sweeps
    from skybox_nb import sweep

    assert callable(sweep) and sweep is skybox_nb.sweeps.sweep
    assert not (PACKAGE / "sweep.py").exists()


def test_errors_shadow_no_built_in_and_the_package_exports_them():
    shadowing = [n for n in errors.__all__ if hasattr(builtins, n)]
    assert shadowing == []
    for name in ("SkyboxError", "ValidationError", "RateLimitError", "DeadlineError",
                 "JobFailedError", "DuplicateIntentError", "AuthError", "TransportError"):
        assert getattr(skybox_nb, name) is getattr(errors, name) and name in skybox_nb.__all__
    assert issubclass(skybox_nb.DeadlineError, skybox_nb.SkyboxError)
    assert not issubclass(skybox_nb.DeadlineError, builtins.TimeoutError)


def test_the_run_handle_is_exported_with_the_client():
    from skybox_nb import client

    for name in ("Run", "RunResult", "SkyboxClient", "AsyncSkyboxClient"):
        assert name in skybox_nb.__all__ and name in dir(skybox_nb)
        assert getattr(skybox_nb, name) is getattr(client, name)
    assert issubclass(skybox_nb.Run, __import__("concurrent.futures").futures.Future)
