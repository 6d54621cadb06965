"""The sciplat.k8s.csi_onedata role on the real API server (kwok runs the DaemonSet's pods).

Deploy, rerun with no change, rotate one token (exactly one task changes), switch the controller on
and off, refuse a bad token before any change, and never print a token at -vvv/--diff.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    SPACE_ID,
)
from onedata_support import assert_no_token, kubectl_json
from k8s_support import decoded, kubectl
from playbooks import run_playbook

DATA_NAMESPACE = "onedata-role-test"
DRIVER_NAMESPACE = "csi-onedata-it"
STORAGE_CLASS = "onedata-it"
NODE = "onedata-role-node"
NODE_LABEL = "sciplat-test/onedata-role"


def remove_test_objects(cluster):
    """Delete what the tests made and wait, so a rerun never meets a Terminating namespace."""
    for args in (("delete", "namespace", DATA_NAMESPACE, DRIVER_NAMESPACE, "--ignore-not-found", "--timeout=180s"),
                 ("delete", "pv", "-l", "sciplat.k8s/onedata-dataset", "--ignore-not-found"),
                 ("delete", "storageclass", STORAGE_CLASS, "--ignore-not-found"),
                 ("delete", "node", NODE, "--ignore-not-found")):
        kubectl(cluster, *args, check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster):
    """A kwok node of our own, so the DaemonSet's readiness does not depend on other tests' nodes."""
    remove_test_objects(k8s_cluster)
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE, "labels": {NODE_LABEL: "true"},
                         "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}
    kubectl(k8s_cluster, "apply", "-f", "-", stdin=json.dumps(node))
    yield k8s_cluster
    remove_test_objects(k8s_cluster)


def dataset(name, **extra):
    return dict(dict(name=name, namespace=DATA_NAMESPACE, provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID), **extra)


def role_play(onezone, datasets, tokens, hosts="localhost", **overrides):
    role_vars = {
        "csi_onedata_namespace": DRIVER_NAMESPACE,
        "csi_onedata_storage_class_name": STORAGE_CLASS,
        "csi_onedata_node_selector": {NODE_LABEL: "true"},
        "csi_onedata_wait_timeout": 120,
        "csi_onedata_validate_online": True,
        "csi_onedata_onezone_host": onezone.address,
        "csi_onedata_onezone_ca_path": onezone.ca_path,
        "csi_onedata_datasets": datasets,
        "csi_onedata_tokens": "{{ test_tokens }}",
    }
    role_vars.update(overrides)
    return [{"hosts": hosts, "gather_facts": False,
             "roles": [{"role": "sciplat.k8s.csi_onedata", "vars": role_vars}]}], {"test_tokens": tokens}


def run_role(cluster, onezone, tmp_path, datasets, tokens, *args, env_token=None, expect_rc=0, inventory="localhost,",
             **overrides):
    hosts = "localhost" if inventory == "localhost," else "control_plane[0]"
    plays, extra_vars = role_play(onezone, datasets, tokens, hosts=hosts, **overrides)
    env = dict(cluster.env)
    if env_token:
        env["ONEDATA_TOKEN"] = env_token
    return run_playbook(plays, env, *args, workdir=tmp_path, inventory=inventory, extra_vars=extra_vars,
                        expect_rc=expect_rc)


def secret(cluster, name):
    return kubectl_json(cluster, "get", "secret", name, "-n", DATA_NAMESPACE)


@pytest.fixture(scope="module")
def tokens(onezone):
    return {"data-a": onezone.issue(valid_until=int(time.time()) + 7200), "env": onezone.issue(),
            "data-a-rotated": onezone.issue()}


@pytest.fixture(scope="module")
def deployed(cluster, onezone, tokens, tmp_path_factory):
    """The first run: data-a's token from csi_onedata_tokens, data-b's from ONEDATA_TOKEN."""
    run = run_role(cluster, onezone, tmp_path_factory.mktemp("deploy"),
                   [dataset("data-a", oneclient_options="--force-direct-io"), dataset("data-b", read_only=True)],
                   {"data-a": tokens["data-a"]}, "-vvv", "--diff", env_token=tokens["env"])
    return run


def test_deploys_driver_storage_class_and_volumes(cluster, deployed, tokens):
    assert deployed.changed > 0
    assert_no_token(deployed.output, tokens["data-a"], tokens["env"])

    driver = kubectl_json(cluster, "get", "csidriver", "csi-onedata")
    assert driver["spec"]["attachRequired"] is False and driver["spec"]["fsGroupPolicy"] == "None"
    daemonset = kubectl_json(cluster, "get", "daemonset", "csi-onedata-node", "-n", DRIVER_NAMESPACE)
    assert daemonset["status"]["numberReady"] == daemonset["status"]["desiredNumberScheduled"] == 1
    pod_spec = daemonset["spec"]["template"]["spec"]
    driver_container = next(c for c in pod_spec["containers"] if c["name"] == "onedata")
    assert "--logtostderr=false" in driver_container["args"]
    registrar = next(c for c in pod_spec["containers"] if c["name"] == "node-driver-registrar")
    kubelet = "/var/snap/microk8s/common/var/lib/kubelet"
    assert f"--kubelet-registration-path={kubelet}/plugins/csi-onedata/csi.sock" in registrar["args"]
    assert {v["hostPath"]["path"] for v in pod_spec["volumes"] if "hostPath" in v} == {
        f"{kubelet}/plugins/csi-onedata", f"{kubelet}/pods", f"{kubelet}/plugins_registry"}
    assert kubectl_json(cluster, "get", "deployment", "csi-onedata-controller", "-n", DRIVER_NAMESPACE) is None

    storage_class = kubectl_json(cluster, "get", "storageclass", STORAGE_CLASS)
    assert storage_class["provisioner"] == "kubernetes.io/no-provisioner"

    assert decoded(secret(cluster, "onedata-data-a")) == {
        "host": PROVIDER_DOMAIN, "onedata_token": tokens["data-a"], "space_id": SPACE_ID,
        "oneclient_options": "--force-direct-io"}
    assert decoded(secret(cluster, "onedata-data-b"))["onedata_token"] == tokens["env"]
    volume = kubectl_json(cluster, "get", "pv", f"onedata-{DATA_NAMESPACE}-data-b")
    assert volume["spec"]["csi"] == {"driver": "csi-onedata", "volumeHandle": f"onedata-{DATA_NAMESPACE}-data-b",
                                     "readOnly": True, "nodePublishSecretRef": {
                                         "name": "onedata-data-b", "namespace": DATA_NAMESPACE}}
    assert volume["spec"]["storageClassName"] == STORAGE_CLASS
    claim = kubectl_json(cluster, "get", "pvc", "data-a", "-n", DATA_NAMESPACE)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == f"onedata-{DATA_NAMESPACE}-data-a"


def test_a_node_without_the_kubernetes_library_is_enough(cluster, onezone, deployed, tokens, tmp_path):
    """As the site playbook runs it: the play targets the first control plane, whose Python (Debian's, here) has
    no Kubernetes client; every API call runs on the controller."""
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": {"lab1": {
        "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}}}}}}))
    rerun = run_role(cluster, onezone, tmp_path, [dataset("data-a", oneclient_options="--force-direct-io"),
                                                  dataset("data-b", read_only=True)],
                     {"data-a": tokens["data-a"]}, env_token=tokens["env"], inventory=hosts)
    assert rerun.changed == 0, rerun.output[-4000:]
    assert "Failed to import the required Python library" not in rerun.output


def test_rerun_changes_nothing(cluster, onezone, deployed, tokens, tmp_path):
    rerun = run_role(cluster, onezone, tmp_path, [dataset("data-a", oneclient_options="--force-direct-io"),
                                                  dataset("data-b", read_only=True)],
                     {"data-a": tokens["data-a"]}, "--diff", env_token=tokens["env"])
    assert rerun.changed == 0, rerun.output[-4000:]


def test_rotating_one_token_changes_one_secret(cluster, onezone, deployed, tokens, tmp_path):
    before_b = secret(cluster, "onedata-data-b")["metadata"]["resourceVersion"]
    datasets = [dataset("data-a", oneclient_options="--force-direct-io"), dataset("data-b", read_only=True)]
    rotated = run_role(cluster, onezone, tmp_path, datasets, {"data-a": tokens["data-a-rotated"]}, "-vvv", "--diff",
                       env_token=tokens["env"])
    assert rotated.changed == 1
    assert decoded(secret(cluster, "onedata-data-a"))["onedata_token"] == tokens["data-a-rotated"]
    assert secret(cluster, "onedata-data-b")["metadata"]["resourceVersion"] == before_b
    assert_no_token(rotated.output, tokens["data-a"], tokens["data-a-rotated"], tokens["env"])
    again = run_role(cluster, onezone, tmp_path, datasets, {"data-a": tokens["data-a-rotated"]},
                     env_token=tokens["env"])
    assert again.changed == 0


def test_bad_token_stops_before_any_change(cluster, onezone, deployed, tokens, tmp_path):
    datasets = [dataset("data-a", oneclient_options="--force-direct-io"), dataset("data-b", read_only=True),
                dataset("data-c", space_id=OTHER_SPACE_ID)]
    run = run_role(cluster, onezone, tmp_path, datasets, {"data-a": tokens["data-a-rotated"], "data-c": onezone.issue()},
                   "-vvv", env_token=tokens["env"], expect_rc=2, csi_onedata_storage_class_name="onedata-it-new")
    assert f"{DATA_NAMESPACE}/data-c: Onedata token check failed" in run.output
    assert f"does not give access to space {OTHER_SPACE_ID}" in run.output
    assert run.changed == 0
    assert secret(cluster, "onedata-data-c") is None
    assert kubectl_json(cluster, "get", "storageclass", "onedata-it-new") is None


def test_check_mode_predicts_a_new_dataset_without_creating_it(cluster, onezone, deployed, tokens, tmp_path):
    datasets = [dataset("data-a", oneclient_options="--force-direct-io"), dataset("data-b", read_only=True),
                dataset("data-d")]
    run = run_role(cluster, onezone, tmp_path, datasets, {"data-a": tokens["data-a-rotated"]}, "--check", "--diff",
                   env_token=tokens["env"])
    assert run.changed == 2  # the Secret task and the PV/claim task, for data-d only
    assert secret(cluster, "onedata-data-d") is None
    assert kubectl_json(cluster, "get", "pvc", "data-d", "-n", DATA_NAMESPACE) is None


def test_controller_on_and_off(cluster, onezone, deployed, tokens, tmp_path):
    datasets = [dataset("data-a", oneclient_options="--force-direct-io"), dataset("data-b", read_only=True)]
    tokens_now = {"data-a": tokens["data-a-rotated"]}
    enabled = run_role(cluster, onezone, tmp_path, datasets, tokens_now, env_token=tokens["env"],
                       csi_onedata_controller_enabled=True)
    assert enabled.changed == 4  # CSIDriver removed and recreated, controller RBAC, Deployment
    assert kubectl_json(cluster, "get", "csidriver", "csi-onedata")["spec"]["attachRequired"] is True
    deployment = kubectl_json(cluster, "get", "deployment", "csi-onedata-controller", "-n", DRIVER_NAMESPACE)
    assert deployment["status"]["readyReplicas"] == 1
    assert run_role(cluster, onezone, tmp_path, datasets, tokens_now, env_token=tokens["env"],
                    csi_onedata_controller_enabled=True).changed == 0

    disabled = run_role(cluster, onezone, tmp_path, datasets, tokens_now, env_token=tokens["env"])
    assert disabled.changed == 4
    assert kubectl_json(cluster, "get", "csidriver", "csi-onedata")["spec"]["attachRequired"] is False
    assert kubectl_json(cluster, "get", "deployment", "csi-onedata-controller", "-n", DRIVER_NAMESPACE) is None
    assert kubectl_json(cluster, "get", "clusterrole", "sciplat:csi-onedata-attacher") is None
