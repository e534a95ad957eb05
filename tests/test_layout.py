"""The package's shape: no import cycle, the factory imported by nobody inside `bot`, pure modules light."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import bot

PACKAGE = Path(bot.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The `bot` modules `name` imports anywhere in its file (functions and TYPE_CHECKING blocks included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from . import results` imports the module bot.results
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {target for target in found if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = bot_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return visiting[visiting.index(node):] + [node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph[node]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_the_import_walk_sees_relative_and_lazy_imports():
    graph = import_graph()
    assert {"bot.services", "bot.web", "bot.conversation"} <= graph["bot.landing"]
    assert "bot.app" in graph["bot"]  # under TYPE_CHECKING and inside __getattr__
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_of_bot_takes_part_in_an_import_cycle():
    assert find_cycle(import_graph()) is None


def test_nothing_inside_bot_imports_the_application_factory():
    importers = sorted(name for name, targets in import_graph().items() if "bot.app" in targets)
    assert importers == ["bot"]


def test_delivery_does_not_import_the_conversation():
    graph = import_graph()
    assert "bot.conversation" not in graph["bot.delivery"]
    assert {"bot.issuing", "bot.jobs"} <= graph["bot.delivery"] & graph["bot.conversation"]


def test_a_pure_module_loads_no_web_store_or_network_library():
    check = (
        "import sys, bot.keywords; "
        "loaded = sorted(m for m in ('flask', 'redis', 'httpx', 'twilio') if m in sys.modules); "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr


def test_the_package_still_offers_create_app_and_settings():
    check = "from bot import Settings, create_app; import bot; assert callable(create_app) and bot.Settings is Settings"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr


def test_the_web_app_loads_no_poster_renderer_or_geocoder_until_one_is_needed():
    # Each gunicorn worker imports the app: reportlab, PIL, PDFium, fontTools and phonenumbers'
    # geocoder data took its memory from about 50 to 150 MiB for pages that rarely draw a poster.
    heavy = ("reportlab", "PIL", "pypdfium2", "fontTools", "phonenumbers.geocoder")
    check = f"import sys, bot.app, bot.cli; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_test_module_imports_another_test_module():
    """Shared test code lives in tests/support (helpers) and tests/conftest.py (fixtures), never in a test file."""
    shared_wrongly = re.compile(r"(tests\.)?(test_\w+|conftest)(\.|$)")
    offenders = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # `from tests import test_x` and `from .test_x import y` too
                base = ("tests." if node.level else "") + (node.module or "")
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            offenders += [f"{path.name}: {name}" for name in names if shared_wrongly.match(name)]
    assert offenders == []
