"""The bot works when installed the ordinary way: data files, the store package and its Lua ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_templates_the_example_campaigns_and_the_store_scripts(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(ROOT)],
        check=True, timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/data/campaigns.example.toml" in names
    shipped_templates = {n for n in names if n.startswith("bot/templates/")}
    repo_templates = {f"bot/templates/{p.name}" for p in (ROOT / "templates").iterdir() if p.is_file()}
    assert repo_templates and shipped_templates == repo_templates
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "bot = bot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    repo_scripts = {f"bot/lua/{p.name}" for p in (ROOT / "bot" / "lua").glob("*.lua")}
    assert repo_scripts and repo_scripts <= names
    repo_store = {f"bot/store/{p.name}" for p in (ROOT / "bot" / "store").glob("*.py")}
    assert "bot/store/__init__.py" in repo_store and repo_store <= names
