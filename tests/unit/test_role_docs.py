"""Every role variable is documented once, in meta/argument_specs.yml, and its README carries the generated copy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent for path in ROOT.glob("roles/*/defaults/main.yml"))


def test_generated_readme_sections_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "role_docs.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("role", ROLES, ids=[role.name for role in ROLES])
def test_every_default_is_specified_and_documented(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {name for entry_point in specs.values() for name in entry_point.get("options") or {}}
    readme = role / "README.md"
    text = readme.read_text() if readme.exists() else ""
    assert [name for name in defaults if name not in options] == [], "defaults missing from meta/argument_specs.yml"
    assert [name for name in defaults if f"`{name}`" not in text] == [], f"defaults missing from {readme.relative_to(ROOT)}"
