"""sciplat.k8s.node_labels and the cluster_labels role against the test cluster's real kube-apiserver.

The module runs the way users run it: ansible-playbook or ansible ad-hoc with K8S_AUTH_KUBECONFIG.
Request counts, the concurrent writer and the injected server error come from a counting reverse
proxy on loopback (api_counting_proxy.py) that sits between the module and the API server.
Every test creates its own Nodes (kwok, the cluster's kubelet stand-in, takes care of their status)
and deletes them afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from api_counting_proxy import CountingProxy

kubernetes = pytest.importorskip("kubernetes")

MANAGED = "k8s.sciplat.io/managed-labels"
FOREIGN = {"kubernetes.io/os": "linux", "team": "set-by-hand"}
TTL_ANNOTATION = "node.alpha.kubernetes.io/ttl"


@pytest.fixture(scope="module")
def core(k8s_cluster):
    client = kubernetes.config.new_client_from_config(config_file=str(k8s_cluster.kubeconfig))
    return kubernetes.client.CoreV1Api(client)


@pytest.fixture
def make_nodes(core):
    """Creates Nodes with FOREIGN labels and a hostname label, named uniquely for this test."""
    created = []
    prefix = "nl-it-%s" % uuid.uuid4().hex[:6]

    def make(count, labels=None):
        names = []
        for index in range(len(created), len(created) + count):
            name = "%s-%d" % (prefix, index)
            own = dict(FOREIGN, **{"kubernetes.io/hostname": name}, **(labels or {}))
            body = {"metadata": {"name": name, "labels": own}}
            core.create_node(body)
            created.append(name)
            names.append(name)
        for name in names:
            settle(core, name)
        return names

    yield make
    for name in created:
        core.delete_node(name)


def settle(core, name, timeout=30):
    """Waits for the writers that touch a new Node once (kwok's status, the TTL controller's annotation),
    so a changed resourceVersion afterwards means the module wrote."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node = core.read_node(name)
        ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
        if ready and TTL_ANNOTATION in (node.metadata.annotations or {}):
            return
        time.sleep(0.2)
    pytest.fail("node %s was not initialised by kwok and the TTL controller within %d s" % (name, timeout))


def metadata(core, name):
    node = core.read_node(name)
    return node.metadata


class Ansible:
    """Runs playbooks and ad-hoc commands as a user would, returning the JSON callback's results."""

    def __init__(self, k8s_cluster, tmp_path):
        self.tmp_path = tmp_path
        self.env = {**os.environ, **k8s_cluster.env, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                    "ANSIBLE_LOAD_CALLBACK_PLUGINS": "true", "ANSIBLE_LOCALHOST_WARNING": "false",
                    "ANSIBLE_NOCOLOR": "1"}

    def _run(self, cmd, kubeconfig=None):
        env = dict(self.env)
        if kubeconfig:
            env["K8S_AUTH_KUBECONFIG"] = str(kubeconfig)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=self.tmp_path, check=False)
        try:
            return json.loads(done.stdout), done
        except ValueError:
            pytest.fail("%s printed no JSON (exit %d):\n%s\n%s" % (cmd[0], done.returncode, done.stdout, done.stderr))

    def play(self, tasks, *options, kubeconfig=None, inventory=None):
        """Runs ``tasks`` in one play; returns the per-task results (for host localhost, or all hosts)."""
        playbook = self.tmp_path / "play.yml"
        hosts = "all" if inventory else "localhost"
        playbook.write_text(yaml.safe_dump([{"name": "test", "hosts": hosts, "gather_facts": False,
                                             "tasks": tasks}]))
        cmd = ["ansible-playbook", *options, str(playbook)]
        if inventory:
            cmd[1:1] = ["-i", str(inventory)]
        report, done = self._run(cmd, kubeconfig)
        return report, done

    def module(self, *options, kubeconfig=None, **args):
        """One node_labels task in a playbook; returns its result."""
        report = self.play([{"name": "labels", "sciplat.k8s.node_labels": args}], *options, kubeconfig=kubeconfig)[0]
        return report["plays"][0]["tasks"][0]["hosts"]["localhost"]

    def adhoc(self, *options, kubeconfig=None, **args):
        report = self._run(["ansible", "localhost", "-m", "sciplat.k8s.node_labels", "-a", json.dumps(args),
                            *options], kubeconfig)[0]
        return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture
def ansible(k8s_cluster, tmp_path):
    return Ansible(k8s_cluster, tmp_path)


@pytest.fixture
def proxy(k8s_cluster):
    with CountingProxy(k8s_cluster.kubeconfig) as counting:
        yield counting


def test_add_change_remove_leaves_foreign_labels_alone(core, make_nodes, ansible):
    node, = make_nodes(1)

    result = ansible.adhoc(labels={node: {"worker": True, "zone": "a", "node-role.kubernetes.io/worker": ""}})
    assert result["changed"] is True
    assert result["nodes"][node]["added"] == {"worker": "true", "zone": "a", "node-role.kubernetes.io/worker": ""}
    md = metadata(core, node)
    assert md.labels == dict(FOREIGN, **{"kubernetes.io/hostname": node, "worker": "true", "zone": "a",
                                         "node-role.kubernetes.io/worker": ""})
    assert md.annotations[MANAGED] == "node-role.kubernetes.io/worker,worker,zone"

    result = ansible.module(labels={node: {"zone": "b", "worker": {"state": "absent"},
                                           "node-role.kubernetes.io/worker": None}})
    assert result["nodes"][node]["changed"] == {"zone": {"before": "a", "after": "b"}}
    assert result["nodes"][node]["removed"] == {"worker": "true", "node-role.kubernetes.io/worker": ""}
    md = metadata(core, node)
    assert md.labels == dict(FOREIGN, **{"kubernetes.io/hostname": node, "zone": "b"})
    assert md.annotations[MANAGED] == "zone"


def test_exclusive_removes_only_what_the_module_set(core, make_nodes, ansible):
    node, = make_nodes(1, labels={"smpc_player": "set-by-a-person"})
    ansible.module(labels={node: {"worker": "true", "gpu": "nvidia"}})

    result = ansible.module(labels={node: {"worker": "true"}}, exclusive=True)
    assert result["nodes"][node]["removed"] == {"gpu": "nvidia"}
    md = metadata(core, node)
    assert md.labels == dict(FOREIGN, **{"kubernetes.io/hostname": node, "worker": "true",
                                         "smpc_player": "set-by-a-person"})
    assert md.annotations[MANAGED] == "worker"

    ansible.module(labels={node: None}, exclusive=True)
    md = metadata(core, node)
    assert "worker" not in md.labels and md.labels["smpc_player"] == "set-by-a-person"
    assert MANAGED not in (md.annotations or {})


def test_exclusive_cluster_scope_cleans_nodes_no_longer_declared(core, make_nodes, ansible):
    kept, dropped = make_nodes(2)
    ansible.module(labels={kept: {"worker": "true"}, dropped: {"worker": "true"}})
    result = ansible.module(labels={kept: {"worker": "true"}}, exclusive=True, exclusive_scope="cluster")
    assert result["nodes"][dropped]["removed"] == {"worker": "true"}
    assert "worker" not in metadata(core, dropped).labels
    assert metadata(core, kept).labels["worker"] == "true"


def test_check_mode_writes_nothing_and_reports_the_diff(core, make_nodes, ansible, proxy):
    node, = make_nodes(1)
    before = metadata(core, node)

    result = ansible.module("--check", "--diff", kubeconfig=proxy.kubeconfig, labels={node: {"worker": "true"}})
    assert result["changed"] is True
    assert result["nodes"][node]["added"] == {"worker": "true"}
    assert result["diff"] == [{
        "before_header": "node/%s" % node, "after_header": "node/%s" % node,
        "before": {"labels": before.labels, "managed": []},
        "after": {"labels": dict(before.labels, worker="true"), "managed": ["worker"]},
    }]
    assert proxy.writes() == []
    after = metadata(core, node)
    assert after.resource_version == before.resource_version
    assert after.labels == before.labels


def test_rerun_is_idempotent_one_list_and_no_write(core, make_nodes, ansible, proxy):
    nodes = make_nodes(3)
    declared = {name: {"worker": "true", "smpc_player": True} for name in nodes}
    assert ansible.module(labels=declared)["changed"] is True
    versions = {name: metadata(core, name).resource_version for name in nodes}

    result = ansible.module(labels=declared, kubeconfig=proxy.kubeconfig)
    assert result["changed"] is False
    assert [(r.method, r.path) for r in proxy.requests] == [("GET", "/api/v1/nodes")]
    assert {name: metadata(core, name).resource_version for name in nodes} == versions


def test_one_node_is_read_with_a_field_selector(make_nodes, ansible, proxy):
    node, = make_nodes(1)
    ansible.adhoc(kubeconfig=proxy.kubeconfig, labels={node: {"worker": "true"}})
    assert [(r.method, r.path, r.query) for r in proxy.requests] == [
        ("GET", "/api/v1/nodes", {"fieldSelector": ["metadata.name=%s" % node]}),
        ("PATCH", "/api/v1/nodes/%s" % node, {}),
    ]


def test_conflict_with_a_concurrent_writer_is_retried_and_keeps_both_changes(core, make_nodes, ansible, proxy):
    first, second = make_nodes(2)
    interfered = []

    def concurrent_writer(request):
        # Between the module's read and its first write, someone else labels the same node.
        if request.method == "PATCH" and not interfered:
            name = request.path.rsplit("/", 1)[1]
            core.patch_node(name, {"metadata": {"labels": {"written-meanwhile": "yes"}}})
            interfered.append(name)

    proxy.before_forward = concurrent_writer
    result = ansible.module(kubeconfig=proxy.kubeconfig, labels={first: {"worker": "true"}, second: {"worker": "true"}})

    assert result["changed"] is True and result["conflicts"] == 1
    assert interfered == [first]
    assert [(r.method, r.path) for r in proxy.requests] == [
        ("GET", "/api/v1/nodes"),
        ("PATCH", "/api/v1/nodes/%s" % first),  # refused: 409 Conflict
        ("GET", "/api/v1/nodes/%s" % first),
        ("PATCH", "/api/v1/nodes/%s" % first),
        ("PATCH", "/api/v1/nodes/%s" % second),
    ]
    labels = metadata(core, first).labels
    assert labels["worker"] == "true" and labels["written-meanwhile"] == "yes"
    assert metadata(core, first).annotations[MANAGED] == "worker"


def test_transient_server_error_is_retried(core, make_nodes, ansible, proxy):
    node, = make_nodes(1)
    failures = [503]
    proxy.before_forward = lambda request: (failures.pop(), "injected by the test proxy") if failures else None
    result = ansible.module(kubeconfig=proxy.kubeconfig, labels={node: {"worker": "true"}})
    assert result["transient_retries"] == 1
    assert [r.method for r in proxy.requests] == ["GET", "GET", "PATCH"]
    assert metadata(core, node).labels["worker"] == "true"


def test_missing_nodes_fail_before_any_write(core, make_nodes, ansible, proxy):
    node, = make_nodes(1)
    version = metadata(core, node).resource_version
    result = ansible.module(kubeconfig=proxy.kubeconfig, labels={node: {"worker": "true"}, "nl-it-ghost-b": {"a": "1"},
                                                                 "nl-it-ghost-a": {"a": "1"}})
    assert result["failed"] is True
    assert "node(s) not found in the cluster: nl-it-ghost-a, nl-it-ghost-b" in result["msg"]
    assert proxy.writes() == []
    assert metadata(core, node).resource_version == version

    result = ansible.module(labels={node: {"worker": "true"}, "nl-it-ghost-a": {"a": "1"}}, missing="ignore")
    assert not result.get("failed")
    assert result["missing"] == ["nl-it-ghost-a"]
    assert any("nl-it-ghost-a" in warning for warning in result["warnings"])
    assert metadata(core, node).labels["worker"] == "true"


def test_invalid_labels_fail_before_any_request_naming_node_and_key(make_nodes, ansible, proxy):
    node, = make_nodes(1)
    result = ansible.module(kubeconfig=proxy.kubeconfig, labels={
        node: {"kubernetes.io/arch": "arm64", "zone": "not valid"},
    })
    assert result["failed"] is True
    assert "node '%s', label 'kubernetes.io/arch': prefix 'kubernetes.io' is reserved" % node in result["msg"]
    assert "node '%s', label 'zone': value 'not valid'" % node in result["msg"]
    assert proxy.requests == []


def test_role_labels_nodes_from_inventory_groups(core, make_nodes, ansible, tmp_path, proxy):
    master, worker1, worker2 = make_nodes(3)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}

    def inventory(smpc_players):
        hosts = {"host-m": dict(local, cluster_labels_node_name=master),
                 "host-w1": dict(local, cluster_labels_node_name=worker1),
                 "host-w2": dict(local, cluster_labels_node_name=worker2,
                                 cluster_labels_host_labels={"gpu": "nvidia"})}
        path = tmp_path / "inventory.yml"
        path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": {
            "control_plane": {"hosts": {"host-m": None}},
            "workers": {"hosts": {"host-m": None, "host-w1": None, "host-w2": None}},
            "smpc_players": {"hosts": dict.fromkeys(smpc_players)},
        }}}))
        return path

    role = [{"name": "cluster_labels", "ansible.builtin.include_role": {"name": "sciplat.k8s.cluster_labels"}}]

    def labels_task(report):
        tasks = report["plays"][0]["tasks"]
        task = next(t for t in tasks if "Set the inventory-derived labels" in t["task"]["name"])
        return next(iter(task["hosts"].values()))

    report, done = ansible.play(role, inventory=inventory(["host-w1", "host-w2"]))
    assert done.returncode == 0, done.stdout[-3000:]
    assert labels_task(report)["changed"] is True
    assert {k: v for k, v in metadata(core, master).labels.items() if k not in FOREIGN and "hostname" not in k} == \
        {"master": "true", "worker": "true"}
    assert metadata(core, worker1).labels["smpc_player"] == "true"
    assert metadata(core, worker2).labels["gpu"] == "nvidia"
    assert metadata(core, worker2).labels["team"] == "set-by-hand"

    # worker2 leaves the SMPC group: the role removes the label it set, and only that.
    report, done = ansible.play(role, "--diff", inventory=inventory(["host-w1"]))
    result = labels_task(report)
    assert result["changed"] is True
    assert {name for name, node in result["nodes"].items() if node["patched"]} == {worker2}
    assert result["nodes"][worker2]["removed"] == {"smpc_player": "true"}
    assert "smpc_player" not in metadata(core, worker2).labels

    # A rerun changes nothing, with one LIST and no write.
    report, done = ansible.play(role, inventory=inventory(["host-w1"]), kubeconfig=proxy.kubeconfig)
    assert labels_task(report)["changed"] is False
    assert [(r.method, r.path) for r in proxy.requests] == [("GET", "/api/v1/nodes")]
    assert report["stats"]["host-m"]["changed"] == 0


def test_role_refuses_two_hosts_with_one_node_name(ansible, tmp_path, proxy):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "cluster_labels_node_name": "same-node"}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"workers": {"hosts": {"a": local, "b": local}}}}}))
    report, done = ansible.play([{"name": "cluster_labels",
                                  "ansible.builtin.include_role": {"name": "sciplat.k8s.cluster_labels"}}],
                                inventory=path, kubeconfig=proxy.kubeconfig)
    assert done.returncode != 0
    messages = json.dumps(report)
    assert "same-node <- a, b" in messages
    assert proxy.requests == []


def test_role_refuses_bad_label_keys_and_values_before_any_request(ansible, tmp_path, proxy):
    """The preflight's check (tasks_from validate, as the site playbook runs it before microk8s is installed)."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"workers": {"hosts": {
        "a": dict(local, cluster_labels_host_labels={"kubernetes.io/arch": "arm64", "zone": "not valid"})}}}}}))
    report, done = ansible.play([{"name": "cluster_labels", "ansible.builtin.include_role": {
        "name": "sciplat.k8s.cluster_labels", "tasks_from": "validate"}}], inventory=path, kubeconfig=proxy.kubeconfig)
    assert done.returncode != 0
    messages = json.dumps(report)
    assert "Labels the API server would refuse" in messages
    assert "node 'a', label 'kubernetes.io/arch': prefix 'kubernetes.io' is reserved" in messages
    assert "node 'a', label 'zone': value 'not valid'" in messages
    assert proxy.requests == []
