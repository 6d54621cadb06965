"""Roles exaflow and mip (and helm_release) through playbooks/mip.yml against the real test cluster.

Real parts: kube-apiserver 1.36 with kwok nodes (Pods become Running without containers), helm 3,
ansible-playbook, the data_layout role and dataset_check module on the controller's file system, and the
real charts: Exaflow at the role's default pin (ad132e20), cloned by the role through the offline mirror of
SCIPLAT_UPSTREAM (sciplat_chart_mirror, tests/upstream/mirror.py), and for MIP the ASSEMBLED MIP 9.2 chart
of that folder (upstream files of several commits with a minimal Chart.yaml: the MIP repository at the role's
pin cannot be fetched here), given as a chart folder.
Stand-ins, labelled as such: an IngressClass (microk8s' ingress addon) and static PersistentVolumes for the
MIP release's StorageClass (microk8s' hostpath provisioner).

The inventory hosts use the local connection and stand for kwok nodes with alphanumeric names. Other
tests may leave nodes labelled worker/master/smpc_player; they are cordoned while this module runs
so that the scheduler only uses this module's nodes, and uncordoned afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from k8s_support import apply, decoded, get, helm_json, helm_uninstall, kubectl
from playbooks import run_playbook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
import mirror  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = REPO / "playbooks" / "mip.yml"
DATASETS = REPO / "tests" / "fixtures" / "datasets" / "good"
MASTER = "mipitmaster"
WORKERS = ["mipitworker1", "mipitworker2", "mipitworker3"]
EXAFLOW_NS = "mipit-exaflow"
MIP_NS = "mipit-mip"
MIP_GIT_NS = "mipit-mip-git"
NODE_LABELS = ("master", "worker", "smpc_player")
INGRESS_CLASS = "mipit"
# Nodes of other tests this module cordoned, uncordoned at teardown.
CORDONED: list[str] = []
MIP_SECRETS = {
    "mip-secret": {"platform-backend-db.DB_ADMIN_USER", "platform-backend-db.DB_ADMIN_PASSWORD",
                   "platform-backend-db.PLATFORM_DB_USER", "platform-backend-db.PLATFORM_DB_PASSWORD"},
    "keycloak-credentials": {"client-id", "client-secret"},
    "jupyterhub-crypt": {"crypt-key"},
}


def node_labels(cluster):
    return {name: {k: v for k, v in (get(cluster, "node", name)["metadata"].get("labels") or {}).items()
                   if k in NODE_LABELS} for name in [MASTER, *WORKERS]}


def secrets(cluster, namespace):
    found = {}
    for name in MIP_SECRETS:
        secret = get(cluster, "secret", name, "-n", namespace)
        found[name] = None if secret is None else {
            "resourceVersion": secret["metadata"]["resourceVersion"],
            "data": decoded(secret),
        }
    return found


def cordon_foreign(cluster, cordoned: list[str]) -> None:
    """Keep the scheduler off labelled nodes of other tests (some create them while this module runs)."""
    ours = ",".join([MASTER, *WORKERS])
    for label in NODE_LABELS:
        selector = f"{label}=true,kubernetes.io/hostname notin ({ours})"
        names = kubectl(cluster, "get", "nodes", "-l", selector, "--field-selector", "spec.unschedulable=false",
                        "-o", "name").stdout.split()
        names = [name for name in names if name.removeprefix("node/") not in [MASTER, *WORKERS]]
        if names:
            kubectl(cluster, "cordon", *names)
            cordoned.extend(name.removeprefix("node/") for name in names)


@pytest.fixture(scope="module")
def cluster_setup(k8s_cluster, tmp_path_factory):
    """This module's kwok nodes, the stand-in IngressClass and PVs; foreign labelled nodes cordoned."""
    cordoned = CORDONED
    cordon_foreign(k8s_cluster, cordoned)
    for name in [MASTER, *WORKERS]:
        apply(k8s_cluster, {"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    # Stand-in for the IngressClass of microk8s' ingress addon, under this module's own name: the microk8s
    # stand-in deletes `public` when its tests disable the addon.
    apply(k8s_cluster, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": INGRESS_CLASS},
                        "spec": {"controller": "k8s.io/ingress-nginx"}})
    pv_root = tmp_path_factory.mktemp("pv")
    volumes = []
    # Stand-in for the hostpath provisioner: static volumes the scheduler binds to the release's claims.
    for storage_class in (f"{MIP_NS}-mip-local", f"{MIP_GIT_NS}-mip-local"):
        for index in range(4):
            name = f"{storage_class}-{index}"
            volumes.append(name)
            apply(k8s_cluster, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                                "spec": {"storageClassName": storage_class, "capacity": {"storage": "2Gi"},
                                         "accessModes": ["ReadWriteOnce"],
                                         "persistentVolumeReclaimPolicy": "Retain",
                                         "hostPath": {"path": str(pv_root / name)}}})
    yield k8s_cluster
    for release, namespace in (("exaflow", EXAFLOW_NS), ("mip", MIP_NS), ("mip", MIP_GIT_NS)):
        helm_uninstall(k8s_cluster, release, namespace)
    kubectl(k8s_cluster, "delete", "namespace", EXAFLOW_NS, MIP_NS, MIP_GIT_NS, "--ignore-not-found", "--wait=false",
            check=False)
    kubectl(k8s_cluster, "delete", "pv", *volumes, "--ignore-not-found", "--wait=false", check=False)
    kubectl(k8s_cluster, "delete", "node", MASTER, *WORKERS, "--ignore-not-found", check=False)
    kubectl(k8s_cluster, "delete", "ingressclass", INGRESS_CLASS, "--ignore-not-found", check=False)
    if cordoned:
        kubectl(k8s_cluster, "uncordon", *sorted(set(cordoned)), check=False)


def inventory(workdir: Path, workers=2, smpc_players=0, **group_vars) -> Path:
    """An inventory shaped like inventories/mip_federation, on the local connection, with the real charts."""
    data_root = workdir / "data"
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "mip_data_become": False,
        "exaflow_check_data_become": False,
        "exaflow_federation": "dementia",
        "exaflow_namespace": EXAFLOW_NS,
        "sciplat_chart_mirror": mirror.chart_mirror(),
        "exaflow_ready_timeout": 120,
        "data_layout_root": str(data_root),
        "data_layout_federation": "dementia",
        "data_layout_subfolder": "csvs",
        "data_layout_source_path": str(DATASETS),
        "mip_namespace": MIP_NS,
        "mip_chart_source": "path",
        "mip_chart_path": str(mirror.assembled_mip_chart()),
        "mip_public_host": "mip.example.org",
        "mip_ingress_class": INGRESS_CLASS,
        "mip_keycloak_host": "iam.example.org",
        "mip_helm_wait_timeout": "2m",
    }
    variables.update(group_vars)
    worker_hosts = WORKERS[:workers]
    groups = {
        "control_plane": {"hosts": {MASTER: None}},
        "workers": {"hosts": {name: None for name in worker_hosts},
                    "vars": {"data_layout_pathologies": ["neuro", "tbi"]}},
    }
    if smpc_players:
        groups["smpc_players"] = {"hosts": {name: None for name in WORKERS[:smpc_players]}}
    path = workdir / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": variables, "children": groups}}))
    return path


def run(cluster, workdir, hosts, *args, expect_rc=0):
    cordon_foreign(cluster, CORDONED)
    # One fork: the local "workers" share the controller's file system and would copy the same files at once.
    return run_playbook(PLAYBOOK, cluster.env, "-f", "1", *args, workdir=workdir, inventory=hosts, expect_rc=expect_rc)


@pytest.mark.parametrize("case, workers, players, extra, message", [
    ("smpc with 2 workers", 2, 2, {"exaflow_smpc_enabled": True},
     "smpc.enabled needs a federated cluster with at least 3 workers and at least 3 distinct smpc_player nodes; the "
     "inventory has 2 worker(s)"),
    ("smpc with 2 players", 3, 2, {"exaflow_smpc_enabled": True}, "and 2 SMPC player node(s) in 'smpc_players'"),
    ("smpc switched on in values", 2, 0, {"exaflow_values": {"smpc": {"enabled": True}}},
     "the inventory has 2 worker(s) in 'workers'"),
    ("string boolean", 2, 0, {"exaflow_values": {"smpc": {"enabled": "false"}}},
     'give real YAML booleans (true/false, unquoted): smpc.enabled="false"'),
    ("data model on no worker", 2, 0, {"exaflow_data_models": ["neuro", "stroke"]},
     "exaflow_data_models lists stroke, which no host of 'workers' has in data_layout_pathologies"),
    ("engine folder is not the data", 2, 0, {"data_layout_subfolder": ""},
     "The chart mounts <storage.hostPath.db.localworker>/csvs at /opt/csvs"),
    ("missing public host", 2, 0, {"mip_public_host": "", "mip_deploy_exaflow": False}, "mip_public_host is empty"),
    ("public host with scheme", 2, 0, {"mip_public_host": "https://mip.example.org", "mip_deploy_exaflow": False},
     "must be a bare, lower-case host name"),
    ("notebooks without keycloak", 2, 0, {"mip_keycloak_enabled": False, "mip_deploy_exaflow": False},
     "mip_notebook_enabled needs Keycloak"),
    # The values contract on the real charts: a mistyped key is refused before labels, Secrets or releases.
    ("typo in exaflow_values", 2, 0, {"exaflow_values": {"smpc": {"enabeld": True}}},
     "smpc.enabeld is not read by the chart (did you mean smpc.enabled?) (from exaflow_values)"),
    ("typo in mip_values", 2, 0, {"mip_values": {"platform-ui": {"ingress": {"classname": "public"}}}, "mip_deploy_exaflow": False},
     "platform-ui.ingress.classname is not read by the chart (did you mean platform-ui.ingress.className?) (from mip_values)"),
])
def test_refused_before_any_change(cluster_setup, tmp_path, case, workers, players, extra, message):
    labels_before = node_labels(cluster_setup)
    namespaces = {"exaflow_namespace": "mipit-refused-ef", "mip_namespace": "mipit-refused-mip"}
    hosts = inventory(tmp_path, workers=workers, smpc_players=players, **namespaces, **extra)
    result = run(cluster_setup, tmp_path, hosts, "--skip-tags", "data", expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert get(cluster_setup, "namespace", "mipit-refused-ef") is None
    assert get(cluster_setup, "namespace", "mipit-refused-mip") is None
    assert node_labels(cluster_setup) == labels_before


def test_cluster_facts_refused_before_any_change(cluster_setup, tmp_path):
    labels_before = node_labels(cluster_setup)
    # A worker whose node never joined, and a node name Exaflow cannot use.
    hosts = inventory(tmp_path, exaflow_namespace="mipit-refused-ef")
    data = yaml.safe_load(hosts.read_text())
    data["all"]["children"]["workers"]["hosts"]["mipitworker9"] = None
    hosts.write_text(yaml.safe_dump(data))
    result = run(cluster_setup, tmp_path, hosts, "--skip-tags", "data", "--tags", "exaflow", expect_rc=2)
    assert "These nodes of the inventory are not in the cluster: workers: mipitworker9." in " ".join(result.output.split())

    data["all"]["children"]["workers"]["hosts"] = {"mipitworker1": {"cluster_labels_node_name": "mipit-worker-1"}}
    hosts.write_text(yaml.safe_dump(data))
    result = run(cluster_setup, tmp_path, hosts, "--skip-tags", "data", "--tags", "exaflow", expect_rc=2)
    assert "these node names are not: mipit-worker-1" in " ".join(result.output.split())
    assert get(cluster_setup, "namespace", "mipit-refused-ef") is None
    assert node_labels(cluster_setup) == labels_before


def test_install_rerun_upgrade_and_smpc(cluster_setup, tmp_path):
    cluster = cluster_setup
    hosts = inventory(tmp_path)

    first = run(cluster, tmp_path, hosts)
    assert first.changed > 0
    # The role's own pin, read through the mirror: the log names both.
    pin = "https://github.com/madgik/exaflow.git@ad132e20ea068d8e39fb25153ccf3f34d5450226"
    folder = mirror.chart_mirror().get("folders", {}).get(pin)
    assert f"chart exaflow-0.1.0 from {pin}:kubernetes" + (f" (mirror: {folder})" if folder else "") in first.output
    assert f"chart mip-9.2.0 from {mirror.assembled_mip_chart()}" in first.output
    assert "The 2 localworker(s) see " in first.output and "with data models neuro, tbi and 3 dataset(s)" in first.output
    assert node_labels(cluster) == {MASTER: {"master": "true"}, WORKERS[0]: {"worker": "true"},
                                    WORKERS[1]: {"worker": "true"}, WORKERS[2]: {}}
    localworker = get(cluster, "statefulset", "exaflow-localworker", "-n", EXAFLOW_NS)
    assert localworker["spec"]["replicas"] == 2
    volumes = {v["name"]: v for v in localworker["spec"]["template"]["spec"]["volumes"]}
    assert volumes["csv-data"]["hostPath"]["path"] == str(tmp_path / "data" / "dementia" / "csvs")
    pods = get(cluster, "pods", "-n", EXAFLOW_NS, "-l", "app=exaflow-worker,nodeType=localworker")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == WORKERS[:2]
    controller = get(cluster, "deployment", "exaflow-controller-deployment", "-n", EXAFLOW_NS)
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["FEDERATION"] == "dementia"
    assert env["SMPC_ENABLED"] == "false"
    exaflow_values = json.loads(subprocess.run(
        [str(cluster.helm), "get", "values", "exaflow", "-n", EXAFLOW_NS, "-o", "json"], env=dict(cluster.env),
        capture_output=True, text=True, check=True).stdout)
    assert exaflow_values["managed_cluster"] is False and exaflow_values["localnodes"] == 2
    assert exaflow_values["namespace"] == EXAFLOW_NS

    created = secrets(cluster, MIP_NS)
    for name, keys in MIP_SECRETS.items():
        assert set(created[name]["data"]) == keys, name
    assert created["mip-secret"]["data"]["platform-backend-db.DB_ADMIN_USER"] == "postgres"
    assert len(created["mip-secret"]["data"]["platform-backend-db.DB_ADMIN_PASSWORD"]) == 32
    assert len(created["jupyterhub-crypt"]["data"]["crypt-key"]) == 64
    for secret in created.values():
        for value in secret["data"].values():
            if len(value) >= 16:
                assert value not in first.output, "a secret value reached the output"
    ingress = get(cluster, "ingress", "platform-ui-ingress", "-n", MIP_NS)
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["spec"]["rules"][0]["host"] == "mip.example.org"
    assert get(cluster, "storageclass", f"{MIP_NS}-mip-local")["provisioner"] == "k8s.io/microk8s-hostpath"
    backend = get(cluster, "deployment", "platform-backend", "-n", MIP_NS)
    assert backend["status"].get("readyReplicas") == 1
    assert backend["spec"]["template"]["spec"]["nodeSelector"] == {"master": "true"}
    backend_env = {e["name"]: e.get("value") for e in backend["spec"]["template"]["spec"]["containers"][1]["env"]}
    assert backend_env["EXAFLOW_URL"] == f"http://exaflow-controller-service.{EXAFLOW_NS}:5000"
    revisions = {name: helm_json(cluster, "status", name, "-n", ns)["version"] for name, ns in (("exaflow", EXAFLOW_NS), ("mip", MIP_NS))}

    rerun = run(cluster, tmp_path, hosts)
    assert rerun.changed == 0, rerun.output[-4000:]
    check = run(cluster, tmp_path, hosts, "--check", "--diff")
    assert check.changed == 0, check.output[-4000:]
    assert secrets(cluster, MIP_NS) == created
    assert {name: helm_json(cluster, "status", name, "-n", ns)["version"]
            for name, ns in (("exaflow", EXAFLOW_NS), ("mip", MIP_NS))} == revisions

    # A changed value upgrades that release only: no other release, Secret or label moves.
    hosts = inventory(tmp_path, exaflow_log_level="DEBUG")
    upgrade = run(cluster, tmp_path, hosts)
    assert upgrade.changed == 1, upgrade.output[-4000:]
    assert helm_json(cluster, "status", "exaflow", "-n", EXAFLOW_NS)["version"] == revisions["exaflow"] + 1
    assert helm_json(cluster, "status", "mip", "-n", MIP_NS)["version"] == revisions["mip"]
    assert secrets(cluster, MIP_NS) == created
    controller = get(cluster, "deployment", "exaflow-controller-deployment", "-n", EXAFLOW_NS)
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LOG_LEVEL"] == "DEBUG"

    # The SMPC variant: a third worker, three players on distinct nodes.
    hosts = inventory(tmp_path, workers=3, smpc_players=3, exaflow_log_level="DEBUG", exaflow_smpc_enabled=True)
    smpc = run(cluster, tmp_path, hosts)
    assert "The 3 localworker(s) see " in smpc.output
    players = get(cluster, "pods", "-n", EXAFLOW_NS, "-l", "app=exaflow-smpc-players")["items"]
    assert sorted(p["spec"]["nodeName"] for p in players) == WORKERS
    assert all(p["status"]["phase"] == "Running" for p in players)
    assert get(cluster, "statefulset", "exaflow-localworker", "-n", EXAFLOW_NS)["spec"]["replicas"] == 3
    assert node_labels(cluster)[WORKERS[2]] == {"worker": "true", "smpc_player": "true"}
    assert secrets(cluster, MIP_NS) == created
    assert run(cluster, tmp_path, hosts).changed == 0


def test_second_mip_release_from_git(cluster_setup, tmp_path):
    """A pinned git source, and two MIP releases side by side: their StorageClasses must differ."""
    cluster = cluster_setup
    # The platform pods need a master=true node; exaflow is not deployed in this test, so label it here.
    kubectl(cluster, "label", "node", MASTER, "master=true", "--overwrite")
    repo = tmp_path / "mip-chart-repo"
    shutil.copytree(mirror.assembled_mip_chart(), repo / "deployment" / "kubernetes")
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "assembled MIP 9.2 chart"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    source = {"mip_namespace": MIP_GIT_NS, "mip_chart_source": "git", "mip_chart_git_repo": f"file://{repo}",
              "mip_chart_git_commit": commit, "mip_deploy_exaflow": False,
              "mip_notebook_enabled": False}

    clash = inventory(tmp_path, **source, mip_storage_class_local=f"{MIP_NS}-mip-local")
    if get(cluster, "storageclass", f"{MIP_NS}-mip-local") is not None:
        refused = run(cluster, tmp_path, clash, "--skip-tags", "data", expect_rc=2)
        assert f"StorageClass {MIP_NS}-mip-local already exists and belongs to {MIP_NS}/mip" in \
            " ".join(refused.output.split())

    hosts = inventory(tmp_path, **source)
    # Check mode into a namespace that does not exist yet predicts the install and creates nothing.
    predicted = run(cluster, tmp_path, hosts, "--skip-tags", "data", "--check", "--diff")
    assert predicted.changed > 0
    assert get(cluster, "namespace", MIP_GIT_NS) is None
    first = run(cluster, tmp_path, hosts, "--skip-tags", "data")
    assert f"from file://{repo}@{commit}:deployment/kubernetes" in first.output
    assert get(cluster, "storageclass", f"{MIP_GIT_NS}-mip-local") is not None
    assert get(cluster, "secret", "jupyterhub-crypt", "-n", MIP_GIT_NS) is None
    assert get(cluster, "deployment", "jupyterhub", "-n", MIP_GIT_NS) is None
    assert run(cluster, tmp_path, hosts, "--skip-tags", "data").changed == 0
