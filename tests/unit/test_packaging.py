"""The built collection: no test code or test double ships, and galaxy.yml lists every collection the content uses."""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Collections that ship with ansible-core or are this one.
BUILT_IN = {"ansible.builtin", "sciplat.k8s"}
NOT_SHIPPED = ("tests/", "molecule/", "bench/", "scripts/", ".ci/", ".venv/")


def test_the_artifact_holds_no_test_code(tmp_path):
    subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path)],
                   check=True, capture_output=True, text=True)
    artifact, = tmp_path.glob("sciplat-k8s-*.tar.gz")
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "roles/mip/tasks/main.yml" in names and "plugins/modules/generated_secret.py" in names
    shipped_tests = [name for name in names if name.startswith(NOT_SHIPPED)]
    assert shipped_tests == []


def test_galaxy_lists_every_collection_the_content_uses():
    used = set()
    for path in [*ROOT.glob("roles/**/*.yml"), *ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("plugins/**/*.py")]:
        used.update(match.group(1) for match in re.finditer(r"\b([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:", path.read_text()))
        used.update(match.group(1) for match in re.finditer(r"'([a-z_]+\.[a-z_]+)\.[a-z_0-9]+'", path.read_text()))
    declared = set(yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"])
    namespaces = {name for name in used if name.split(".")[0] in {"kubernetes", "community", "ansible"}}
    assert namespaces - BUILT_IN <= declared, sorted(namespaces - BUILT_IN - declared)
    readme = (ROOT / "README.md").read_text()
    install_line = next(line for line in readme.splitlines() if line.startswith("ansible-galaxy collection install"))
    assert all(name in install_line.split() for name in declared), install_line
