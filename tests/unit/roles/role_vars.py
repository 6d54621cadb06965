"""Helpers of the role contract tests: a role's variables templated by ansible-core, and the chart at its pin.

render() templates roles/<role>/{defaults,vars}/main.yml plus overrides with ansible-core's own Templar (no
cluster, no play). The chart at a role's pin comes from tests/upstream/mirror.py (pinned_chart): the offline
mirror when SCIPLAT_UPSTREAM names one, else a clone from GitHub.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Runs in a child process: loading ansible's controller side into the unit-test process changes how
# in-process module runs report warnings, which other unit tests read.
RENDER = r"""
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

def trusted(data):
    # Role files are trusted templates, as when ansible-playbook loads them.
    if isinstance(data, str):
        return trust_as_template(data)
    if isinstance(data, dict):
        return {key: trusted(value) for key, value in data.items()}
    if isinstance(data, list):
        return [trusted(value) for value in data]
    return data

request = json.load(sys.stdin)
init_plugin_loader()
loader = DataLoader()
variables = {}
for part in ("defaults", "vars"):
    variables.update(trusted(loader.load_from_file(request["root"] + "/roles/" + request["role"] + "/" + part + "/main.yml")))
variables.update(trusted(request["overrides"]))
templar = Templar(loader=loader, variables=variables)
json.dump({name: templar.template(variables[name]) for name in request["names"]}, sys.stdout)
"""


@functools.lru_cache(maxsize=None)
def _render(role, names, overrides_json):
    request = {"root": str(REPO), "role": role, "names": list(names), "overrides": json.loads(overrides_json)}
    done = subprocess.run([sys.executable, "-c", RENDER], input=json.dumps(request), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(role, *names, **overrides):
    """The role's variables `names`, templated by ansible-core from its defaults and vars plus `overrides`."""
    return json.loads(_render(role, names, json.dumps(overrides, sort_keys=True)))


def leaf_paths(values, prefix=""):
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths |= leaf_paths(value, path + ".")
        else:
            paths.add(path)
    return paths


def at(values, path):
    for part in path.split("."):
        values = values[part]
    return values


def covered(path, reads):
    """Read by a template: the path itself, or a subtree a template reads whole."""
    parts = path.split(".")
    return any(".".join(parts[:index]) in reads for index in range(1, len(parts) + 1))
