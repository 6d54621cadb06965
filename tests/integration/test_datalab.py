"""Role datalab through playbooks/datalab.yml against the real test cluster.

Real parts: kube-apiserver 1.36 (ResourceQuota and LimitRanger admission, RBAC), kube-controller-manager (PV
binding), kwok nodes (Pods become Running without containers), helm 3 with the role's post-renderer,
ansible-playbook and the sciplat.k8s modules and roles. Stand-ins, labelled as such: the chart
tests/charts/datalab (keys of the real chart, see its Chart.yaml), a StorageClass without provisioner and
static PersistentVolumes in place of an NFS class, and an ingress controller namespace without a controller.
NetworkPolicies are stored and checked, not enforced: the test cluster has no CNI.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from k8s_support import apply, can_i, decoded, get, helm_json, helm_uninstall, kubectl, server_dry_run
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "datalab.yml"
CHART = REPO / "tests" / "charts" / "datalab"
FACTS = yaml.safe_load((REPO / "tests" / "fixtures" / "charts" / "datalab.yml").read_text())
PROD = "dlit-prod"
TEST = "dlit-test"
INGRESS_NS = "dlit-ingress"
NODE = "dlit-node"
CLASSES = ("dlit", "dlit-next")
STORAGE_CLASS = "dlit-rwx"
VOLUMES = ("dlit-pv-0", "dlit-pv-1")
ROLE_CLUSTER_ROLE = "sciplat-datalab-infrastructure-management"
CHART_CLUSTER_OBJECTS = (("clusterrole", "infrastructure-management-role"),
                         ("clusterrolebinding", "infrastructure-management"), ("clusterrole", "health-check-role"))
SMTP_PASSWORD = "dlit-smtp-password-7c1d"


def remove_test_objects(cluster):
    for namespace, release in ((PROD, "prod"), (TEST, "test")):
        helm_uninstall(cluster, release, namespace)
    kubectl(cluster, "delete", "namespace", PROD, TEST, INGRESS_NS, "dlit-refused", "--ignore-not-found",
            "--timeout=180s", check=False)
    kubectl(cluster, "delete", "pv", *VOLUMES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", *CLASSES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "clusterrole", ROLE_CLUSTER_ROLE, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "clusterrolebinding", f"{ROLE_CLUSTER_ROLE}-{PROD}", f"{ROLE_CLUSTER_ROLE}-{TEST}",
            "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, tmp_path_factory):
    """A kwok node, two IngressClasses, a StorageClass with two static RWX volumes, the controller namespace."""
    remove_test_objects(k8s_cluster)
    pv_root = tmp_path_factory.mktemp("pv")
    apply(k8s_cluster,
          {"apiVersion": "v1", "kind": "Node", "metadata": {
              "name": NODE, "labels": {"kubernetes.io/hostname": NODE}, "annotations": {"kwok.x-k8s.io/node": "fake"}}},
          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INGRESS_NS}},
          *({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name},
             "spec": {"controller": "k8s.io/ingress-nginx"}} for name in CLASSES),
          # Stand-in for an NFS class: no provisioner, static volumes.
          {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": STORAGE_CLASS},
           "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"},
          *({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
             "spec": {"storageClassName": STORAGE_CLASS, "capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteMany"],
                      "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": str(pv_root / name)}}}
            for name in VOLUMES))
    kubectl(k8s_cluster, "wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=60s")
    yield k8s_cluster
    remove_test_objects(k8s_cluster)


def self_signed(host):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False).sign(key, hashes.SHA256()))
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()}


PROD_TLS = self_signed("datalab.dlit.example.org")
TEAMS = [{"name": "ops", "access": "admin", "users": ["olivia"]},
         {"name": "devs", "access": "operate", "environments": ["test"], "groups": ["dlit-developers"]}]


def inventory(workdir: Path, **overrides) -> Path:
    """An inventory shaped like inventories/omics_lab, on the local connection and the stand-in chart."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "datalab_environments": [
            {"name": "prod", "namespace": PROD,
             "resource_quota": {"limits.cpu": "3", "limits.memory": "4Gi", "requests.cpu": "2", "pods": "10"},
             "limit_range": {"default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                             "max": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "test", "namespace": TEST, "domain": "test.dlit.example.org", "values": {"datalabApp": {"replicas": 2}}}],
        "datalab_domain": "dlit.example.org",
        "datalab_teams": TEAMS,
        "datalab_storage_class": STORAGE_CLASS,
        "datalab_storage_size": "10Gi",
        "datalab_ingress_class": CLASSES[0],
        "datalab_ingress_controller_namespace": INGRESS_NS,
        "datalab_email_host": "smtp.dlit.example.org",
        "datalab_email_username": "dlit-mailer",
        "datalab_chart_source": "path",
        "datalab_chart_path": str(CHART),
        "datalab_helm_wait_timeout": "3m",
    }
    variables.update(overrides)
    return write_inventory(workdir, variables, {"control_plane": ["dlit-master"]})


def run(cluster, workdir, hosts, *args, expect_rc=0):
    extra = {"datalab_email_password": SMTP_PASSWORD, "datalab_tls_certificates": {"prod": PROD_TLS}}
    return run_playbook(PLAYBOOK, cluster.env, *args, workdir=workdir, inventory=hosts, extra_vars=extra,
                        expect_rc=expect_rc)


@pytest.mark.parametrize("overrides, message", [
    ({"datalab_values": {"datalabVolume": "other"}},
     "Environment prod: datalabVolume must equal datalabName (the chart names the claim after datalabName"),
    ({"datalab_environments": [{"name": "prod", "namespace": "dlit-refused"}, {"name": "test", "namespace": "dlit-refused-2"}]},
     "Environments share a host (datalab.dlit.example.org, datalab.dlit.example.org): give each its own domain or datalab_name."),
    ({"datalab_resource_quota": {"limits.cpu": "four"}},
     "quota and limit values must be Kubernetes quantities such as 4, 500m or 16Gi (got four)"),
    ({"datalab_teams": [{"name": "ops", "access": "root", "users": ["olivia"]}]},
     "Team ops: access must be one of view, operate, admin (datalab_access_levels)."),
    ({"datalab_values": {"useAppArmor": "false"}}, 'give real YAML booleans (true/false, unquoted): useAppArmor="false"'),
    ({"datalab_storage_class": "dlit-missing"}, "Not in the cluster: StorageClass dlit-missing: Mongo's claim needs a ReadWriteMany class"),
])
def test_refused_before_any_change(cluster, tmp_path, overrides, message):
    overrides.setdefault("datalab_environments", [{"name": "prod", "namespace": "dlit-refused"},
                                                  {"name": "test", "namespace": "dlit-refused-2", "datalab_name": "testlab"}])
    result = run(cluster, tmp_path, inventory(tmp_path, **overrides), expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert result.changed == 0
    assert get(cluster, "namespace", "dlit-refused") is None


def snapshot(cluster):
    versions = {}
    for namespace in (PROD, TEST):
        for name in ("mongo-password-secret", "auth-signing-key", "email-notification-secret", "tls-secret"):
            versions[f"{namespace}/{name}"] = get(cluster, "secret", name, "-n", namespace)["metadata"]["resourceVersion"]
        for kind in ("limitrange", "networkpolicy", "role", "rolebinding"):
            for item in get(cluster, kind, "-n", namespace)["items"]:
                versions[f"{namespace}/{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        # The quota controller keeps writing the usage in its status.
        quota = get(cluster, "resourcequota", "datalab-environment", "-n", namespace)
        versions[f"{namespace}/resourcequota"] = (quota["metadata"].get("labels"), quota["spec"])
    versions["revisions"] = {name: helm_json(cluster, "status", name, "-n", ns)["version"]
                             for ns, name in ((PROD, "prod"), (TEST, "test"))}
    return versions


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    first = run(cluster, workdir, inventory(workdir), "-vvv", "--diff")
    return {"first": first, "versions": snapshot(cluster), "workdir": workdir}


def test_both_environments_deployed(cluster, deployed):
    assert deployed["first"].changed > 0
    for namespace, release in ((PROD, "prod"), (TEST, "test")):
        assert helm_json(cluster, "status", release, "-n", namespace)["info"]["status"] == "deployed"
        # The expire-notebooks CronJob starts a pod every 15 minutes: only the Deployments' pods count.
        pods = get(cluster, "pods", "-n", namespace, "-l", "!batch.kubernetes.io/job-name")["items"]
        assert {p["metadata"]["labels"]["name"] for p in pods} == {"infrastructure-api", "datalab-auth", "datalab-app", "mongo"}
        assert all(p["status"]["phase"] == "Running" for p in pods)
        # useAppArmor false: no profile annotation that microk8s nodes cannot honour.
        assert not any("apparmor" in key for p in pods for key in (p["metadata"].get("annotations") or {}))
        assert get(cluster, "pvc", "-n", namespace)["items"][0]["status"]["phase"] == "Bound"
        for ingress in get(cluster, "ingress", "-n", namespace)["items"]:
            assert ingress["spec"]["ingressClassName"] == CLASSES[0]
    assert len(get(cluster, "pods", "-n", TEST, "-l", "name=datalab-app")["items"]) == 2
    values = helm_json(cluster, "get", "values", "test", "-n", TEST)
    assert values["namespace"] == TEST and values["environment"] == "test"
    assert values["datalabName"] == values["datalabVolume"] == "datalab"
    assert values["domain"] == "test.dlit.example.org"
    assert values["useAppArmor"] is False and values["metadata-catalogue"] == {"enabled": False}
    assert values["internalVolumeStorageClass"] == STORAGE_CLASS


def test_chart_cluster_rbac_handled_by_the_role(cluster, deployed):
    for kind, name in CHART_CLUSTER_OBJECTS:
        assert get(cluster, kind, name) is None, f"{kind} {name} should have been left out of the releases"
    assert get(cluster, "clusterrole", ROLE_CLUSTER_ROLE) is not None
    for namespace, other in ((PROD, TEST), (TEST, PROD)):
        account = f"system:serviceaccount:{namespace}:infrastructure-service-account"
        binding = get(cluster, "rolebinding", ROLE_CLUSTER_ROLE, "-n", namespace)
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "infrastructure-service-account", "namespace": namespace}]
        assert can_i(cluster, account, "delete", "pods", namespace)
        assert can_i(cluster, account, "create", "secrets", namespace)
        assert not can_i(cluster, account, "get", "secrets", other)
    # The release holds no cluster-wide RBAC, nor the developer leftover aimed at namespace devtest.
    manifest = subprocess.run([str(cluster.helm), "get", "manifest", "prod", "-n", PROD], env=dict(os.environ, **cluster.env),
                              capture_output=True, text=True, check=True).stdout
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert {o["metadata"].get("namespace") for o in objects} == {PROD}


def test_quota_and_limits_enforced(cluster, deployed):
    def pod(name, *cpu_limits):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": PROD},
                "spec": {"containers": [{"name": f"c{i}", "image": "busybox",
                                         **({"resources": {"limits": {"cpu": cpu}}} if cpu else {})}
                                        for i, cpu in enumerate(cpu_limits)]}}

    over_max = server_dry_run(cluster, pod("over-max", "2"))
    assert over_max.returncode != 0 and "maximum cpu usage per Container is 1, but limit is 2" in over_max.stderr
    # The chart's four pods hold 2 of the 3 CPUs of limits.cpu: two more containers at 1 CPU do not fit.
    over_quota = server_dry_run(cluster, pod("over-quota", "1", "1"))
    assert over_quota.returncode != 0 and "exceeded quota: datalab-environment" in over_quota.stderr
    assert "limits.cpu=3" in over_quota.stderr
    created = json.loads(kubectl(cluster, "create", "--dry-run=server", "-o", "json", "-f", "-",
                                 stdin=json.dumps(pod("defaults", None))).stdout)
    assert created["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"},
                                                             "requests": {"cpu": "50m", "memory": "64Mi"}}
    quota = get(cluster, "resourcequota", "datalab-environment", "-n", TEST)
    assert quota["spec"]["hard"]["limits.cpu"] == "32"


@pytest.mark.parametrize("verb, resource, namespace, user, groups, allowed", [
    ("get", "secrets", PROD, "olivia", (), True),
    ("delete", "deployments.apps", TEST, "olivia", (), True),
    ("delete", "pods", TEST, "dan", ("dlit-developers",), True),
    ("patch", "deployments.apps", TEST, "dan", ("dlit-developers",), True),
    ("delete", "pods", PROD, "dan", ("dlit-developers",), False),
    ("get", "secrets", TEST, "dan", ("dlit-developers",), False),
    ("patch", "resourcequotas", PROD, "olivia", (), False),
    ("delete", "networkpolicies.networking.k8s.io", TEST, "olivia", (), False),
    ("create", "rolebindings.rbac.authorization.k8s.io", PROD, "olivia", (), False),
    ("get", "pods", PROD, "mallory", (), False),
])
def test_team_rbac(cluster, deployed, verb, resource, namespace, user, groups, allowed):
    assert can_i(cluster, user, verb, resource, namespace, groups) is allowed


def test_environments_isolated(cluster, deployed):
    for namespace in (PROD, TEST):
        policy = get(cluster, "networkpolicy", "datalab-environment-isolation", "-n", namespace)["spec"]
        assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress"]
        assert policy["ingress"][0] == {"from": [{"podSelector": {}}]}
        selector = policy["ingress"][1]["from"][0]["namespaceSelector"]["matchExpressions"][0]
        assert selector == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [INGRESS_NS]}


def test_secrets(cluster, deployed):
    values = {}
    for namespace in (PROD, TEST):
        mongo = decoded(get(cluster, "secret", "mongo-password-secret", "-n", namespace))["secret"]
        assert len(mongo) == 32 and mongo.isalnum()
        keys = decoded(get(cluster, "secret", "auth-signing-key", "-n", namespace))
        private = serialization.load_pem_private_key(keys["private"].encode(), password=None)
        public = serialization.load_pem_public_key(keys["public"].encode())
        assert public.public_numbers() == private.public_key().public_numbers()
        assert decoded(get(cluster, "secret", "email-notification-secret", "-n", namespace)) == {
            "username": "dlit-mailer", "password": SMTP_PASSWORD}
        values[namespace] = (mongo, keys["private"])
    assert values[PROD] != values[TEST]
    # Exactly the Secrets and keys the real chart reads.
    for secret in FACTS["secrets"]:
        for namespace in (PROD, TEST):
            assert set(get(cluster, "secret", secret["name"], "-n", namespace)["data"]) == set(secret["keys"])
    prod_tls = get(cluster, "secret", "tls-secret", "-n", PROD)
    assert prod_tls["type"] == "kubernetes.io/tls"
    assert decoded(prod_tls) == {"tls.crt": PROD_TLS["certificate"], "tls.key": PROD_TLS["private_key"]}
    test_tls = decoded(get(cluster, "secret", "tls-secret", "-n", TEST))
    certificate = x509.load_pem_x509_certificate(test_tls["tls.crt"].encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == ["datalab.test.dlit.example.org", "datalab-docs.test.dlit.example.org"]
    output = deployed["first"].output
    for secret in [SMTP_PASSWORD, PROD_TLS["private_key"].splitlines()[1], test_tls["tls.key"].splitlines()[1],
                   *(mongo for mongo, dummy in values.values())]:
        assert secret not in output, "a secret reached the -vvv/--diff output"


def test_rerun_changes_nothing(cluster, deployed):
    again = run(cluster, deployed["workdir"], inventory(deployed["workdir"]))
    assert again.changed == 0, again.output[-4000:]
    assert snapshot(cluster) == deployed["versions"]


def test_team_removed_scope_and_class_changed(cluster, deployed, tmp_path):
    result = run(cluster, tmp_path, inventory(tmp_path, datalab_teams=TEAMS[:1], datalab_infrastructure_scope="cluster",
                                              datalab_ingress_class=CLASSES[1]))
    assert result.changed > 0
    assert get(cluster, "role", "datalab-team-devs", "-n", TEST) is None
    assert get(cluster, "rolebinding", "datalab-team-devs", "-n", TEST) is None
    assert not can_i(cluster, "dan", "delete", "pods", TEST, ["dlit-developers"])
    assert can_i(cluster, "olivia", "get", "secrets", TEST)
    for namespace in (PROD, TEST):
        assert get(cluster, "rolebinding", ROLE_CLUSTER_ROLE, "-n", namespace) is None
        binding = get(cluster, "clusterrolebinding", f"{ROLE_CLUSTER_ROLE}-{namespace}")
        assert binding["subjects"][0]["namespace"] == namespace
        # A changed post-renderer upgrades the release: the Ingresses carry the new class.
        assert {i["spec"]["ingressClassName"] for i in get(cluster, "ingress", "-n", namespace)["items"]} == {CLASSES[1]}
    after = snapshot(cluster)
    assert after["revisions"] == {"prod": 2, "test": 2}
    assert {key: version for key, version in after.items() if key.endswith("-secret") or key.endswith("-key")} == \
        {key: version for key, version in deployed["versions"].items() if key.endswith("-secret") or key.endswith("-key")}
