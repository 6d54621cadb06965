"""Role scipion through playbooks/scipion.yml against the real test cluster.

Real parts: kube-apiserver 1.36 with kwok nodes (Pods become Running without containers), helm 3,
ansible-playbook, the sciplat.k8s modules and roles it uses. Stand-ins, labelled as such: the chart
tests/charts/scipion (the keys the Scipion portal passes plus the role's assumed keys; the real chart could
not be read), the FAKE Onezone of tests/fakes/onezone (tokens it issues and their scope), StorageClasses
nfs-csi and onedata with static PersistentVolumes (no NFS or Onedata behind them), a kwok node that
advertises nvidia.com/gpu, and an IngressClass of this module's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    PROVIDER_ID,
    SPACE_ID,
)
from k8s_support import apply, decoded, get, helm_json, helm_uninstall, kubectl, kwok_node, static_volumes
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "scipion.yml"
CHART = REPO / "tests" / "charts" / "scipion"
NS_A = "scipionit-a"
NS_B = "scipionit-b"
GPU_NODE = "scipionit-gpu"
GPU_LABEL = "sciplat-test/scipion-gpu"
INGRESS_CLASS = "scipionit"
PROJECT_SPACE_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90ch3c4d"
NFS_VOLUMES = [f"scipionit-nfs-{index}" for index in range(4)]


def vnc_passwords(cluster, *instances):
    found = {}
    for namespace, name in instances:
        secret = get(cluster, "secret", f"sciplat-scipion-{name}-vnc", "-n", namespace)
        found[name] = (secret["metadata"]["resourceVersion"], decoded(secret)["password"])
    return found


def revisions(cluster, *instances):
    return {name: helm_json(cluster, "status", name, "-n", namespace)["version"] for namespace, name in instances}


@pytest.fixture(scope="module")
def tokens(onezone):
    spaces = {SPACE_ID: {"name": "em-dataset", "supports": {PROVIDER_ID: {"readonly": False}}},
              PROJECT_SPACE_ID: {"name": "em-project", "supports": {PROVIDER_ID: {"readonly": False}}}}
    providers = {PROVIDER_ID: {"name": "fake-provider", "domain": PROVIDER_DOMAIN, "online": True, "version": "21.02.8"}}
    scope = {"spaces": spaces, "providers": providers}
    return {name: onezone.issue(scope=scope) for name in ("alice-dataset", "alice-project", "env")}


def remove_test_objects(cluster):
    for namespace, releases in ((NS_A, ("alice", "carol")), (NS_B, ("bob",))):
        for release in releases:
            helm_uninstall(cluster, release, namespace)
    kubectl(cluster, "delete", "namespace", NS_A, NS_B, "scipionit-refused", "scipionit-other", "scipionit-check",
            "--ignore-not-found",
            "--timeout=180s", check=False)
    kubectl(cluster, "delete", "pv", *NFS_VOLUMES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", GPU_NODE, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", INGRESS_CLASS, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, tmp_path_factory):
    """A kwok GPU node, the StorageClasses the chart names, static NFS volumes and an IngressClass."""
    remove_test_objects(k8s_cluster)
    # Stand-in for a GPU node whose NVIDIA device plugin advertises two GPUs.
    kwok_node(k8s_cluster, GPU_NODE, {GPU_LABEL: "true"}, {"nvidia.com/gpu": "2"})
    created_classes = []
    for name in ("nfs-csi", "onedata"):
        if get(k8s_cluster, "storageclass", name) is None:
            # Stand-ins for csi-driver-nfs and sciplat.k8s.csi_onedata's class: static volumes only.
            apply(k8s_cluster, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                                "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"})
            created_classes.append(name)
    pv_root = tmp_path_factory.mktemp("nfs")
    static_volumes(k8s_cluster, NFS_VOLUMES, "nfs-csi", "1Gi", "ReadWriteMany", pv_root)
    apply(k8s_cluster, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": INGRESS_CLASS},
                        "spec": {"controller": "k8s.io/ingress-nginx"}})
    yield k8s_cluster
    remove_test_objects(k8s_cluster)
    for name in created_classes:
        kubectl(k8s_cluster, "delete", "storageclass", name, "--ignore-not-found", check=False)


def instance(name, namespace, **extra):
    entry = {"name": name, "namespace": namespace,
             "dataset": {"host": PROVIDER_DOMAIN, "space_id": SPACE_ID},
             "project": {"host": PROVIDER_DOMAIN, "space_id": PROJECT_SPACE_ID}}
    entry.update(extra)
    return entry


ALICE = instance("alice", NS_A, gpu=1, vnc_node_port=32142)
BOB = instance("bob", NS_B, vnc_access="ingress", vnc_host="bob.scipion.example.org", ram_max="16Gi")
CAROL = instance("carol", NS_A, vnc_node_port=32143, cpu_max=4)


def inventory(workdir: Path, onezone, instances, **group_vars) -> Path:
    """An inventory shaped like inventories/scipion_facility, on the local connection and the stand-in chart."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "scipion_chart_source": "path",
        "scipion_chart_path": str(CHART),
        "scipion_instances": instances,
        "scipion_gpu_node_labels": {GPU_LABEL: "true"},
        "scipion_vnc_ingress_class": INGRESS_CLASS,
        "scipion_validate_online": True,
        "scipion_onezone_host": onezone.address,
        "scipion_onezone_ca_path": onezone.ca_path,
        "scipion_helm_wait_timeout": "2m",
    }
    variables.update(group_vars)
    return write_inventory(workdir, variables, {"control_plane": ["scipionit-master"]})


def run(cluster, workdir, hosts, tokens, *args, expect_rc=0):
    # alice's tokens come from scipion_onedata_tokens (a vault in real inventories), everyone else's from
    # ONEDATA_TOKEN, as an AWX custom credential injects it.
    env = dict(cluster.env, ONEDATA_TOKEN=tokens["env"])
    extra = {"scipion_onedata_tokens": {"alice": {"dataset": tokens["alice-dataset"], "project": tokens["alice-project"]}}}
    return run_playbook(PLAYBOOK, env, *args, workdir=workdir, inventory=hosts, extra_vars=extra, expect_rc=expect_rc)


def assert_nothing_secret(output, *values):
    for value in values:
        assert value not in output, "a token or generated password reached the ansible-playbook output"
        assert value[len(value) // 2:len(value) // 2 + 16] not in output


@pytest.mark.parametrize("case, instances, extra, message", [
    ("GPU without GPU node", [instance("refused", "scipionit-refused", gpu=1)],
     {"scipion_gpu_node_labels": {GPU_LABEL: "absent"}},
     "1 GPU(s) requested, but no node is labelled as a GPU node (sciplat-test/scipion-gpu=absent)"),
    ("more GPUs than advertised", [instance("refused", "scipionit-refused", gpu=3)], {},
     "the labelled GPU nodes advertise at most 2 nvidia.com/gpu"),
    ("project space not in the token's scope",
     [instance("refused", "scipionit-refused", project={"host": PROVIDER_DOMAIN, "space_id": OTHER_SPACE_ID})], {},
     f"Scipion instance refused, project space {OTHER_SPACE_ID}: Onedata token check failed"),
    ("NodePort out of range", [instance("refused", "scipionit-refused", vnc_node_port=29999)], {},
     "vnc_node_port 29999 is out of the NodePort range 30000-32767"),
    ("two instances on one NodePort", [instance("refused", "scipionit-refused"), instance("other", "scipionit-other")], {},
     "Several instances ask for the same VNC NodePort (32142, 32142)"),
    ("missing StorageClass", [instance("refused", "scipionit-refused")],
     {"scipion_required_storage_classes": ["nfs-csi", "scipionit-missing"]},
     "StorageClass scipionit-missing is not in the cluster"),
    ("missing IngressClass", [instance("refused", "scipionit-refused", vnc_access="ingress", vnc_host="r.example.org",
                                       vnc_ingress_class="scipionit-missing")], {},
     "IngressClass scipionit-missing is not in the cluster"),
    ("no pinned commit", [instance("refused", "scipionit-refused")], {"scipion_chart_source": "git"},
     "scipion_chart_git_commit must be the full 40-hex commit"),
    ("short space ID", [instance("refused", "scipionit-refused", dataset={"host": PROVIDER_DOMAIN, "space_id": "abc"})],
     {}, "dataset.space_id and project.space_id must be Onedata space IDs"),
    ("token in an entry", [instance("refused", "scipionit-refused", token="MDAxTokenInAnEntry")], {},
     "Validation of arguments failed: scipion_instances.token. Supported parameters include"),
    ("string boolean", [instance("refused", "scipionit-refused", values={"instance": {"microk8s": "false"}})], {},
     'give real YAML booleans (true/false, unquoted): instance.microk8s="false"'),
])
def test_refused_before_any_change(cluster, onezone, tokens, tmp_path, case, instances, extra, message):
    hosts = inventory(tmp_path, onezone, instances, **extra)
    result = run(cluster, tmp_path, hosts, tokens, expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert result.changed == 0
    assert "MDAxTokenInAnEntry" not in result.output
    assert get(cluster, "namespace", "scipionit-refused") is None


@pytest.fixture(scope="module")
def deployed(cluster, onezone, tokens, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    hosts = inventory(workdir, onezone, [ALICE, BOB])
    return run(cluster, workdir, hosts, tokens, "-vvv", "--diff")


def test_install(cluster, deployed, tokens):
    assert deployed.changed > 0
    passwords = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob"))
    assert all(len(password) == 32 and int(password, 16) >= 0 for dummy, password in passwords.values())
    assert passwords["alice"][1] != passwords["bob"][1]

    # The chart got the tokens, space IDs and VNC password through its values (Secrets it makes itself).
    for namespace, name, dataset_token, project_token in ((NS_A, "alice", tokens["alice-dataset"], tokens["alice-project"]),
                                                          (NS_B, "bob", tokens["env"], tokens["env"])):
        assert decoded(get(cluster, "secret", f"{name}-od-dataset", "-n", namespace)) == {
            "host": PROVIDER_DOMAIN, "onedata_token": dataset_token, "space_id": SPACE_ID, "oneclient_options": ""}
        assert decoded(get(cluster, "secret", f"{name}-od-project", "-n", namespace))["onedata_token"] == project_token
        assert decoded(get(cluster, "secret", f"{name}-vnc", "-n", namespace))["password"] == passwords[name][1]
        for space, space_id in (("dataset", SPACE_ID), ("project", PROJECT_SPACE_ID)):
            claim = get(cluster, "pvc", f"{name}-od-{space}-{space_id[:8]}", "-n", namespace)
            assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "onedata"
        assert get(cluster, "pvc", f"{name}-work", "-n", namespace)["status"]["phase"] == "Bound"
        assert helm_json(cluster, "status", name, "-n", namespace)["info"]["status"] == "deployed"

    values = helm_json(cluster, "get", "values", "alice", "-n", NS_A)
    assert values["instance"]["microk8s"] is True and values["instance"]["keepVolumes"] is True
    assert values["od"]["dataset"]["spaceIdShort"] == SPACE_ID[:8]
    assert values["vnc"] == {"useVncClient": False, "vncPassword": passwords["alice"][1], "serviceType": "NodePort",
                             "nodePort": 32142, "ingress": {"enabled": False}}

    # alice: one GPU, scheduled on the labelled node; VNC on the NodePort.
    master = get(cluster, "deployment", "alice-master", "-n", NS_A)
    pod_spec = master["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {GPU_LABEL: "true"}
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    pods = get(cluster, "pods", "-n", NS_A, "-l", "app=alice-master")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [GPU_NODE] and pods[0]["status"]["phase"] == "Running"
    assert get(cluster, "service", "alice-vnc", "-n", NS_A)["spec"]["ports"][0]["nodePort"] == 32142

    # bob: no GPU, VNC behind an Ingress, its own memory limit.
    bob_master = get(cluster, "deployment", "bob-master", "-n", NS_B)["spec"]["template"]["spec"]
    assert "nodeSelector" not in bob_master
    assert "nvidia.com/gpu" not in bob_master["containers"][0]["resources"]["limits"]
    assert bob_master["containers"][0]["resources"]["limits"]["memory"] == "16Gi"
    assert get(cluster, "service", "bob-vnc", "-n", NS_B)["spec"]["type"] == "ClusterIP"
    ingress = get(cluster, "ingress", "bob-vnc", "-n", NS_B)["spec"]
    assert ingress["ingressClassName"] == INGRESS_CLASS and ingress["rules"][0]["host"] == "bob.scipion.example.org"


def test_verbose_run_shows_no_token_or_password(cluster, deployed, tokens):
    passwords = [password for dummy, password in vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")).values()]
    assert "sciplat-scipion-alice-vnc" in deployed.output  # the -vvv output is the one searched
    assert_nothing_secret(deployed.output, *tokens.values(), *passwords)


def test_rerun_changes_nothing(cluster, onezone, tokens, deployed, tmp_path):
    before = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob"))
    releases = revisions(cluster, (NS_A, "alice"), (NS_B, "bob"))
    rerun = run(cluster, tmp_path, inventory(tmp_path, onezone, [ALICE, BOB]), tokens, "-vvv")
    assert rerun.changed == 0, rerun.output[-4000:]
    assert vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")) == before
    assert revisions(cluster, (NS_A, "alice"), (NS_B, "bob")) == releases
    assert_nothing_secret(rerun.output, *tokens.values(), *(password for dummy, password in before.values()))


def test_another_instance_leaves_the_others_alone(cluster, onezone, tokens, deployed, tmp_path):
    before = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob"))
    releases = revisions(cluster, (NS_A, "alice"), (NS_B, "bob"))
    hosts = inventory(tmp_path, onezone, [ALICE, BOB, CAROL])
    added = run(cluster, tmp_path, hosts, tokens)
    assert added.changed > 0
    assert vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")) == before
    assert revisions(cluster, (NS_A, "alice"), (NS_B, "bob")) == releases
    carol = vnc_passwords(cluster, (NS_A, "carol"))["carol"][1]
    assert carol not in (before["alice"][1], before["bob"][1])
    assert get(cluster, "service", "carol-vnc", "-n", NS_A)["spec"]["ports"][0]["nodePort"] == 32143
    assert get(cluster, "deployment", "carol-master", "-n", NS_A)["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"]["cpu"] == "4"
    assert run(cluster, tmp_path, hosts, tokens).changed == 0


def test_node_port_of_another_release_is_refused(cluster, onezone, tokens, deployed, tmp_path):
    hosts = inventory(tmp_path, onezone, [instance("dave", "scipionit-other", vnc_node_port=32142)])
    refused = run(cluster, tmp_path, hosts, tokens, expect_rc=2)
    assert "NodePort 32142 is taken by scipionit-a/alice-vnc (release alice)" in " ".join(refused.output.split())
    assert get(cluster, "namespace", "scipionit-other") is None


def test_check_mode_predicts_a_new_instance_and_writes_nothing(cluster, onezone, tokens, tmp_path):
    hosts = inventory(tmp_path, onezone, [instance("erin", "scipionit-check", vnc_node_port=32144)])
    checked = run(cluster, tmp_path, hosts, tokens, "--check", "--diff")
    assert checked.changed > 0
    assert get(cluster, "namespace", "scipionit-check") is None
    assert_nothing_secret(checked.output, *tokens.values())
