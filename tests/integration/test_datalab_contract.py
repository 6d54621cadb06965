"""Contract between the datalab role and the real NERC-CEH datalab chart it pins.

The values the role computes from the example inventory inventories/omics_lab (only its validation runs, no
cluster) are checked against the real chart at the role's pin (2aea8cdf, helm/datalab, from the offline mirror of
SCIPLAT_UPSTREAM, else cloned) by the collection's own analysis (tests/upstream/chart_facts.py, the one
sciplat.k8s.helm_values_check runs before every release): a key the chart does not read is a silent bug, and a
switch given as a string is on in a template. Rendering, the fixed-name cluster objects and the deployed objects
are tested on the same chart in test_datalab.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from playbooks import run_playbook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
from chart_facts import ChartFacts  # noqa: E402  pylint: disable=wrong-import-position
import mirror  # noqa: E402  pylint: disable=wrong-import-position

EXAMPLE = REPO / "inventories" / "omics_lab"
DEFAULTS = yaml.safe_load((REPO / "roles" / "datalab" / "defaults" / "main.yml").read_text())
# The example's group_vars read these from a vault.
VAULT = {"vault_datalab_email_username": "mailer", "vault_datalab_email_password": "x",
         "vault_datalab_prod_certificate": "-----BEGIN CERTIFICATE-----", "vault_datalab_prod_private_key": "-----BEGIN PRIVATE KEY-----",
         "vault_cellxgene_s3_access_key_id": "x", "vault_cellxgene_s3_secret_access_key": "x"}


@pytest.fixture(scope="module")
def facts():
    return ChartFacts(mirror.pinned_chart(DEFAULTS["datalab_chart_git_repo"], DEFAULTS["datalab_chart_git_commit"],
                                          DEFAULTS["datalab_chart_git_subpath"]))


@pytest.fixture(scope="module")
def environments(k8s_cluster, tmp_path_factory):
    """Per environment of the example: its namespace and the values helm gets (the role's, the user's last)."""
    workdir = tmp_path_factory.mktemp("contract")
    out = workdir / "values.json"
    play = [{"hosts": "control_plane[0]", "gather_facts": False, "tasks": [
        {"name": "compute and validate",
         "ansible.builtin.include_role": {"name": "sciplat.k8s.datalab", "tasks_from": "validate", "public": True}},
        {"name": "dump", "ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": (
            "{% set found = namespace(envs={}) %}{% for env in __datalab_environments %}"
            "{% set found.envs = found.envs | combine({env.name: {'namespace': env.namespace, "
            "'values': __datalab_release_values[env.name]}}) %}{% endfor %}{{ found.envs | to_json }}")}},
    ]}]
    run_playbook(play, k8s_cluster.env, "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
                 workdir=workdir, inventory=EXAMPLE, extra_vars=VAULT)
    found = json.loads(out.read_text())
    assert sorted(found) == ["prod", "test"]
    return found


def test_every_key_the_role_sets_is_read_by_the_real_chart(facts, environments):
    for name, environment in environments.items():
        assert facts.unknown(environment["values"]) == [], f"{name} sets keys the real chart does not read"


def test_switches_are_real_booleans(facts, environments):
    for environment in environments.values():
        assert facts.not_boolean(environment["values"]) == {}


def test_values_fit_the_environment(environments):
    for environment in environments.values():
        values = environment["values"]
        # AppArmor annotations fail on microk8s; the catalogue needs an Elasticsearch the lab does not run.
        assert values["useAppArmor"] is False and values["metadata-catalogue"]["enabled"] is False
        # The chart names the claim after datalabName and mounts <datalabVolume>-internal-claim.
        assert values["datalabVolume"] == values["datalabName"]
        assert values["namespace"] == environment["namespace"]


def test_the_roles_switches_are_the_charts_boolean_defaults(facts):
    switches = yaml.safe_load((REPO / "roles" / "datalab" / "vars" / "main.yml").read_text())["__datalab_boolean_keys"]
    assert {key: facts.model.defaults.get(key.replace(".", "\0")) for key in switches
            if not isinstance(facts.model.defaults.get(key.replace(".", "\0")), bool)} == {}
