"""The site playbook's preflight (`--tags preflight --check`) on every inventory shipped under inventories/.

The inventories describe real machines (documentation addresses such as 192.0.2.10) that do not exist here, but
the preflight does connect to them: the microk8s role reads each node's microk8s and snapd state
(sciplat.k8s.microk8s_info) and validates the addons for the installed version, so `ansible_connection: local`
would judge the controller instead of a node. Every inventory host that is not already reached locally is pointed,
through a second inventory source that overrides only its connection variables, at ONE fresh stand-in node
(tests/nodes: a bare Ubuntu with the snapd test double, no microk8s yet) — what a first run meets on new machines;
the preflight only reads, so the hosts can share it, as root (the site's admin user, ansible_user, does not exist
on the stand-in). The managed inventory's controller (localhost,
`ansible_connection: local`) keeps its connection, and the platform checks and the managed cluster's API check
talk to the test cluster's API (K8S_AUTH_KUBECONFIG of tests/cluster).

Extra vars give what a test site cannot have: the offline chart mirror (sciplat_chart_mirror), the assembled MIP
9.2 chart in place of the MIP pin whose repository cannot be fetched here (as in test_mip_contract.py), and a test
value for every vault_* variable the inventory's group_vars/host_vars read (the README tells users to create that
vault file).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

import mirror
from k8s_support import get
from playbooks import run_playbook

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "playbooks" / "site.yml"
INVENTORIES = sorted(REPO.glob("inventories/*/hosts*.yml"))
MANAGED = REPO / "inventories" / "managed" / "hosts.yml"
# The variables through which the controller could find an API; the finding-1 tests remove them all.
API_ENV = ("K8S_AUTH_KUBECONFIG", "KUBECONFIG", "K8S_AUTH_HOST", "KUBERNETES_SERVICE_HOST")


def inventory_hosts(inventory: Path, env: dict) -> dict[str, dict]:
    """Every host of the inventory with its variables as Ansible sees them (not templated)."""
    done = subprocess.run(["ansible-inventory", "-i", str(inventory), "--list"], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)["_meta"]["hostvars"]


def vault_test_values(inventory: Path) -> dict[str, str]:
    names: set[str] = set()
    for folder in ("group_vars", "host_vars"):
        for path in (inventory.parent / folder).rglob("*.yml"):
            names.update(re.findall(r"\bvault_\w+", path.read_text()))
    return {name: f"test-{name}" for name in sorted(names)}


def preflight_extra_vars(chart_mirror: dict) -> dict:
    return {"sciplat_chart_mirror": chart_mirror, "mip_chart_source": "path",
            "mip_chart_path": str(mirror.assembled_mip_chart())}


@pytest.fixture(scope="module")
def standin(module_node_factory):
    node_set = module_node_factory(["preflight1"])
    return {"container": node_set.node("preflight1").container, "env": node_set.ansible_env()}


@pytest.mark.parametrize("inventory", INVENTORIES, ids=[str(p.relative_to(REPO / "inventories")) for p in INVENTORIES])
def test_site_preflight_passes_for_every_shipped_inventory(inventory, standin, k8s_cluster, chart_mirror, tmp_path):
    env = {**standin["env"], **k8s_cluster.env}
    hosts = inventory_hosts(inventory, env)
    remote = [name for name, hostvars in hosts.items() if hostvars.get("ansible_connection") != "local"]
    overrides = tmp_path / "standin.yml"
    overrides.write_text(yaml.safe_dump({"all": {"hosts": {name: {
        "ansible_connection": "containers.podman.podman", "ansible_host": standin["container"],
        "ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3"} for name in remote}}}))

    run = run_playbook(SITE, env, "-i", str(overrides), "--tags", "preflight", "--check", workdir=tmp_path,
                       inventory=inventory,
                       extra_vars={**preflight_extra_vars(chart_mirror), **vault_test_values(inventory)},
                       expect_rc=None)

    assert run.rc == 0, run.output[-6000:]
    assert set(run.recap) >= set(hosts), f"hosts the preflight never reached: {set(hosts) - set(run.recap)}"
    assert run.failed == 0 and run.changed == 0, run.recap
    assert "The inventory has" not in run.output
    if "managed" in inventory.parts:
        assert "List the namespaces through each API configuration" in run.output


@pytest.fixture
def managed_env(k8s_cluster, monkeypatch, tmp_path):
    """The controller's environment without any API configuration: no variable, no ~/.kube/config (HOME is empty)."""
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return {key: value for key, value in k8s_cluster.env.items() if key not in API_ENV}


def test_managed_cluster_without_api_configuration_names_the_variables(managed_env, chart_mirror, tmp_path):
    run = run_playbook(SITE, managed_env, "--tags", "preflight", "--check", workdir=tmp_path, inventory=MANAGED,
                       extra_vars=preflight_extra_vars(chart_mirror), expect_rc=2)

    message = run.output.split("Check that the controller has an API configuration", 1)[1]
    for name in ("sciplat_managed_cluster", "K8S_AUTH_KUBECONFIG", "exaflow_kubeconfig", "mip_kubeconfig",
                 "KUBERNETES_SERVICE_HOST", "~/.kube/config"):
        assert name in message, name
    assert "Invalid kube-config" not in run.output
    # Stopped before the roles' checks, which would meet the missing configuration one by one.
    assert "Check every selected role on this host" not in run.output


def test_managed_cluster_with_a_kubeconfig_that_does_not_exist(managed_env, chart_mirror, tmp_path, monkeypatch):
    missing = tmp_path / "missing.kubeconfig"
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(missing))

    run = run_playbook(SITE, managed_env, "--tags", "preflight", "--check", workdir=tmp_path, inventory=MANAGED,
                       extra_vars=preflight_extra_vars(chart_mirror), expect_rc=2)

    message = " ".join(run.output.split("Check that the controller has an API configuration", 1)[1].split())
    assert (f"this kubeconfig does not exist on the controller: {missing} (from K8S_AUTH_KUBECONFIG, used by exaflow, "
            "mip). Set K8S_AUTH_KUBECONFIG (or exaflow_kubeconfig and mip_kubeconfig)") in message
    assert "Check every selected role on this host" not in run.output


def test_managed_cluster_with_unreachable_api_gives_a_clean_message(managed_env, chart_mirror, tmp_path,
                                                                    monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    kubeconfig = tmp_path / "gone.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{closed_port}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "gone", "user": {"token": "test"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(kubeconfig))

    run = run_playbook(SITE, managed_env, "--tags", "preflight", "--check", workdir=tmp_path, inventory=MANAGED,
                       extra_vars=preflight_extra_vars(chart_mirror), expect_rc=2)

    message = run.output.split("Report the API that does not answer and what to set", 1)[1]
    assert f"does not answer through K8S_AUTH_KUBECONFIG ({kubeconfig}), used by exaflow, mip" in message
    assert "Connection refused" in message
    assert "point K8S_AUTH_KUBECONFIG" in message and "sciplat_managed_cluster" in message
    assert "Traceback" not in run.output
    assert "Check every selected role on this host" not in run.output


@pytest.mark.parametrize("extra, expected", [
    ({"exaflow_localnodes": 0}, "set exaflow_localnodes to the number of localworkers"),
    ({"exaflow_smpc_enabled": True}, "smpc.enabled needs at least 3 localworkers; localnodes is 2"),
], ids=["managed-without-localnodes", "managed-smpc-on-2-localworkers"])
def test_exaflow_localnodes_is_checked_in_the_preflight(extra, expected, k8s_cluster, chart_mirror, tmp_path):
    run = run_playbook(SITE, k8s_cluster.env, "--tags", "preflight", "--check", workdir=tmp_path, inventory=MANAGED,
                       extra_vars={**preflight_extra_vars(chart_mirror), **extra}, expect_rc=2)

    problems = run.output.split("The inventory has", 1)[1]
    assert expected in " ".join(problems.split())


def test_exaflow_checks_the_managed_cluster_nodes_before_the_deploy(k8s_cluster, tmp_path):
    """The bound the preflight cannot know on a managed cluster (its nodes) is read from the API by cluster.yml."""
    nodes = get(k8s_cluster, "nodes")["items"]
    play = [{"hosts": "control_plane[0]", "gather_facts": False, "tasks": [
        {"name": f"exaflow {name}", "ansible.builtin.include_role": {"name": "sciplat.k8s.exaflow", "tasks_from": name}}
        for name in ("validate", "cluster")]}]

    run = run_playbook(play, k8s_cluster.env, "--check", workdir=tmp_path, inventory=MANAGED,
                       extra_vars={"exaflow_localnodes": len(nodes) + 1}, expect_rc=2)

    assert (f"exaflow_localnodes is {len(nodes) + 1} but the cluster has {len(nodes)} node(s)"
            in " ".join(run.output.split()))
