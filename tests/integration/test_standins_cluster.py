"""End to end: node containers join a first node through the microk8s TEST DOUBLE's cluster agent
and appear as Nodes of the real API server, Ready through kwok; then leave and remove-node.
Also checks that Ansible reaches the containers with the podman connection."""

from __future__ import annotations

import json
import time

import yaml

from k8s_support import get

D = "/var/snap/microk8s/current"


def wait_ready_nodes(k8s_cluster, names: list[str], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    nodes: dict = {}
    while time.monotonic() < deadline:
        items = get(k8s_cluster, "nodes")["items"]
        nodes = {n["metadata"]["name"]: n for n in items if n["metadata"]["name"] in names}
        ready = {name for name, node in nodes.items()
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))}
        if ready == set(names):
            return nodes
        time.sleep(1)
    raise AssertionError(f"Nodes not all Ready after {timeout}s: {sorted(nodes)}")


def join_url(node, *args: str) -> str:
    result = node.exec("microk8s", "add-node", "--format", "json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["urls"][0]


def ha_nodes(node) -> list[dict]:
    return yaml.safe_load(node.exec("microk8s", "status", "--format", "yaml").stdout)["high-availability"]["nodes"]


def test_control_plane_and_worker_join(node_factory, k8s_cluster):
    started = time.monotonic()
    node_set = node_factory(["master", "worker1", "cp1"])
    boot_seconds = time.monotonic() - started
    master, worker, cp1 = (node_set.node(n) for n in ("master", "worker1", "cp1"))
    for node in (master, worker, cp1):
        node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable", check=True)
    assert master.exec("microk8s", "status", "--wait-ready", "--timeout", "60").returncode == 0

    worker_join = worker.exec("microk8s", "join", join_url(master), "--worker")
    assert worker_join.returncode == 0, worker_join.stdout + worker_join.stderr
    assert "Successfully joined the cluster." in worker_join.stdout
    for lock in ("clustered.lock", "no-k8s-dqlite", "no-cert-reissue"):
        assert worker.exec("test", "-e", f"{D}/var/lock/{lock}").returncode == 0, lock
    assert worker.exec("test", "-e", f"{D}/var/lock/join-in-progress").returncode != 0

    url = join_url(master, "--token-ttl", "300")
    cp_join = cp1.exec("microk8s", "join", url)
    assert cp_join.returncode == 0, cp_join.stdout + cp_join.stderr
    assert cp1.exec("test", "-e", f"{D}/var/lock/clustered.lock").returncode != 0
    again = cp1.exec("microk8s", "join", url)
    assert again.returncode == 6, "a TTL token is reusable, but the node is already known to dqlite"
    assert "already known to dqlite" in again.stdout

    nodes = wait_ready_nodes(k8s_cluster, ["master", "worker1", "cp1"])
    assert nodes["worker1"]["metadata"]["labels"]["node.kubernetes.io/microk8s-worker"] == "microk8s-worker"
    assert nodes["cp1"]["metadata"]["labels"]["node.kubernetes.io/microk8s-controlplane"] == "microk8s-controlplane"
    assert nodes["worker1"]["metadata"]["labels"]["kubernetes.io/hostname"] == "worker1"
    addresses = {a["type"]: a["address"] for a in nodes["cp1"]["status"]["addresses"]}
    assert addresses["InternalIP"] == cp1.ip

    expected = [{"address": f"{master.ip}:19001", "role": "voter"}, {"address": f"{cp1.ip}:19001", "role": "voter"}]
    assert ha_nodes(master) == expected
    assert ha_nodes(cp1) == expected, "every control plane reports the same members"
    worker_status = worker.exec("microk8s", "status", "--format", "json")
    assert worker_status.returncode == 0
    assert worker_status.stdout.splitlines() == ["This MicroK8s deployment is acting as a node in a cluster.",
                                                 "Please use the control plane node."]
    listed = cp1.exec("microk8s", "kubectl", "get", "nodes", "-o", "name").stdout.split()
    assert {"node/master", "node/worker1", "node/cp1"} <= set(listed)

    # leaving: a worker leaves, then a control plane removes it; a member needs --force
    assert worker.exec("microk8s", "leave").returncode == 0
    assert worker.exec("test", "-e", f"{D}/var/lock/clustered.lock").returncode != 0
    removed = master.exec("microk8s", "remove-node", "worker1")
    assert (removed.returncode, removed.stdout) == (0, "")
    refused = master.exec("microk8s", "remove-node", "cp1")
    assert refused.returncode == 1
    assert refused.stdout.startswith("Removal failed.")
    assert master.exec("microk8s", "remove-node", cp1.ip, "--force").returncode == 0
    assert ha_nodes(master) == [{"address": f"{master.ip}:19001", "role": "voter"}]
    names = {n["metadata"]["name"] for n in get(k8s_cluster, "nodes")["items"]}
    assert "cp1" not in names and "master" in names
    assert boot_seconds < 60


def test_ansible_reaches_nodes_with_podman_connection(node_factory, tmp_path):
    node_set = node_factory(["ansible1"])
    playbook = tmp_path / "play.yml"
    playbook.write_text("""\
- name: Stand-in smoke test
  hosts: nodes
  gather_facts: true
  tasks:
    - name: The test-only snapd package counts as installed
      ansible.builtin.apt:
        name: snapd
        state: present
      register: snapd
    - name: Install microk8s through the snap stand-in
      community.general.snap:
        name: microk8s
        classic: true
        channel: 1.32/stable
    - name: Wait for microk8s
      ansible.builtin.command: microk8s status --wait-ready --timeout 60 --format yaml
      register: status
      changed_when: false
    - name: Report
      ansible.builtin.copy:
        dest: /tmp/report.json
        content: "{{ {'snapd_changed': snapd.changed, 'running': (status.stdout | from_yaml).microk8s.running,
                     'systemd': ansible_facts.service_mgr} | to_json }}"
        mode: "0644"
""")
    inventory = node_set.inventory(tmp_path / "inventory.json")
    result = node_set.ansible_playbook(playbook, inventory)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(node_set.node("ansible1").exec("cat", "/tmp/report.json", check=True).stdout)
    assert report == {"snapd_changed": False, "running": True, "systemd": "systemd"}
