"""Role cytomine through playbooks/cytomine.yml against the real test cluster.

Real parts: kube-apiserver 1.36 with kwok nodes (Pods become Running without containers), helm 3 (including
its `lookup` against the API server), ansible-playbook, sciplat.k8s.generated_secret and helm_release.
Stand-ins, labelled as such: the chart tests/charts/cytomine (same values keys, Secrets, claims, Namespace,
Ingress and rendering failures as the pinned upstream chart), a StorageClass of this module's own with static
PersistentVolumes (microk8s' hostpath provisioner), and IngressClass public applied before each run
(microk8s' ingress addon).
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import pytest
import yaml

from k8s_support import apply, decoded, get, helm_json, helm_uninstall, kubectl, kwok_node, static_volumes
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "cytomine.yml"
CHART = REPO / "tests" / "charts" / "cytomine"
ROLE_VARS = yaml.safe_load((REPO / "roles" / "cytomine" / "vars" / "main.yml").read_text())
NAMESPACE = "cytomineit"
TASKS_NAMESPACE = "cytomineit-tasks"
STORAGE_CLASS = "cytomineit-hostpath"
NODE = "cytomineit-node"
VOLUMES = [f"cytomineit-pv-{index}" for index in range(8)]
GENERATED = "cytomine-sciplat-generated"
CHART_SECRETS = ["admin-iam-secret", "keystore-iam-secret", "postgres-iam-secret", "postgres-core-secret",
                 "postgres-app-engine-secret", "cytomine-core-secret", "cytomine-pims-secret", "mongodb-secret"]
CBIR = "registry.example.org/cytomine/cbir:2025.1-lab"


def helm_status(cluster):
    return helm_json(cluster, "status", "cytomine", "-n", NAMESPACE)


def secrets(cluster):
    """Every Secret the role or the chart made, with its resourceVersion and decoded data."""
    found = {}
    for name in [GENERATED, *CHART_SECRETS]:
        secret = get(cluster, "secret", name, "-n", NAMESPACE)
        found[name] = None if secret is None else (secret["metadata"]["resourceVersion"], decoded(secret))
    return found


def remove_test_objects(cluster):
    helm_uninstall(cluster, "cytomine", NAMESPACE)
    kubectl(cluster, "delete", "namespace", NAMESPACE, TASKS_NAMESPACE, "cytomineit-refused", "cytomineit-taken",
            "cytomineit-check", "cytomineit-check-tasks",
            "--ignore-not-found", "--timeout=180s", check=False)
    kubectl(cluster, "delete", "pv", *VOLUMES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, tmp_path_factory):
    remove_test_objects(k8s_cluster)
    # kwok nodes advertise no ephemeral storage, which the chart requests: this one stands for a node with a disk.
    kwok_node(k8s_cluster, NODE, {}, {"ephemeral-storage": "500Gi"})
    # Stand-in for microk8s' hostpath provisioner: a class with static volumes the scheduler binds.
    apply(k8s_cluster, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": STORAGE_CLASS},
                        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})
    pv_root = tmp_path_factory.mktemp("pv")
    static_volumes(k8s_cluster, VOLUMES, STORAGE_CLASS, "10Gi", "ReadWriteOnce", pv_root)
    own_ingress_class = get(k8s_cluster, "ingressclass", "public") is None
    yield k8s_cluster
    remove_test_objects(k8s_cluster)
    if own_ingress_class:
        kubectl(k8s_cluster, "delete", "ingressclass", "public", "--ignore-not-found", check=False)


def inventory(workdir: Path, **group_vars) -> Path:
    """An inventory shaped like inventories/cytomine_lab, on the local connection and the stand-in chart."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "cytomine_namespace": NAMESPACE,
        "cytomine_chart_source": "path",
        "cytomine_chart_path": str(CHART),
        "cytomine_domain_name": "cytomine.lab.example.org",
        "cytomine_public_ip": "192.0.2.30/32",
        "cytomine_storage_class": STORAGE_CLASS,
        "cytomine_image_overrides": {"cbir": CBIR},
        "cytomine_resources": {"pims": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}},
        "cytomine_helm_wait_timeout": "3m",
    }
    variables.update(group_vars)
    return write_inventory(workdir, variables, {"control_plane": ["cytomineit-master"]})


def run(cluster, workdir, hosts, *args, expect_rc=0):
    # Stand-in for the IngressClass of microk8s' ingress addon, which the chart hard-codes. Applied before every
    # run: other test modules create and delete the same cluster-wide name.
    apply(cluster, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "public"},
                    "spec": {"controller": "k8s.io/ingress-nginx"}})
    return run_playbook(PLAYBOOK, cluster.env, *args, workdir=workdir, inventory=hosts, expect_rc=expect_rc)


@pytest.mark.parametrize("case, extra, message", [
    ("domain with a scheme", {"cytomine_domain_name": "https://cytomine.example.org"},
     "cytomine_domain_name must be a lower-case DNS name without scheme, port or path, not an IP address"),
    ("domain missing", {"cytomine_domain_name": ""}, "cytomine_domain_name is empty"),
    ("public address missing", {"cytomine_public_ip": ""}, "cytomine_public_ip must be the IPv4 CIDR"),
    ("tasks namespace is the release namespace", {"cytomine_namespace": "cytomineit-refused",
                                                  "cytomine_tasks_namespace": "cytomineit-refused"},
     "The app-engine tasks namespace must differ from cytomine_namespace (cytomineit-refused)"),
    ("image tag latest", {"cytomine_image_overrides": {"cbir": CBIR, "core": "cytomine/core:latest"}},
     "These images are not pinned to a tag or digest, or use :latest, which changes under a running release: "
     "core='cytomine/core:latest'"),
    ("untagged image in values", {"cytomine_values": {"images": {"web_ui": "registry:5000/cytomine/web-ui"}}},
     "web_ui='registry:5000/cytomine/web-ui'"),
    ("no cbir image", {"cytomine_image_overrides": {}}, "Cytomine CE 2025.1 publishes no cbir image"),
    ("missing storage class", {"cytomine_storage_classes": {"mongodb": "cytomineit-missing"}},
     "StorageClass cytomineit-missing is not in the cluster"),
    ("public default secret", {"cytomine_values": {"mongodb": {"password": "password123"}}},
     "mongodb.password hold(s) the chart's public default"),
    ("public default SMTP password", {"cytomine_smtp_password": "password"},
     "core.smtp_password hold(s) the chart's public default"),
    ("PIMS key without core's", {"cytomine_values": {"pims": {"public_key": "0f0e0d0c-0b0a-4988-8766-554433221100"}}},
     "pims.public_key and core.image_server_public_key must be equal"),
    ("nginx switched on", {"cytomine_values": {"nginx": {"deploy": True}}}, "nginx.deploy must stay false"),
    ("string boolean", {"cytomine_values": {"web_ui": {"deploy": "false"}}},
     'give real YAML booleans (true/false, unquoted): web_ui.deploy="false"'),
])
def test_refused_before_any_change(cluster, tmp_path, case, extra, message):
    hosts = inventory(tmp_path, **{"cytomine_namespace": "cytomineit-refused", **extra})
    result = run(cluster, tmp_path, hosts, expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert result.changed == 0
    assert get(cluster, "namespace", "cytomineit-refused") is None


def test_existing_tasks_namespace_and_foreign_secret_are_refused(cluster, tmp_path):
    kubectl(cluster, "create", "namespace", "cytomineit-taken")
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-refused", cytomine_tasks_namespace="cytomineit-taken")
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert "Namespace cytomineit-taken already exists and is not this release's" in " ".join(refused.output.split())

    # The old chart's instructions: create the IAM Secrets by hand. The chart now makes them itself.
    kubectl(cluster, "create", "secret", "generic", "admin-iam-secret", "-n", "cytomineit-taken",
            "--from-literal=password=made-by-hand")
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-taken", cytomine_tasks_namespace="cytomineit-taken-tasks")
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert ("Secret(s) admin-iam-secret in cytomineit-taken exist but do not belong to release cytomine"
            in " ".join(refused.output.split()))
    assert "made-by-hand" not in refused.output
    assert get(cluster, "secret", GENERATED, "-n", "cytomineit-taken") is None
    assert get(cluster, "namespace", "cytomineit-taken-tasks") is None


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    return run(cluster, workdir, inventory(workdir), "-vvv", "--diff")


def test_install(cluster, deployed):
    assert deployed.changed > 0
    made = secrets(cluster)
    generated = made[GENERATED][1]
    assert set(generated) == {key["name"] for key in ROLE_VARS["__cytomine_generated_keys"]}
    assert len(base64.b64decode(generated["jwt-secret"])) == 64
    assert all(len(generated[name]) == 36 for name in ("admin-private-key", "image-server-public-key", "server-id"))

    # The chart got the generated values; PIMS has core's image-server pair; no public default is left.
    core = made["cytomine-core-secret"][1]
    assert core["ADMIN_PASSWORD"] == generated["admin-password"] and core["JWT_SECRET"] == generated["jwt-secret"]
    assert core["MONGO_PASS"] == made["mongodb-secret"][1]["password"] == generated["mongodb-password"]
    assert made["cytomine-pims-secret"][1] == {"public_key": generated["image-server-public-key"],
                                               "private_key": generated["image-server-private-key"]}
    assert core["IMAGE_SERVER_PUBLIC_KEY"] == generated["image-server-public-key"]
    public = set(ROLE_VARS["__cytomine_public_default_sha256"].values())
    assert not {hashlib.sha256(value.encode()).hexdigest() for value in core.values()} & public
    # The five lookup Secrets are the chart's own, not the role's.
    for name in CHART_SECRETS[:5]:
        annotations = get(cluster, "secret", name, "-n", NAMESPACE)["metadata"]["annotations"]
        assert annotations["meta.helm.sh/release-name"] == "cytomine" and len(made[name][1]["password"]) == 32

    assert get(cluster, "namespace", TASKS_NAMESPACE)["metadata"]["annotations"]["meta.helm.sh/release-namespace"] == NAMESPACE
    ingress = get(cluster, "ingress", "core", "-n", NAMESPACE)["spec"]
    assert ingress["ingressClassName"] == "public" and ingress["rules"][0]["host"] == "cytomine.lab.example.org"
    policy = get(cluster, "networkpolicy", "core", "-n", NAMESPACE)["spec"]["egress"]
    assert policy[0]["to"][0]["ipBlock"]["cidr"] == "192.0.2.30/32" and {"port": 5672, "protocol": "TCP"} in policy[1]["ports"]

    images = {w["metadata"]["name"]: w["spec"]["template"]["spec"]["containers"][0]
              for kind in ("deployments", "statefulsets") for w in get(cluster, kind, "-n", NAMESPACE)["items"]}
    assert images["core"]["image"] == "cytomine/core:5.1.0" and images["cbir"]["image"] == CBIR
    assert images["pims"]["image"] == "cytomine/pims-ce-package:ce-1.0.0"
    assert all(c["imagePullPolicy"] == "IfNotPresent" for c in images.values())
    assert images["pims"]["resources"]["limits"]["memory"] == "8Gi"
    assert images["pims"]["resources"]["limits"]["ephemeral-storage"] == "1Gi"  # the chart's, merged under the role's
    claims = get(cluster, "pvc", "-n", NAMESPACE)["items"]
    assert len(claims) == 6 and {c["spec"]["storageClassName"] for c in claims} == {STORAGE_CLASS}
    assert all(c["status"]["phase"] == "Bound" for c in claims)
    assert helm_status(cluster)["info"]["status"] == "deployed"


def test_verbose_run_shows_no_secret(cluster, deployed):
    assert "task path:" in deployed.output and GENERATED in deployed.output  # the -vvv output is the one searched
    for name, (dummy, data) in secrets(cluster).items():
        for key, value in data.items():
            if len(value) >= 8:
                assert value not in deployed.output, f"{name}/{key} reached the -vvv output"


def test_rerun_changes_nothing(cluster, deployed, tmp_path):
    before = secrets(cluster)
    revision = helm_status(cluster)["version"]
    rerun = run(cluster, tmp_path, inventory(tmp_path), "--diff")
    assert rerun.changed == 0, rerun.output[-4000:]
    assert secrets(cluster) == before
    assert helm_status(cluster)["version"] == revision


def test_upgrade_keeps_every_secret(cluster, deployed, tmp_path):
    before = secrets(cluster)
    revision = helm_status(cluster)["version"]
    hosts = inventory(tmp_path, cytomine_resources={"core": {"limits": {"memory": "3Gi"}}})
    upgraded = run(cluster, tmp_path, hosts)
    assert upgraded.changed == 1, upgraded.output[-4000:]
    assert helm_status(cluster)["version"] == revision + 1
    core = get(cluster, "deployment", "core", "-n", NAMESPACE)["spec"]["template"]["spec"]["containers"][0]
    assert core["resources"]["limits"]["memory"] == "3Gi"
    assert {name: data for name, (dummy, data) in secrets(cluster).items()} == \
        {name: data for name, (dummy, data) in before.items()}
    assert run(cluster, tmp_path, hosts).changed == 0


def test_check_mode_predicts_an_install_and_writes_nothing(cluster, tmp_path):
    checked = run(cluster, tmp_path, inventory(tmp_path, cytomine_namespace="cytomineit-check"), "--check", "--diff")
    assert checked.changed > 0
    assert get(cluster, "namespace", "cytomineit-check") is None
    assert get(cluster, "namespace", "cytomineit-check-tasks") is None
