"""The dependency rule (STYLE.md 2.1), checked on the source: imports point inward, and this tier stays fast.

``domain/`` uses the standard library and itself; ``domain/scim/`` may add colander; neither, nor the unit
tests, may import a web framework, a database library or the transaction machinery.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = SRC / "wiggledesk_scim"
DOMAIN = PACKAGE / "domain"
SCIM = DOMAIN / "scim"
UNIT_TESTS = ROOT / "tests" / "unit"

#: Top-level names that must never be imported by the domain or the unit tests.
FORBIDDEN = frozenset({"pyramid", "pyramid_tm", "webob", "sqlalchemy", "transaction", "zope", "webtest",
                       "waitress", "psycopg", "psycopg2", "alembic"})


@dataclass(frozen=True)
class Import:
    """One imported module, absolute, as written at ``file:line``."""

    file: Path
    line: int
    module: str

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line} imports {self.module}"


def module_name(path: Path) -> str:
    """The dotted name Python gives the file: under ``src/`` for the package, the repository root otherwise."""
    base = SRC if path.is_relative_to(SRC) else ROOT
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, path: Path, *, is_package: bool | None = None) -> list[Import]:
    """Every module the source imports, relative imports resolved, including ``importlib.import_module("x")``.

    ``from m import a, b`` yields ``m`` and, because ``a`` or ``b`` may be submodules, ``m.a`` and ``m.b``
    only when ``m`` is a package of this project (``from . import errors``); ``from x import y`` of any
    other module yields just ``x``.
    """
    name = module_name(path)
    if is_package is None:
        is_package = path.name == "__init__.py"
    package = name.split(".") if is_package else name.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                if node.level - 1 > len(package) or not base:
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the top-level package")
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if node.module is None:
                found.extend(Import(path, node.lineno, f"{target}.{alias.name}") for alias in node.names)
            else:
                found.append(Import(path, node.lineno, target))
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append(Import(path, node.lineno, node.args[0].value))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def imports_under(folder: Path) -> list[Import]:
    files = sorted(folder.rglob("*.py"))
    assert files, f"no Python files under {folder}: the check would pass vacuously"
    return [imp for file in files for imp in imports_in(file.read_text(encoding="utf-8"), file)]


def is_stdlib(imp: Import) -> bool:
    return imp.top in sys.stdlib_module_names


def is_within(imp: Import, package: str) -> bool:
    return imp.module == package or imp.module.startswith(package + ".")


def forbidden(imports: list[Import]) -> list[str]:
    return [str(imp) for imp in imports if imp.top in FORBIDDEN]


# -- the checker itself can fail ------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "import pyramid",
    "import sqlalchemy.orm",
    "import zope.sqlalchemy as zs",
    "from webob import Request",
    "from pyramid.config import Configurator",
    "from psycopg import errors",
    "def f():\n    import transaction\n",
    "if TYPE_CHECKING:\n    from alembic.config import Config\n",
    "import importlib\nimportlib.import_module('waitress')",
    "__import__('webtest')",
])
def test_the_checker_finds_every_form_of_a_forbidden_import(source):
    """Every form of importing a forbidden library is seen: plain, dotted, aliased, from, nested, dynamic."""
    imports = imports_in(source, DOMAIN / "services.py")

    assert forbidden(imports), f"not caught: {source!r}"


@pytest.mark.parametrize(("path", "source", "expected"), [
    (DOMAIN / "services.py", "from .model import Member", "wiggledesk_scim.domain.model"),
    (DOMAIN / "services.py", "from . import errors", "wiggledesk_scim.domain.errors"),
    (DOMAIN / "services.py", "from ..adapters import memory", "wiggledesk_scim.adapters"),
    (DOMAIN / "__init__.py", "from .model import Member", "wiggledesk_scim.domain.model"),
    (SCIM / "api.py", "from ..errors import NotFound", "wiggledesk_scim.domain.errors"),
    (SCIM / "api.py", "from ...adapters.memory import InMemoryStore", "wiggledesk_scim.adapters.memory"),
    (UNIT_TESTS / "conftest.py", "from ..support import FixedClock", "tests.support"),
])
def test_relative_imports_resolve_to_the_module_they_name(path, source, expected):
    """A relative import is judged by the absolute module it reaches, so ``..adapters`` cannot hide."""
    assert [imp.module for imp in imports_in(source, path)] == [expected]


# -- the rules --------------------------------------------------------------------------------------

def test_the_domain_imports_no_web_database_or_transaction_library():
    """Nothing under domain/ (SCIM included) imports pyramid, webob, sqlalchemy, transaction, zope, … ."""
    assert forbidden(imports_under(DOMAIN)) == []


def test_the_unit_tests_import_no_web_database_or_transaction_library():
    """The unit tier runs without Pyramid, WebTest, a database driver or the transaction package."""
    assert forbidden(imports_under(UNIT_TESTS)) == []


def test_the_domain_core_uses_only_the_standard_library_and_itself():
    """domain/ outside domain/scim/ imports the standard library and wiggledesk_scim.domain, nothing else."""
    core = [imp for imp in imports_under(DOMAIN) if not imp.file.is_relative_to(SCIM)]

    strays = [str(imp) for imp in core if not (is_stdlib(imp) or is_within(imp, "wiggledesk_scim.domain"))]

    assert strays == []


def test_the_domain_core_does_not_depend_on_its_scim_layer():
    """Imports point inward: domain/scim/ may use the core, the core never uses SCIM."""
    core = [imp for imp in imports_under(DOMAIN) if not imp.file.is_relative_to(SCIM)]

    assert [str(imp) for imp in core if is_within(imp, "wiggledesk_scim.domain.scim")] == []


def test_the_scim_layer_adds_only_colander_and_orjson():
    """domain/scim/ imports the standard library, the domain, colander (payload validation) and orjson
    (writing JSON bodies), nothing else."""
    strays = [str(imp) for imp in imports_under(SCIM)
              if not (is_stdlib(imp) or is_within(imp, "wiggledesk_scim.domain") or imp.top in ("colander", "orjson"))]

    assert strays == []


def test_the_unit_tests_use_only_the_domain_and_the_in_memory_adapters():
    """tests/unit/ reaches the product through the domain, the in-memory store, the system clock and the
    client-assertion verifier only."""
    # adapters.federation too: it needs no network when its fetch is handed in (its served tests are in
    # tests/integration), and PyJWT is none of the forbidden libraries.
    allowed = ("wiggledesk_scim.domain", "wiggledesk_scim.adapters.memory", "wiggledesk_scim.adapters.system",
               "wiggledesk_scim.adapters.federation")

    strays = [str(imp) for imp in imports_under(UNIT_TESTS)
              if imp.top == "wiggledesk_scim" and not any(is_within(imp, package) for package in allowed)]

    assert strays == []


def test_the_package_init_imports_nothing():
    """src/wiggledesk_scim/__init__.py stays free of imports, so importing the domain never drags Pyramid in."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))

    assert [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))] == []


def test_importing_the_domain_and_in_memory_adapters_loads_no_forbidden_library():
    """At run time too (transitive imports included), the domain core and in-memory storage load none of it."""
    modules = ["wiggledesk_scim.domain." + path.stem for path in sorted(DOMAIN.glob("*.py"))
               if path.stem != "__init__"]
    modules += ["wiggledesk_scim.adapters.memory", "wiggledesk_scim.adapters.system"]
    script = (f"import importlib, sys\n"
              f"for name in {modules!r}: importlib.import_module(name)\n"
              f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(FORBIDDEN)!r})))")

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
