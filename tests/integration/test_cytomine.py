"""Role cytomine through playbooks/cytomine.yml against the real test cluster, with the real upstream chart.

Real parts: kube-apiserver 1.36 with kwok nodes (Pods become Running without containers), helm 3 (including its
`lookup` against the API server), ansible-playbook, sciplat.k8s.generated_secret and helm_release, and the chart
cytomine/cytomine-helm at the role's own pin (9dd07c54, charts/cytomine), which the role clones from
https://github.com/cytomine/cytomine-helm.git through sciplat_chart_mirror (tests/upstream/mirror.py: the offline
copy of that commit under SCIPLAT_UPSTREAM; without it, GitHub itself).
The inventory is inventories/cytomine_lab's group_vars, with only the namespace, the storage class, the
connection and the mirror changed.
Stand-ins, labelled as such: a StorageClass of this module's own with static PersistentVolumes (microk8s' hostpath
provisioner), IngressClass public applied before each run (microk8s' ingress addon), and a minimal
CustomResourceDefinition issuers.cert-manager.io (NOT cert-manager: nothing issues a certificate; it only lets
the API server store the Issuer the role makes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

from k8s_support import apply, decoded, get, helm_json, helm_uninstall, kubectl, kwok_node, static_volumes
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
import mirror  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = REPO / "playbooks" / "cytomine.yml"
LAB = yaml.safe_load((REPO / "inventories" / "cytomine_lab" / "group_vars" / "all" / "cytomine.yml").read_text())
ROLE_VARS = yaml.safe_load((REPO / "roles" / "cytomine" / "vars" / "main.yml").read_text())
ROLE_DEFAULTS = yaml.safe_load((REPO / "roles" / "cytomine" / "defaults" / "main.yml").read_text())
NAMESPACE = "cytomineit"
TASKS_NAMESPACE = "cytomineit-tasks"
STORAGE_CLASS = "cytomineit-hostpath"
NODE = "cytomineit-node"
# The chart's claims: postgis, postgres-iam, postgres-app-engine and mongodb ReadWriteOnce, PIMS's two ReadWriteMany.
RWO_VOLUMES = [f"cytomineit-pv-rwo-{index}" for index in range(4)]
RWX_VOLUMES = [f"cytomineit-pv-rwx-{index}" for index in range(2)]
GENERATED = "cytomine-sciplat-generated"
LOOKUP_SECRETS = ["admin-iam-secret", "keystore-iam-secret", "postgres-iam-secret", "postgres-core-secret",
                  "postgres-app-engine-secret"]
VALUES_SECRETS = ["core-secret", "pims-secret", "mongodb-secret"]
ISSUER_CRD = "issuers.cert-manager.io"
STAND_IN_LABEL = {"sciplat.test/stand-in": "cert-manager-crd"}
USER_TLS = "cytomine-lab-tls"
DOMAIN = LAB["cytomine_domain_name"]


def helm_status(cluster):
    return helm_json(cluster, "status", "cytomine", "-n", NAMESPACE)


def secrets(cluster):
    """Every Secret the role or the chart made from values or lookup, with its resourceVersion and decoded data."""
    found = {}
    for name in [GENERATED, *LOOKUP_SECRETS, *VALUES_SECRETS]:
        secret = get(cluster, "secret", name, "-n", NAMESPACE)
        found[name] = None if secret is None else (secret["metadata"]["resourceVersion"], decoded(secret))
    return found


def ingress_tls(cluster):
    ingress = get(cluster, "ingress", "core", "-n", NAMESPACE)
    return ingress["metadata"].get("annotations", {}), ingress["spec"].get("tls")


def issuer_crd():
    """Stand-in for cert-manager's CRD: the group, kind and version cert-manager serves, no schema to speak of."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": ISSUER_CRD, "labels": STAND_IN_LABEL},
            "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                     "names": {"plural": "issuers", "singular": "issuer", "kind": "Issuer", "listKind": "IssuerList"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def remove_stand_in_crd(cluster):
    crd = get(cluster, "crd", ISSUER_CRD)
    if crd is not None and crd["metadata"].get("labels", {}).get("sciplat.test/stand-in") == "cert-manager-crd":
        kubectl(cluster, "delete", "crd", ISSUER_CRD, "--wait=true", check=False)


def remove_test_objects(cluster):
    helm_uninstall(cluster, "cytomine", NAMESPACE)
    helm_uninstall(cluster, "cytomine", "cytomineit-check")
    kubectl(cluster, "delete", "namespace", NAMESPACE, TASKS_NAMESPACE, "cytomineit-refused", "cytomineit-taken",
            "cytomineit-taken-tasks", "cytomineit-tls", "cytomineit-check", "cytomineit-check-tasks",
            "--ignore-not-found", "--timeout=180s", check=False)
    kubectl(cluster, "delete", "pv", *RWO_VOLUMES, *RWX_VOLUMES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)
    remove_stand_in_crd(cluster)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, tmp_path_factory):
    remove_test_objects(k8s_cluster)
    # kwok nodes advertise no ephemeral storage, which the chart requests: this one stands for a node with a disk.
    kwok_node(k8s_cluster, NODE, {}, {"ephemeral-storage": "500Gi"})
    # Stand-in for microk8s' hostpath provisioner: a class with static volumes the scheduler binds.
    apply(k8s_cluster, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": STORAGE_CLASS},
                        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})
    pv_root = tmp_path_factory.mktemp("pv")
    static_volumes(k8s_cluster, RWO_VOLUMES, STORAGE_CLASS, "10Gi", "ReadWriteOnce", pv_root)
    # The lab inventory asks 500Gi for the slides.
    static_volumes(k8s_cluster, RWX_VOLUMES, STORAGE_CLASS, "1Ti", "ReadWriteMany", pv_root)
    own_ingress_class = get(k8s_cluster, "ingressclass", "public") is None
    yield k8s_cluster
    remove_test_objects(k8s_cluster)
    if own_ingress_class:
        kubectl(k8s_cluster, "delete", "ingressclass", "public", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cert_manager_crd(cluster):
    """The stand-in Issuer CRD, for the tests that need the API to store an Issuer (after the one that needs none)."""
    if get(cluster, "crd", ISSUER_CRD) is None:
        apply(cluster, issuer_crd())
        kubectl(cluster, "wait", "--for=condition=Established", f"crd/{ISSUER_CRD}", "--timeout=60s")
    return cluster


def inventory(workdir: Path, **group_vars) -> Path:
    """inventories/cytomine_lab's group_vars on the local connection, the test class and the upstream mirror."""
    variables = {
        **LAB,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "sciplat_chart_mirror": mirror.chart_mirror(),
        "cytomine_namespace": NAMESPACE,
        "cytomine_storage_class": STORAGE_CLASS,
        "cytomine_helm_wait_timeout": "3m",
    }
    variables.update(group_vars)
    return write_inventory(workdir, variables, {"control_plane": ["cytomineit-master"]})


def run(cluster, workdir, hosts, *args, expect_rc=0, json_callback=False):
    # Stand-in for the IngressClass of microk8s' ingress addon, which the chart hard-codes. Applied before every
    # run: other test modules create and delete the same cluster-wide name.
    apply(cluster, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "public"},
                    "spec": {"controller": "k8s.io/ingress-nginx"}})
    return run_playbook(PLAYBOOK, cluster.env, *args, workdir=workdir, inventory=hosts, expect_rc=expect_rc,
                        json_callback=json_callback)


def flat(text):
    return " ".join(text.split())


def test_inventory_uses_the_role_pin():
    assert "cytomine_chart_git_commit" not in LAB and "cytomine_chart_git_repo" not in LAB
    assert ROLE_DEFAULTS["cytomine_chart_git_commit"] == "9dd07c5465a02e1398f1def7593d59ea8ed982f4"
    assert ROLE_DEFAULTS["cytomine_chart_git_repo"] == "https://github.com/cytomine/cytomine-helm.git"


@pytest.mark.parametrize("case, extra, message", [
    ("domain with a scheme", {"cytomine_domain_name": "https://cytomine.example.org"},
     "cytomine_domain_name must be a lower-case DNS name without scheme, port or path, not an IP address"),
    ("domain missing", {"cytomine_domain_name": ""}, "cytomine_domain_name is empty"),
    ("tasks namespace is the release namespace", {"cytomine_namespace": "cytomineit-refused",
                                                  "cytomine_tasks_namespace": "cytomineit-refused"},
     "The app-engine tasks namespace must differ from cytomine_namespace (cytomineit-refused)"),
    ("TLS not chosen", {"cytomine_tls": {}}, "cytomine_tls.mode must say how the Ingress gets its certificate (got '')"),
    ("unknown TLS mode", {"cytomine_tls": {"mode": "letsencrypt"}},
     "value of mode must be one of: cert_manager_issuer, secret, none, got: letsencrypt found in cytomine_tls"),
    ("ACME without an address", {"cytomine_tls": {"mode": "cert_manager_issuer"}}, "cytomine_tls.acme_email must be"),
    ("ACME server not https", {"cytomine_tls": {"mode": "cert_manager_issuer", "acme_email": "it@example.org",
                                                "acme_server": "http://acme.example.org/directory"}},
     "cytomine_tls.acme_server must be the https:// URL of an ACME directory"),
    ("TLS Secret not named", {"cytomine_tls": {"mode": "secret"}}, "cytomine_tls.secret_name must name the"),
    ("setting of another TLS mode", {"cytomine_tls": {"mode": "none", "secret_name": "x"}},
     "cytomine_tls has secret_name, which mode none does not use"),
    ("image tag latest", {"cytomine_image_overrides": {**LAB["cytomine_image_overrides"], "core": "cytomine/core:latest"}},
     "These images are not pinned to a tag or digest, or use :latest, which changes under a running release: "
     "core='cytomine/core:latest'"),
    ("untagged image in values", {"cytomine_values": {"images": {"web_ui": "registry:5000/cytomine/web-ui"}}},
     "web_ui='registry:5000/cytomine/web-ui'"),
    ("no sam image", {"cytomine_image_overrides": {"cbir": LAB["cytomine_image_overrides"]["cbir"]}},
     "Cytomine CE 2025.1 publishes no cbir and no sam image"),
    ("image the chart does not read", {"cytomine_image_overrides": {**LAB["cytomine_image_overrides"],
                                                                    "nginx": "cytomine/nginx:3.0.2-dev"}},
     "The chart reads no image nginx"),
    ("missing storage class", {"cytomine_storage_classes": {"mongodb": "cytomineit-missing"}},
     "StorageClass cytomineit-missing is not in the cluster"),
    ("public default secret", {"cytomine_values": {"mongodb": {"password": "password123"}}},
     "mongodb.password hold(s) the chart's public default"),
    ("public default SMTP password", {"cytomine_smtp_password": "password"},
     "core.smtp_password hold(s) the chart's public default"),
    ("PIMS key without core's", {"cytomine_values": {"pims": {"public_key": "0f0e0d0c-0b0a-4988-8766-554433221100"}}},
     "pims.public_key and core.image_server_public_key must be equal"),
    ("nginx switched on", {"cytomine_values": {"nginx": {"deploy": True}}}, "nginx.deploy must stay false"),
    # A typo in the user's values: refused by helm_release's values check before the generated Secret is written.
    ("typo in cytomine_values", {"cytomine_values": {"core": {"prot": 8080}}},
     "core.prot is not read by the chart (did you mean core.port?) (from cytomine_values)"),
    ("string boolean", {"cytomine_values": {"web_ui": {"deploy": "false"}}},
     'give real YAML booleans (true/false, unquoted): web_ui.deploy="false"'),
])
def test_refused_before_any_change(cluster, tmp_path, case, extra, message):
    hosts = inventory(tmp_path, **{"cytomine_namespace": "cytomineit-refused", **extra})
    result = run(cluster, tmp_path, hosts, expect_rc=2)
    assert flat(message) in flat(result.output), result.output[-3000:]
    assert result.changed == 0
    assert get(cluster, "namespace", "cytomineit-refused") is None


def test_cert_manager_issuer_without_cert_manager_is_refused(cluster, tmp_path):
    if get(cluster, "crd", ISSUER_CRD) is not None:
        pytest.skip("cert-manager's Issuer CRD is installed in this cluster")
    refused = run(cluster, tmp_path, inventory(tmp_path, cytomine_namespace="cytomineit-refused"), expect_rc=2)
    assert ("cytomine_tls.mode is cert_manager_issuer, but the cluster has no cert-manager: CustomResourceDefinition "
            "issuers.cert-manager.io (serving v1) is missing. Install cert-manager (microk8s enable cert-manager)"
            in flat(refused.output)), refused.output[-3000:]
    assert refused.changed == 0
    assert get(cluster, "namespace", "cytomineit-refused") is None


def test_tls_secret_missing_or_not_tls_is_refused(cluster, tmp_path):
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-tls", cytomine_tasks_namespace="cytomineit-tls-tasks",
                      cytomine_tls={"mode": "secret", "secret_name": USER_TLS})
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert (f"cytomine_tls.secret_name: Secret cytomineit-tls/{USER_TLS} does not exist. Make it before the run: "
            f"kubectl -n cytomineit-tls create secret tls {USER_TLS}" in flat(refused.output)), refused.output[-3000:]
    kubectl(cluster, "create", "namespace", "cytomineit-tls")
    kubectl(cluster, "create", "secret", "generic", USER_TLS, "-n", "cytomineit-tls", "--from-literal=cert=not-a-tls-secret")
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert (f"cytomine_tls.secret_name: Secret cytomineit-tls/{USER_TLS} is of type Opaque, not kubernetes.io/tls"
            in flat(refused.output)), refused.output[-3000:]
    assert refused.changed == 0 and "not-a-tls-secret" not in refused.output
    assert get(cluster, "secret", GENERATED, "-n", "cytomineit-tls") is None


def test_chart_folder_missing_at_the_pin_fails_naming_the_setting(cluster, tmp_path):
    # helm_release resolves the chart when it deploys, after the role's own checks and its generated Secret.
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-refused", cytomine_tls={"mode": "none"},
                      cytomine_chart_git_subpath="charts/cytomine-nope")
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert "check cytomine_chart_git_subpath ('charts/cytomine-nope')" in flat(refused.output), refused.output[-3000:]
    assert helm_json(cluster, "status", "cytomine", "-n", "cytomineit-refused") is None
    kubectl(cluster, "delete", "namespace", "cytomineit-refused", "--ignore-not-found", "--timeout=120s")


def test_existing_tasks_namespace_and_foreign_secret_are_refused(cluster, tmp_path):
    kubectl(cluster, "create", "namespace", "cytomineit-taken")
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-refused", cytomine_tasks_namespace="cytomineit-taken",
                      cytomine_tls={"mode": "none"})
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert "Namespace cytomineit-taken already exists and is not this release's" in flat(refused.output)

    # The chart's values.yaml still says to create the IAM Secrets by hand; the chart makes them itself.
    kubectl(cluster, "create", "secret", "generic", "admin-iam-secret", "-n", "cytomineit-taken",
            "--from-literal=password=made-by-hand")
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-taken", cytomine_tasks_namespace="cytomineit-taken-tasks",
                      cytomine_tls={"mode": "none"})
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert ("Secret(s) admin-iam-secret in cytomineit-taken exist but do not belong to release cytomine"
            in flat(refused.output))
    assert "made-by-hand" not in refused.output
    assert get(cluster, "secret", GENERATED, "-n", "cytomineit-taken") is None
    assert get(cluster, "namespace", "cytomineit-taken-tasks") is None


def test_issuer_not_made_by_the_role_is_refused(cert_manager_crd, tmp_path):
    cluster = cert_manager_crd
    kubectl(cluster, "create", "namespace", "cytomineit-tls", check=False)
    apply(cluster, {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                    "metadata": {"name": "letsencrypt", "namespace": "cytomineit-tls"},
                    "spec": {"selfSigned": {}}})
    hosts = inventory(tmp_path, cytomine_namespace="cytomineit-tls", cytomine_tasks_namespace="cytomineit-tls-tasks")
    refused = run(cluster, tmp_path, hosts, expect_rc=2)
    assert "Issuer cytomineit-tls/letsencrypt exists and was not made by this role" in flat(refused.output)
    assert refused.changed == 0
    assert get(cluster, "issuer", "letsencrypt", "-n", "cytomineit-tls")["spec"] == {"selfSigned": {}}


@pytest.fixture(scope="module")
def deployed(cert_manager_crd, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    return run(cert_manager_crd, workdir, inventory(workdir), "-vvv", "--diff")


def test_install(cluster, deployed):
    assert deployed.changed > 0
    made = secrets(cluster)
    generated = made[GENERATED][1]
    assert set(generated) == {key["name"] for key in ROLE_VARS["__cytomine_generated_keys"]}
    assert len(base64.b64decode(generated["jwt-secret"])) == 64
    assert all(len(generated[name]) == 36 for name in ("admin-private-key", "image-server-public-key", "server-id"))

    # The chart's Secrets from values got the generated values; PIMS has core's image-server pair.
    core = made["core-secret"][1]
    assert core["ADMIN_PASSWORD"] == generated["admin-password"] and core["JWT_SECRET"] == generated["jwt-secret"]
    assert core["MONGO_PASS"] == made["mongodb-secret"][1]["password"] == generated["mongodb-password"]
    assert core["SMTP_PASSWORD"] == generated["smtp-password"]  # the lab's vault is not there: generated
    assert made["pims-secret"][1] == {"public_key": generated["image-server-public-key"],
                                      "private_key": generated["image-server-private-key"]}
    assert core["IMAGE_SERVER_PUBLIC_KEY"] == generated["image-server-public-key"]
    assert get(cluster, "configmap", "core-env", "-n", NAMESPACE)["data"]["SERVER_ID"] == generated["server-id"]
    # No public default of the real values.yaml is left in any Secret or in core's ConfigMap.
    public = set(ROLE_VARS["__cytomine_public_default_sha256"].values())
    exposed = [*core.values(), *made["pims-secret"][1].values(), *made["mongodb-secret"][1].values(), generated["server-id"]]
    assert not {hashlib.sha256(value.encode()).hexdigest() for value in exposed} & public
    # The lookup Secrets are the chart's own (64 random characters), owned by the release.
    for name in LOOKUP_SECRETS:
        annotations = get(cluster, "secret", name, "-n", NAMESPACE)["metadata"]["annotations"]
        assert annotations["meta.helm.sh/release-name"] == "cytomine" and len(made[name][1]["password"]) == 64

    tasks = get(cluster, "namespace", TASKS_NAMESPACE)["metadata"]["annotations"]
    assert tasks["meta.helm.sh/release-namespace"] == NAMESPACE
    assert get(cluster, "secret", "app-engine", "-n", TASKS_NAMESPACE)["type"] == "kubernetes.io/service-account-token"

    # TLS mode cert_manager_issuer (the lab's): the Issuer the chart names, made by the role, and the chart's tls block.
    issuer = get(cluster, "issuer", "letsencrypt", "-n", NAMESPACE)
    assert issuer["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sciplat.k8s"
    assert issuer["spec"]["acme"]["email"] == LAB["cytomine_tls"]["acme_email"]
    assert issuer["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "public"}}}]
    ingress = get(cluster, "ingress", "core", "-n", NAMESPACE)
    assert ingress["spec"]["ingressClassName"] == "public" and ingress["spec"]["rules"][0]["host"] == DOMAIN
    annotations, tls = ingress_tls(cluster)
    assert annotations["cert-manager.io/issuer"] == "letsencrypt"
    assert annotations["nginx.ingress.kubernetes.io/cors-allow-origin"] == f"https://{DOMAIN}"
    assert tls == [{"hosts": [DOMAIN], "secretName": "ingress-tls"}]
    assert {path["path"] for path in ingress["spec"]["rules"][0]["http"]["paths"]} == {
        "/server", "/api", "/iam", "/cbir", "/sam", "/ims/(formats|image/upload|import|upload)", "/"}

    workloads = {w["metadata"]["name"]: w["spec"]["template"]["spec"]
                 for kind in ("deployments", "statefulsets") for w in get(cluster, kind, "-n", NAMESPACE)["items"]}
    assert set(workloads) == {"app-engine", "cbir", "core", "iam", "pims-cache", "redis", "sam", "web-ui",
                              "postgres-app-engine", "postgres-iam", "postgis", "mongodb", "pims"}
    images = {name: spec["containers"][0] for name, spec in workloads.items()}
    assert images["core"]["image"] == "cytomine/core:5.1.0" and images["web-ui"]["image"] == "cytomine/web-ui:3.1.0"
    assert images["cbir"]["image"] == LAB["cytomine_image_overrides"]["cbir"]
    assert images["sam"]["image"] == LAB["cytomine_image_overrides"]["sam"]
    assert images["pims"]["image"] == "cytomine/pims-ce-package:ce-1.0.0"
    # The chart gives no pull policy to app-engine, cbir, iam and sam: the API server's default for a tag applies.
    assert {c["imagePullPolicy"] for c in images.values()} == {"IfNotPresent"}
    assert images["pims"]["resources"]["limits"] == {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "4Gi"}
    assert images["core"]["resources"]["limits"]["memory"] == "2Gi"  # the chart's, for a component the lab leaves
    # The web UI renders only through the role's fix of the pinned chart (configs/web_ui/configuration.json.sample).
    web_config = json.loads(get(cluster, "configmap", "web-ui-config", "-n", NAMESPACE)["data"]["configuration.json"])
    assert web_config["CYTOMINE_COMMERCIAL_VERSION"] == "2025.1" and web_config["CYTOMINE_CORE_HOST"] == f"https://{DOMAIN}"

    claims = {c["metadata"]["name"]: c for c in get(cluster, "pvc", "-n", NAMESPACE)["items"]}
    assert set(claims) == {"postgres-storage-postgis-0", "postgres-iam-storage-postgres-iam-0",
                           "postgres-app-engine-storage-postgres-app-engine-0", "mongodb-storage-mongodb-0",
                           "images-pims-0", "images-temp-pims-0"}
    assert {c["spec"]["storageClassName"] for c in claims.values()} == {STORAGE_CLASS}
    assert claims["images-pims-0"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["images-pims-0"]["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert all(c["status"]["phase"] == "Bound" for c in claims.values())
    assert helm_status(cluster)["info"]["status"] == "deployed"


def test_verbose_run_shows_no_secret(cluster, deployed):
    assert "task path:" in deployed.output and GENERATED in deployed.output  # the -vvv output is the one searched
    for name, (dummy, data) in secrets(cluster).items():
        for key, value in data.items():
            if len(value) >= 8:
                assert value not in deployed.output, f"{name}/{key} reached the -vvv output"


def test_rerun_and_check_mode_change_nothing(cluster, deployed, tmp_path):
    before = secrets(cluster)
    revision = helm_status(cluster)["version"]
    # The rerun through the JSON callback: every task result as AWX and log shippers keep it, swept for the values.
    rerun = run(cluster, tmp_path, inventory(tmp_path), "--diff", json_callback=True)
    assert rerun.changed == 0, rerun.output[-4000:]
    assert '"stats"' in rerun.output and GENERATED in rerun.output
    for name, (dummy, data) in before.items():
        for key, value in data.items():
            if len(value) >= 8:
                assert value not in rerun.output, f"{name}/{key} reached the JSON callback's output"
    checked = run(cluster, tmp_path, inventory(tmp_path), "--check", "--diff")
    assert checked.changed == 0, checked.output[-4000:]
    assert secrets(cluster) == before
    assert helm_status(cluster)["version"] == revision


def test_upgrade_keeps_every_secret(cluster, deployed, tmp_path):
    before = secrets(cluster)
    revision = helm_status(cluster)["version"]
    hosts = inventory(tmp_path, cytomine_resources={**LAB["cytomine_resources"], "core": {"limits": {"memory": "3Gi"}}})
    upgraded = run(cluster, tmp_path, hosts)
    assert upgraded.changed == 1, upgraded.output[-4000:]
    assert helm_status(cluster)["version"] == revision + 1
    core = get(cluster, "deployment", "core", "-n", NAMESPACE)["spec"]["template"]["spec"]["containers"][0]
    assert core["resources"]["limits"]["memory"] == "3Gi"
    assert {name: data for name, (dummy, data) in secrets(cluster).items()} == \
        {name: data for name, (dummy, data) in before.items()}
    assert run(cluster, tmp_path, hosts).changed == 0


def test_tls_from_a_secret_of_the_user(cluster, deployed, tmp_path):
    # The API server checks only that a kubernetes.io/tls Secret has both keys; nothing here serves the certificate.
    apply(cluster, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": USER_TLS, "namespace": NAMESPACE},
                    "data": {"tls.crt": base64.b64encode(b"stand-in certificate").decode(),
                             "tls.key": base64.b64encode(b"stand-in key").decode()}})
    revision = helm_status(cluster)["version"]
    hosts = inventory(tmp_path, cytomine_tls={"mode": "secret", "secret_name": USER_TLS})
    switched = run(cluster, tmp_path, hosts)
    assert helm_status(cluster)["version"] == revision + 1, switched.output[-4000:]
    annotations, tls = ingress_tls(cluster)
    # Without the chart's annotation, no cert-manager overwrites the user's certificate.
    assert not [key for key in annotations if key.startswith("cert-manager.io/")]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert tls == [{"hosts": [DOMAIN], "secretName": USER_TLS}]
    assert run(cluster, tmp_path, hosts).changed == 0


def test_no_tls_at_the_ingress(cluster, deployed, tmp_path):
    hosts = inventory(tmp_path, cytomine_tls={"mode": "none"})
    run(cluster, tmp_path, hosts)
    annotations, tls = ingress_tls(cluster)
    assert tls is None and not [key for key in annotations if key.startswith("cert-manager.io/")]
    assert annotations["nginx.ingress.kubernetes.io/enable-cors"] == "true"
    assert run(cluster, tmp_path, hosts).changed == 0
    assert run(cluster, tmp_path, hosts, "--check", "--diff").changed == 0


def test_check_mode_predicts_an_install_and_writes_nothing(cert_manager_crd, tmp_path):
    cluster = cert_manager_crd
    checked = run(cluster, tmp_path, inventory(tmp_path, cytomine_namespace="cytomineit-check"), "--check", "--diff")
    assert checked.changed > 0
    assert get(cluster, "namespace", "cytomineit-check") is None
    assert get(cluster, "namespace", "cytomineit-check-tasks") is None
