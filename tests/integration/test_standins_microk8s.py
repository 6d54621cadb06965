"""Golden tests of the microk8s TEST DOUBLE, written from the documented microk8s behaviour
(../shared/README.md, "microk8s and snap"), not from the stand-in's output. Each runs the
stand-in in a real node container against the real API server."""

from __future__ import annotations

import hashlib
import json
import math
import re
import ssl
import time

import pytest
import yaml

from k8s_support import get

D = "/var/snap/microk8s/current"
C = "/var/snap/microk8s/common"
ADDON_KEYS = ["name", "repository", "description", "version", "status"]


def install(node, channel: str) -> None:
    node.exec("snap", "install", "microk8s", "--classic", f"--channel={channel}", check=True)
    ready = node.exec("microk8s", "status", "--wait-ready", "--timeout", "60")
    assert ready.returncode == 0, ready.stdout + ready.stderr


@pytest.fixture(scope="module")
def nodes(module_node_factory):
    node_set = module_node_factory(["cp", "old", "spare"])
    install(node_set.node("cp"), "1.32/stable")
    install(node_set.node("old"), "1.28/stable")
    return node_set


@pytest.fixture(scope="module")
def cp(nodes):
    return nodes.node("cp")


def status_yaml(node) -> dict:
    result = node.exec("microk8s", "status", "--format", "yaml")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def add_node_json(node, *args: str) -> dict:
    result = node.exec("microk8s", "add-node", "--format", "json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


# ------------------------------------------------------------------ status

def test_status_yaml_shape_and_order(cp):
    status = status_yaml(cp)
    assert list(status) == ["microk8s", "high-availability", "addons"]
    assert status["microk8s"]["running"] is True
    assert status["high-availability"] == {"enabled": True,
                                           "nodes": [{"address": f"{cp.ip}:19001", "role": "voter"}]}
    addons = status["addons"]
    assert all(list(a) == ADDON_KEYS for a in addons)
    statuses = [a["status"] for a in addons]
    assert statuses == sorted(statuses, key=lambda s: s != "enabled"), "enabled addons come first"
    for group in ("enabled", "disabled"):
        keys = [(a["repository"], a["name"]) for a in addons if a["status"] == group]
        assert keys == sorted(keys)
    enabled = {a["name"] for a in addons if a["status"] == "enabled"}
    # dns from 1.27, helm and helm3 always from 1.25, ha-cluster on every install
    assert {"dns", "helm", "helm3", "ha-cluster"} <= enabled


def test_status_formats(cp):
    assert cp.exec("microk8s", "status", "--format", "json").returncode == 2
    for fmt in ("pretty", "short"):
        result = cp.exec("microk8s", "status", "--format", fmt)
        assert result.returncode == 0
        assert result.stdout.startswith("microk8s is running")
    assert cp.exec("microk8s", "status", "-a", "dns").stdout.strip() == "enabled"
    assert cp.exec("microk8s", "status", "-a", "hostpath-storage").stdout.strip() == "disabled"


def test_stopped_node(cp):
    assert cp.exec("microk8s", "stop").returncode == 0
    try:
        result = cp.exec("microk8s", "status", "--format", "yaml", "--wait-ready", "--timeout", "5")
        assert result.returncode == 0
        assert result.stdout.strip() == "microk8s is not running, try microk8s start"
        assert cp.exec("microk8s", "add-node").returncode == 1
        assert cp.exec("microk8s", "leave").returncode == 1
    finally:
        assert cp.exec("microk8s", "start").returncode == 0
    assert cp.exec("microk8s", "status", "--wait-ready", "--timeout", "60").returncode == 0


# ------------------------------------------------------------------ add-node

def test_add_node_json_and_fingerprint(cp):
    info = add_node_json(cp)
    assert list(info) == ["token", "urls"]
    assert re.fullmatch(r"[0-9a-f]{32}/[0-9a-f]{12}", info["token"])
    assert info["urls"] == [f"{cp.ip}:25000/{info['token']}"]
    # the fingerprint is the prefix of the SHA-256 of the certificate the agent serves
    served = ssl.get_server_certificate((cp.ip, 25000))
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
    assert digest.startswith(info["token"].split("/")[1])


def test_add_node_token_rules(cp):
    short = cp.exec("microk8s", "add-node", "--token", "abc")
    assert short.returncode == 1
    assert "Invalid token size" in short.stdout
    token = "t" * 32
    assert cp.exec("microk8s", "add-node", "--token", token, "--format", "token").stdout.strip() == token
    ttl_token = "u" * 40
    before = int(time.time())
    check = cp.exec("microk8s", "add-node", "--token", ttl_token, "--token-ttl", "120", "--format", "token-check")
    assert re.fullmatch(rf"{ttl_token}/[0-9a-f]{{12}}", check.stdout.strip())
    lines = cp.exec("cat", f"{D}/credentials/cluster-tokens.txt").stdout.splitlines()
    assert token in lines
    stored = [line for line in lines if line.startswith(ttl_token + "|")]
    assert len(stored) == 1
    # microk8s stores the expiry rounded to the nearest second
    assert before + 120 <= int(stored[0].split("|")[1]) <= math.ceil(time.time()) + 120
    as_yaml = yaml.safe_load(cp.exec("microk8s", "add-node", "--format", "yaml").stdout)
    assert sorted(as_yaml) == ["token", "urls"]
    pretty = cp.exec("microk8s", "add-node").stdout
    assert re.search(rf"microk8s join {re.escape(cp.ip)}:25000/[0-9a-f]{{32}}/[0-9a-f]{{12}}", pretty)


# ------------------------------------------------------------------ join errors (the joining side)

def test_join_argument_checks_from_1_29(nodes, cp):
    spare = nodes.node("spare")
    install(spare, "1.32/stable")
    token = add_node_json(cp)["token"]
    fingerprint = token.split("/")[1]
    for connection in (f"cp:25000/{token}", f"{cp.ip}:25000/short/{fingerprint}",
                       f"{cp.ip}:25000/{token.split('/')[0]}/abc"):
        result = spare.exec("microk8s", "join", connection)
        assert result.returncode == 1, connection
        assert result.stdout.startswith("Invalid connection"), result.stdout


def test_join_error_codes(nodes, cp):
    spare = nodes.node("spare")
    plain = add_node_json(cp)["token"].split("/")[0]
    wrong_fingerprint = spare.exec("microk8s", "join", f"{cp.ip}:25000/{plain}/000000000000")
    assert wrong_fingerprint.returncode == 4
    refused = spare.exec("microk8s", "join", f"{cp.ip}:25001/{plain}")
    assert refused.returncode == 1
    bad_token = spare.exec("microk8s", "join", f"{cp.ip}:25000/{'x' * 32}")
    assert bad_token.returncode == 6
    assert bad_token.stdout.strip().endswith("(500).")
    assert "Connection failed." in bad_token.stdout
    assert spare.exec("test", "-e", f"{D}/var/lock/join-in-progress").returncode == 0
    same_ip = cp.exec("microk8s", "join", f"{cp.ip}:25000/{add_node_json(cp)['token']}")
    assert same_ip.returncode == 6
    assert same_ip.stdout.strip().endswith("(503).")


def test_single_use_token_is_spent_at_first_check(nodes, cp):
    """A single-use token is spent even when the agent then refuses the join."""
    spare = nodes.node("spare")
    token = add_node_json(cp)["token"]
    same_ip = cp.exec("microk8s", "join", f"{cp.ip}:25000/{token}")
    assert same_ip.returncode == 6
    retry = spare.exec("microk8s", "join", f"{cp.ip}:25000/{token}")
    assert retry.returncode == 6
    assert "(500)." in retry.stdout


def test_leave_and_remove_node_errors(cp):
    leave = cp.exec("microk8s", "leave")
    assert leave.returncode == 1
    assert "not acting as a node in a cluster" in leave.stdout
    missing = cp.exec("microk8s", "remove-node", "nosuchnode")
    assert (missing.returncode, missing.stdout.strip()) == (1, "Node nosuchnode does not exist in Kubernetes."), \
        missing.stderr


# An address of the podman network (10.89.77.0/24) that no container holds: a connection to it fails
# with EHOSTUNREACH once ARP gets no answer, like a real control plane's unreachable bridge address.
UNREACHABLE = "10.89.77.254"
EXTRA_ADDRESSES = "/etc/sciplat-standin/extra-addresses"
DQLITE_FAULT = f"{D}/var/sciplat-standin/dqlite-unavailable"


def test_multi_homed_control_plane_lists_an_unreachable_url_first(nodes, cp):
    """add-node prints hostname -I's addresses in order (utils.sh:569-589), bridges first if they come
    first; join to one that does not answer ends in the uncaught OSError of conn.connect() (join.py:158-159,
    only HTTPException/SSLError are caught at :182-187): a traceback and exit 1, and no token is spent."""
    spare = nodes.node("spare")
    install(spare, "1.32/stable")
    cp.exec("sh", "-c", f"echo {UNREACHABLE} > {EXTRA_ADDRESSES}", check=True)
    try:
        urls = add_node_json(cp)["urls"]
    finally:
        cp.exec("rm", "-f", EXTRA_ADDRESSES, check=True)
    assert urls[0].startswith(f"{UNREACHABLE}:25000/") and urls[1].startswith(f"{cp.ip}:25000/"), urls
    joined = spare.exec("microk8s", "join", urls[0])
    assert joined.returncode == 1
    assert joined.stdout.startswith(f"Contacting cluster at {UNREACHABLE}")
    assert "Traceback (most recent call last):" in joined.stderr
    assert joined.stderr.strip().splitlines()[-1] == "OSError: [Errno 113] No route to host", joined.stderr
    token = urls[1].split("/")[1]
    assert token in cp.exec("cat", f"{D}/credentials/cluster-tokens.txt").stdout


def test_unreadable_datastore_lists_no_nodes(cp):
    """get_dqlite_info gives up after ten failed queries and returns [] (common/utils.py:105-128): status
    prints high-availability enabled with an empty nodes list (status.py:121-129)."""
    cp.exec("mkdir", "-p", f"{D}/var/sciplat-standin", check=True)
    cp.exec("touch", DQLITE_FAULT, check=True)
    try:
        status = status_yaml(cp)
    finally:
        cp.exec("rm", "-f", DQLITE_FAULT, check=True)
    assert status["high-availability"] == {"enabled": True, "nodes": None}
    assert status["microk8s"]["running"] is True
    assert status_yaml(cp)["high-availability"]["nodes"], "the fault outlived its marker"


def test_remove_node_says_does_not_exist_for_any_failure(nodes, cp, k8s_cluster):
    """remove_node.py:51-94: any failure of its kubectl or dqlite query prints "does not exist in
    Kubernetes", exit 1, although the Node is there."""
    cp.exec("sh", "-c", f"mkdir -p {D}/var/sciplat-standin && echo 1 > {DQLITE_FAULT}", check=True)
    removed = cp.exec("microk8s", "remove-node", "spare")
    assert (removed.returncode, removed.stdout.strip()) == (1, "Node spare does not exist in Kubernetes.")
    assert get(k8s_cluster, "node", "spare") is not None
    assert cp.exec("test", "-e", DQLITE_FAULT).returncode == 1, "a counted fault ends after its queries"


def add_ghost_member(cp, address: str) -> None:
    """A control plane that died with its Node already deleted: only its dqlite entry is left."""
    code = ("from sciplat_standin import cluster; "
            "cluster.SharedState.for_this_node().update(lambda s: s['members'].append("
            f"{{'hostname': 'ghost', 'address': '{address}:19001', 'id': 7, 'role': 'voter'}}))")
    cp.exec("env", "PYTHONPATH=/usr/lib/sciplat-standin", "python3", "-c", code, check=True)


def test_forced_remove_node_matches_only_an_address_in_dqlite(cp):
    """remove_node.py:83-94: without a Node, --force matches its argument as an IP prefix of the dqlite
    endpoints; a name never matches, an address removes the entry (exit 1 all the same)."""
    add_ghost_member(cp, "10.89.77.253")
    by_name = cp.exec("microk8s", "remove-node", "ghost", "--force")
    assert by_name.returncode == 1
    assert by_name.stdout.splitlines() == ["Node ghost does not exist in Kubernetes.",
                                           "Attempting to remove ghost from dqlite."]
    assert "10.89.77.253:19001" in [n["address"] for n in status_yaml(cp)["high-availability"]["nodes"]]
    by_address = cp.exec("microk8s", "remove-node", "10.89.77.253", "--force")
    assert by_address.returncode == 1
    assert by_address.stdout.splitlines()[-1] == "Removing node entry found in dqlite."
    assert "10.89.77.253:19001" not in [n["address"] for n in status_yaml(cp)["high-availability"]["nodes"]]


# ------------------------------------------------------------------ addons

def test_enable_disable_hostpath_storage(cp, k8s_cluster):
    enabled = cp.exec("microk8s", "enable", "hostpath-storage")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    assert get(k8s_cluster, "storageclass", "microk8s-hostpath") is not None
    assert cp.exec("microk8s", "status", "-a", "hostpath-storage").stdout.strip() == "enabled"
    again = cp.exec("microk8s", "enable", "hostpath-storage")
    assert again.returncode == 0
    assert "already enabled" in again.stdout
    old_name = cp.exec("microk8s", "enable", "storage")
    assert old_name.returncode == 0
    assert "already enabled" in old_name.stdout
    # The script removes the provisioner, then asks whether to delete the volumes' data and fails
    # on anything but yes (CORE addons/hostpath-storage/disable:17-22): end of input is a no.
    unanswered = cp.exec("microk8s", "disable", "hostpath-storage", input="")
    assert unanswered.returncode == 1
    assert "Remove PVC storage at /var/snap/microk8s/common/default-storage ? (Y/N): " in unanswered.stdout
    assert get(k8s_cluster, "storageclass", "microk8s-hostpath") is None
    assert cp.exec("microk8s", "enable", "hostpath-storage").returncode == 0
    disabled = cp.exec("microk8s", "disable", "hostpath-storage", "destroy-storage", input="")
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    assert "Remove PVC storage" not in disabled.stdout
    assert get(k8s_cluster, "storageclass", "microk8s-hostpath") is None
    assert "already disabled" in cp.exec("microk8s", "disable", "hostpath-storage").stdout


def test_enable_unknown_addons(cp):
    bare = cp.exec("microk8s", "enable", "nosuchaddon")
    assert bare.returncode == 1
    assert "Addon nosuchaddon was not found in any repository" in bare.stdout + bare.stderr
    qualified = cp.exec("microk8s", "enable", "nosuchrepo/nosuchaddon")
    assert qualified.returncode == 0
    assert "not found" in qualified.stdout + qualified.stderr


def test_metallb_needs_a_range_and_ignores_args_once_enabled(cp):
    assert cp.exec("microk8s", "enable", "metallb", input="").returncode != 0
    assert cp.exec("microk8s", "status", "-a", "metallb").stdout.strip() == "disabled"
    assert cp.exec("microk8s", "enable", "metallb:10.89.77.200-10.89.77.210").returncode == 0
    assert cp.exec("microk8s", "status", "-a", "metallb").stdout.strip() == "enabled"
    again = cp.exec("microk8s", "enable", "metallb", "10.0.0.1-10.0.0.2")
    assert again.returncode == 0
    assert "already enabled" in again.stdout


def test_metallb_reads_only_its_first_argument(nodes):
    """CORE addons/metallb/enable:18: a second word is never read, valid or not."""
    old = nodes.node("old")
    enabled = old.exec("microk8s", "enable", "metallb", "10.89.77.200-10.89.77.210", "not-a-range", input="")
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    assert old.exec("microk8s", "status", "-a", "metallb").stdout.strip() == "enabled"
    assert old.exec("microk8s", "disable", "metallb").returncode == 0


def test_gpu_options_per_version(nodes, cp):
    """gpu (<= 1.28) knows --driver only; nvidia (1.29+) --gpu-operator-driver; click exits 2."""
    old = nodes.node("old")
    for option in ("--gpu-operator-driver", "--network-operator"):
        refused = old.exec("microk8s", "enable", "gpu", option, "host")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"Error: No such option: {option}" in refused.stderr
        assert old.exec("microk8s", "status", "-a", "gpu").stdout.strip() == "disabled"
    assert old.exec("microk8s", "enable", "gpu", "--driver", "host").returncode == 0
    assert old.exec("microk8s", "status", "-a", "gpu").stdout.strip() == "enabled"
    assert cp.exec("microk8s", "enable", "nvidia", "--gpu-operator-driver", "host").returncode == 0
    assert cp.exec("microk8s", "status", "-a", "nvidia").stdout.strip() == "enabled"


def test_gpu_is_renamed_nvidia_from_1_29(nodes, cp):
    assert cp.exec("microk8s", "enable", "gpu").returncode == 0
    assert cp.exec("microk8s", "status", "-a", "nvidia").stdout.strip() == "enabled"
    old = nodes.node("old")
    names = {a["name"] for a in status_yaml(old)["addons"]}
    assert "gpu" in names and "nvidia" not in names


def test_addons_of_an_older_version(nodes):
    """1.28: dns enabled at install (1.27+), host names allowed in join, 504 for a known node."""
    old = nodes.node("old")
    status = {a["name"]: a["status"] for a in status_yaml(old)["addons"]}
    assert status["dns"] == "enabled"
    assert status["helm3"] == "enabled"
    token = add_node_json(old)["token"]
    by_name = old.exec("microk8s", "join", f"old:25000/{token}")
    assert not by_name.stdout.startswith("Invalid connection")


def test_launch_configuration_at_run_time(cp):
    cp.write(f"{C}/etc/launcher/20-rbac.yaml", "---\nversion: 0.1.0\naddons:\n  - name: rbac\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cp.exec("test", "-e", f"{C}/etc/launcher/20-rbac.applied").returncode:
        time.sleep(1)
    assert cp.exec("test", "-e", f"{C}/etc/launcher/20-rbac.applied").returncode == 0
    assert cp.exec("microk8s", "status", "-a", "rbac").stdout.strip() == "enabled"


# ------------------------------------------------------------------ config, kubectl, helm, version

def test_config_points_at_the_real_api_server(cp, k8s_cluster):
    config = yaml.safe_load(cp.exec("microk8s", "config").stdout)
    assert config["clusters"][0]["name"] == "microk8s-cluster"
    assert config["clusters"][0]["cluster"]["server"] == k8s_cluster.nodes_server
    assert config["contexts"][0] == {"context": {"cluster": "microk8s-cluster", "user": "admin"},
                                     "name": "microk8s"}
    assert config["users"][0]["name"] == "admin"


def test_kubectl_and_helm_are_real(cp):
    node = cp.exec("microk8s", "kubectl", "get", "node", "cp", "-o", "name")
    assert node.returncode == 0, node.stderr
    assert node.stdout.strip() == "node/cp"
    for helm in ("helm", "helm3"):
        version = cp.exec("microk8s", helm, "version", "--short")
        assert version.returncode == 0, version.stderr
        assert version.stdout.startswith("v3.")


def test_version(cp):
    assert re.fullmatch(r"MicroK8s v1\.32\.\d+ revision \d+", cp.exec("microk8s", "version").stdout.strip())
