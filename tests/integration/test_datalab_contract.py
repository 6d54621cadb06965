"""Contract between the datalab role and the real NERC-CEH datalab chart it pins.

The values the role computes from the example inventory inventories/omics_lab (only its validation runs, no
cluster) are checked against the facts recorded from the real chart (tests/fixtures/charts/datalab.yml) — a key
the chart does not read is a silent bug — and rendered with the real helm through the stand-in chart
tests/charts/datalab and the role's own post-renderer, which must leave out the fixed-name cluster RBAC and the
leftover devtest objects and put the inventory's IngressClass on the Ingresses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbooks import run_playbook
from test_mip_contract import leaves

REPO = Path(__file__).resolve().parents[2]
FACTS = yaml.safe_load((REPO / "tests" / "fixtures" / "charts" / "datalab.yml").read_text())
EXAMPLE = REPO / "inventories" / "omics_lab"
ROLE = REPO / "roles" / "datalab"
# The example's group_vars read these from a vault.
VAULT = {"vault_datalab_email_username": "mailer", "vault_datalab_email_password": "x",
         "vault_datalab_prod_certificate": "-----BEGIN CERTIFICATE-----", "vault_datalab_prod_private_key": "-----BEGIN PRIVATE KEY-----",
         "vault_cellxgene_s3_access_key_id": "x", "vault_cellxgene_s3_secret_access_key": "x"}


@pytest.fixture(scope="module")
def example(k8s_cluster, tmp_path_factory):
    """Per environment of the example: the merged values and the role's post-renderer written for it."""
    workdir = tmp_path_factory.mktemp("contract")
    out = workdir / "values.json"
    play = [{"hosts": "control_plane[0]", "gather_facts": False, "tasks": [
        {"name": "compute and validate",
         "ansible.builtin.include_role": {"name": "sciplat.k8s.datalab", "tasks_from": "validate", "public": True}},
        {"name": "dump", "ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": (
            "{% set found = namespace(envs={}) %}{% for env in __datalab_environments %}"
            "{% set found.envs = found.envs | combine({env.name: {'namespace': env.namespace, 'values': "
            "__datalab_role_values[env.name] | combine(__datalab_user_values[env.name], recursive=True)}}) %}"
            "{% endfor %}{{ found.envs | to_json }}")}},
        {"name": "post-renderers",
         "ansible.builtin.include_role": {"name": "sciplat.k8s.datalab", "tasks_from": "post_renderers"}},
    ]}]
    run_playbook(play, k8s_cluster.env, "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
                 workdir=workdir, inventory=EXAMPLE, extra_vars=dict(VAULT, datalab_post_renderer_dir=str(workdir)))
    environments = json.loads(out.read_text())
    for name, environment in environments.items():
        environment["post_renderer"] = workdir / f"{environment['namespace']}-{name}.py"
    return {"environments": environments, "cluster": k8s_cluster}


def test_every_key_the_role_sets_is_read_by_the_real_chart(example):
    known = set(FACTS["value_keys"]) | set(FACTS["template_reads"])
    for name, environment in example["environments"].items():
        set_keys = leaves(environment["values"])
        unread = [key for key in set_keys if key not in known
                  and not any(key.startswith(read + ".") for read in FACTS["template_reads"])]
        assert unread == [], f"{name}: keys the pinned chart does not read: {unread}"
        assert not set(set_keys) & set(FACTS["in_values_but_not_read"])


def test_required_keys_set_and_switches_real_booleans(example):
    for environment in example["environments"].values():
        set_keys = leaves(environment["values"])
        assert [entry["key"] for entry in FACTS["required"]
                if entry["key"] not in set_keys and not any(key.startswith(entry["key"] + ".") for key in set_keys)] == []
        assert {key: set_keys[key] for key in FACTS["booleans"] if key in set_keys and not isinstance(set_keys[key], bool)} == {}
        values = environment["values"]
        assert values["useAppArmor"] is False and values["metadata-catalogue"]["enabled"] is False
        assert values["datalabVolume"] == values["datalabName"]
        assert values["namespace"] == environment["namespace"]


def test_stand_in_chart_reads_only_keys_of_the_real_chart():
    known = set(FACTS["value_keys"]) | set(FACTS["template_reads"])
    stand_in = leaves(yaml.safe_load((REPO / "tests" / "charts" / "datalab" / "values.yaml").read_text()))
    assert sorted(set(stand_in) - known) == []


def test_role_drops_exactly_the_chart_cluster_objects():
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert sorted(name for dummy, name in role_vars["__datalab_chart_cluster_objects"]) == sorted(
        entry.split(" ", 1)[1] for entry in FACTS["cluster_scoped_objects"])


def test_post_rendered_release(example):
    cluster = example["cluster"]
    for name, environment in example["environments"].items():
        done = subprocess.run([str(cluster.helm), "template", name, str(REPO / "tests" / "charts" / "datalab"), "--namespace",
                               environment["namespace"], "-f", "-", "--post-renderer", str(environment["post_renderer"])],
                              input=yaml.safe_dump(environment["values"]), text=True, capture_output=True,
                              env=dict(os.environ, **cluster.env), check=False)
        assert done.returncode == 0, done.stderr
        objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Ingress", "PersistentVolumeClaim", "ServiceAccount", "RoleBinding"} <= kinds
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
        assert {o["metadata"]["namespace"] for o in objects} == {environment["namespace"]}
        assert {o["spec"]["ingressClassName"] for o in objects if o["kind"] == "Ingress"} == {"public"}
