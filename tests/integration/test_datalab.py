"""Role datalab through playbooks/datalab.yml against the real test cluster, on the real chart.

Real parts: kube-apiserver 1.36 (ResourceQuota and LimitRanger admission, RBAC), kube-controller-manager (PV
binding), kwok nodes (Pods become Running without containers), helm 3, ansible-playbook, the sciplat.k8s modules
and roles, and the real NERC-CEH datalab chart at the role's default pin (2aea8cdf, helm/datalab), cloned by the
role through the offline mirror of SCIPLAT_UPSTREAM (sciplat_chart_mirror, tests/upstream/mirror.py), with its
metadata-catalogue 1.15.0 dependency built from the mirrored nerc-ceh chart repository served on 127.0.0.1.
What the chart makes is read from the chart itself, rendered by helm here with each release's values.
Stand-ins, labelled as such: a StorageClass without provisioner and static PersistentVolumes in place of an NFS
class, IngressClasses and an ingress controller namespace without a controller. NetworkPolicies are stored and
checked, not enforced: the test cluster has no CNI.
"""

from __future__ import annotations

import datetime
import json
import math
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
ROLE_DEFAULTS = yaml.safe_load((REPO / "roles" / "datalab" / "defaults" / "main.yml").read_text())
NERC_CEH = "https://nerc-ceh.github.io/charts"
PROD = "dlit-prod"
TEST = "dlit-test"
RELEASES = ((PROD, "prod"), (TEST, "test"))
INGRESS_NS = "dlit-ingress"
NODE = "dlit-node"
CLASSES = ("dlit", "dlit-next")
STORAGE_CLASS = "dlit-rwx"
VOLUMES = ("dlit-pv-0", "dlit-pv-1")
OWNER_LABEL = "sciplat.k8s/chart-shared-object"
SMTP_PASSWORD = "dlit-smtp-password-7c1d"


def remove_test_objects(cluster):
    for namespace, release in RELEASES:
        helm_uninstall(cluster, release, namespace)
    kubectl(cluster, "delete", "namespace", PROD, TEST, INGRESS_NS, "dlit-refused", "dlit-refused-2", "--ignore-not-found",
            "--timeout=180s", check=False)
    kubectl(cluster, "delete", "clusterrole,clusterrolebinding", "-l", f"{OWNER_LABEL}=datalab", "--ignore-not-found",
            check=False)
    kubectl(cluster, "delete", "pv", *VOLUMES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "storageclass", STORAGE_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", *CLASSES, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, chart_mirror, tmp_path_factory):
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


@pytest.fixture(scope="module")
def prepared_chart(cluster, chart_mirror, tmp_path_factory):
    """The chart folder the role deploys (its pin, dependencies built), prepared by helm_release as the role does."""
    workdir = tmp_path_factory.mktemp("chart")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "prepare", "ansible.builtin.include_role": {"name": "sciplat.k8s.helm_release", "tasks_from": "source"},
         "vars": {"helm_release_name": "prod", "helm_release_namespace": PROD, "helm_release_chart_source": "git",
                  **{f"helm_release_chart_git_{key}": ROLE_DEFAULTS[f"datalab_chart_git_{key}"]
                     for key in ("repo", "commit", "subpath")},
                  "sciplat_chart_mirror": chart_mirror}},
        {"name": "record", "ansible.builtin.copy": {"content": "{{ __helm_release_chart.path }}",
                                                    "dest": str(workdir / "path"), "mode": "0600"}}]}]
    run_playbook(play, cluster.env, workdir=workdir)
    return Path((workdir / "path").read_text())


def helm_template(cluster, chart, name, namespace, values):
    done = subprocess.run([str(cluster.helm), "template", name, str(chart), "--namespace", namespace, "-f", "-"],
                          input=yaml.safe_dump(values), env=dict(os.environ, **cluster.env), capture_output=True,
                          text=True, check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def cluster_scoped_kinds(cluster):
    """(group, kind) of every cluster-scoped resource the API server serves."""
    lines = kubectl(cluster, "api-resources", "--namespaced=false", "--no-headers").stdout.splitlines()
    return {(line.split()[-3].rpartition("/")[0], line.split()[-1]) for line in lines}


def key(obj):
    return obj["apiVersion"].rpartition("/")[0], obj["kind"], obj["metadata"]["name"]


def self_signed(host):
    key_ = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key_.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False).sign(key_, hashes.SHA256()))
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key": key_.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()}


PROD_TLS = self_signed("datalab.dlit.example.org")
TEAMS = [{"name": "ops", "access": "admin", "users": ["olivia"]},
         {"name": "devs", "access": "operate", "environments": ["test"], "groups": ["dlit-developers"]}]


def inventory(workdir: Path, chart_mirror: dict, **overrides) -> Path:
    """An inventory shaped like inventories/omics_lab (prod, and test with its own domain), on the local connection,
    with the chart from the offline mirror."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "sciplat_chart_mirror": chart_mirror,
        "datalab_environments": [
            {"name": "prod", "namespace": PROD,
             "resource_quota": {"limits.cpu": "8", "limits.memory": "8Gi", "requests.cpu": "2", "pods": "20"},
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
        "datalab_helm_wait_timeout": "3m",
    }
    variables.update(overrides)
    return write_inventory(workdir, variables, {"control_plane": ["dlit-master"]})


def run(cluster, workdir, hosts, *args, expect_rc=0):
    extra = {"datalab_email_password": SMTP_PASSWORD, "datalab_tls_certificates": {"prod": PROD_TLS}}
    return run_playbook(PLAYBOOK, cluster.env, *args, workdir=workdir, inventory=hosts, extra_vars=extra,
                        expect_rc=expect_rc)


def flat(text: str) -> str:
    return " ".join(text.split())


REFUSED = [{"name": "prod", "namespace": "dlit-refused"},
           {"name": "test", "namespace": "dlit-refused-2", "domain": "test.dlit.example.org"}]


@pytest.mark.parametrize("overrides, message", [
    ({"datalab_values": {"datalabVolume": "other"}},
     "Environment prod: datalabVolume must equal datalabName (the chart names the claim after datalabName"),
    # Distinct datalabName, one domain: the real chart's datalab-ingress routes catalogue.<domain> in both.
    ({"datalab_environments": [{"name": "prod", "namespace": "dlit-refused"},
                               {"name": "test", "namespace": "dlit-refused-2", "datalab_name": "testlab"}]},
     "The chart's Ingresses of two environments route the same host: catalogue.dlit.example.org (prod, test)."),
    ({"datalab_resource_quota": {"limits.cpu": "four"}},
     "quota and limit values must be Kubernetes quantities such as 4, 500m or 16Gi (got four)"),
    ({"datalab_teams": [{"name": "ops", "access": "root", "users": ["olivia"]}]},
     "Team ops: access must be one of view, operate, admin (datalab_access_levels)."),
    ({"datalab_values": {"useAppArmor": "false"}}, 'give real YAML booleans (true/false, unquoted): useAppArmor="false"'),
    # A typo in the user's values: refused by helm_release's values check before the namespaces are made.
    ({"datalab_values": {"datalabApp": {"replica": 2}}},
     "datalabApp.replica is not read by the chart (did you mean datalabApp.replicas or datalabApi.replicas?) (from datalab_values)"),
    ({"datalab_storage_class": "dlit-missing"}, "Not in the cluster: StorageClass dlit-missing: Mongo's claim needs a ReadWriteMany class"),
    # A chart the real one's values cannot render: helm's own message, before any change.
    ({"datalab_values": {"notifications": {"email": None}}}, "helm could not render chart"),
])
def test_refused_before_any_change(cluster, chart_mirror, tmp_path, overrides, message):
    overrides.setdefault("datalab_environments", REFUSED)
    result = run(cluster, tmp_path, inventory(tmp_path, chart_mirror, **overrides), expect_rc=2)
    assert flat(message) in flat(result.output), result.output[-3000:]
    assert result.changed == 0
    assert get(cluster, "namespace", "dlit-refused") is None


def test_a_pin_the_repository_lacks_is_refused_before_any_change(cluster, chart_mirror, tmp_path):
    result = run(cluster, tmp_path, inventory(tmp_path, chart_mirror, datalab_environments=REFUSED,
                                              datalab_chart_git_commit="0" * 40), expect_rc=2)
    assert "Check datalab_chart_git_commit (a full commit of that repository)" in flat(result.output), result.output[-3000:]
    # The one change is helm_release removing its own failed clone from the cache; the cluster is untouched.
    assert "Remove the failed clone" in result.output and result.changed == 1
    assert get(cluster, "namespace", "dlit-refused") is None


def test_a_dependency_that_cannot_be_built_is_refused_before_any_change(cluster, chart_mirror, tmp_path):
    # Offline and no mirror of the chart repository of metadata-catalogue: helm dependency build cannot run.
    no_repository = {**chart_mirror, "chart_repos": {}}
    result = run(cluster, tmp_path, inventory(tmp_path, no_repository, datalab_environments=REFUSED), expect_rc=2)
    out = flat(result.output)
    assert f"could not read the chart repository index {NERC_CEH}/index.yaml" in out, out[-3000:]
    assert "a site without access to them maps them in sciplat_chart_mirror.chart_repos" in out
    assert result.changed == 0
    assert get(cluster, "namespace", "dlit-refused") is None


def snapshot(cluster):
    versions = {}
    for namespace, dummy in RELEASES:
        for name in ("mongo-password-secret", "auth-signing-key", "email-notification-secret", "tls-secret"):
            versions[f"{namespace}/{name}"] = get(cluster, "secret", name, "-n", namespace)["metadata"]["resourceVersion"]
        for kind in ("limitrange", "networkpolicy", "role", "rolebinding"):
            for item in get(cluster, kind, "-n", namespace)["items"]:
                versions[f"{namespace}/{kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        # The quota controller keeps writing the usage in its status.
        quota = get(cluster, "resourcequota", "datalab-environment", "-n", namespace)
        versions[f"{namespace}/resourcequota"] = (quota["metadata"].get("labels"), quota["spec"])
    for item in get(cluster, "clusterrole,clusterrolebinding", "-l", f"{OWNER_LABEL}=datalab")["items"]:
        versions[f"{item['kind']}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    versions["revisions"] = {name: helm_json(cluster, "status", name, "-n", ns)["version"] for ns, name in RELEASES}
    return versions


@pytest.fixture(scope="module")
def deployed(cluster, chart_mirror, prepared_chart, tmp_path_factory):
    """prod first installed by hand without the role, as the role's earlier version left it (its release owns the
    chart's fixed-name cluster objects, which made the test release fail); then the role run."""
    values = {"namespace": PROD, "environment": "prod", "datalabName": "datalab", "datalabVolume": "datalab",
              "domain": "dlit.example.org", "useAppArmor": False, "metadata-catalogue": {"enabled": False},
              "internalVolumeStorageClass": STORAGE_CLASS, "internalVolumeSize": "10Gi"}
    subprocess.run([str(cluster.helm), "install", "prod", str(prepared_chart), "-n", PROD, "--create-namespace", "-f", "-"],
                   input=yaml.safe_dump(values), env=dict(os.environ, **cluster.env), capture_output=True, text=True,
                   check=True)
    owned_by_hand = [o for o in get(cluster, "clusterrole,clusterrolebinding")["items"]
                     if (o["metadata"].get("annotations") or {}).get("meta.helm.sh/release-name") == "prod"]
    workdir = tmp_path_factory.mktemp("deploy")
    first = run(cluster, workdir, inventory(workdir, chart_mirror), "-vvv", "--diff")
    return {"first": first, "versions": snapshot(cluster), "workdir": workdir, "owned_by_hand": owned_by_hand}


@pytest.fixture(scope="module")
def rendered(cluster, deployed, prepared_chart):
    """Per release: what the chart renders with the release's values, as itself and under another release name."""
    found = {}
    for namespace, release in RELEASES:
        values = helm_json(cluster, "get", "values", release, "-n", namespace)
        found[release] = {"objects": helm_template(cluster, prepared_chart, release, namespace, values),
                          "probe": helm_template(cluster, prepared_chart, "dlit-probe", "dlit-probe", values),
                          "values": values}
    return found


@pytest.fixture(scope="module")
def fixed_name(cluster, rendered):
    """The cluster-scoped objects the chart renders under the same name in every release (this test's own reading
    of the rendered chart, against the API server's list of cluster-scoped kinds)."""
    scoped = cluster_scoped_kinds(cluster)
    found = {}
    for release, parts in rendered.items():
        probe = {key(o) for o in parts["probe"]}
        found[release] = [o for o in parts["objects"] if key(o)[:2] in scoped and key(o) in probe]
    return found


def manifest(cluster, release, namespace):
    done = subprocess.run([str(cluster.helm), "get", "manifest", release, "-n", namespace], env=dict(os.environ, **cluster.env),
                          capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_both_environments_run_what_the_real_chart_renders(cluster, deployed, rendered, fixed_name):
    assert deployed["first"].changed > 0
    for namespace, release in RELEASES:
        assert helm_json(cluster, "status", release, "-n", namespace)["info"]["status"] == "deployed"
        expected = [o for o in rendered[release]["objects"] if o not in fixed_name[release]]
        assert sorted(key(o) for o in manifest(cluster, release, namespace)) == sorted(key(o) for o in expected)
        assert {o["metadata"].get("namespace") for o in expected} == {namespace}
        for deployment in (o for o in expected if o["kind"] == "Deployment"):
            live = get(cluster, "deployment", deployment["metadata"]["name"], "-n", namespace)
            assert live["status"].get("readyReplicas") == deployment["spec"]["replicas"], deployment["metadata"]["name"]
            selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
            pods = get(cluster, "pods", "-n", namespace, "-l", selector)["items"]
            assert len(pods) == deployment["spec"]["replicas"] and all(p["status"]["phase"] == "Running" for p in pods)
            # useAppArmor false: no localhost/docker-default profile, which microk8s nodes do not load.
            assert not any("apparmor" in k for p in pods for k in (p["metadata"].get("annotations") or {}))
        for claim in (o for o in expected if o["kind"] == "PersistentVolumeClaim"):
            assert get(cluster, "pvc", claim["metadata"]["name"], "-n", namespace)["status"]["phase"] == "Bound"
        ingresses = [o for o in expected if o["kind"] == "Ingress"]
        assert {i["spec"]["ingressClassName"] for i in ingresses} == {"nginx"}, "the chart hard-codes nginx"
        for ingress in ingresses:
            assert get(cluster, "ingress", ingress["metadata"]["name"], "-n", namespace)["spec"]["ingressClassName"] == CLASSES[0]
        assert get(cluster, "cronjob", "expire-notebooks", "-n", namespace) is not None
    assert len(get(cluster, "pods", "-n", TEST, "-l", "app=datalab-app")["items"]) == 2
    values = rendered["test"]["values"]
    assert values["namespace"] == TEST and values["environment"] == "test"
    assert values["datalabName"] == values["datalabVolume"] == "datalab"
    assert values["domain"] == "test.dlit.example.org"
    assert values["useAppArmor"] is False and values["metadata-catalogue"] == {"enabled": False}
    assert values["internalVolumeStorageClass"] == STORAGE_CLASS


def test_fixed_name_cluster_objects_are_made_once_by_the_role(cluster, deployed, fixed_name):
    names = {(o["kind"], o["metadata"]["name"]) for objects in fixed_name.values() for o in objects}
    # The object the role's former hand list missed, which made the second environment fail.
    assert ("ClusterRole", "compute-submission-role") in names
    assert {(o["kind"], o["metadata"]["name"]) for o in deployed["owned_by_hand"]} == names
    made = get(cluster, "clusterrole,clusterrolebinding", "-l", f"{OWNER_LABEL}=datalab")["items"]
    shared = [o for o in fixed_name["prod"] if o["kind"] != "ClusterRoleBinding"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in made) == sorted((o["kind"], o["metadata"]["name"]) for o in shared)
    for obj in shared:
        assert obj in fixed_name["test"], "both releases render it alike"
        live = get(cluster, obj["kind"].lower(), obj["metadata"]["name"])
        assert live["rules"] == obj["rules"]
        assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sciplat.k8s"
        # Made by the role, no longer owned by the release installed by hand: no upgrade or uninstall removes it.
        assert not any(k.startswith("meta.helm.sh/") for k in live["metadata"].get("annotations") or {})
    for namespace, release in RELEASES:
        assert not [o for o in manifest(cluster, release, namespace) if "namespace" not in o["metadata"]]
        for binding in (o for o in fixed_name[release] if o["kind"] == "ClusterRoleBinding"):
            # Granted in the environment's own namespace only (datalab_infrastructure_scope: namespace).
            assert get(cluster, "clusterrolebinding", binding["metadata"]["name"]) is None
            live = get(cluster, "rolebinding", binding["metadata"]["name"], "-n", namespace)
            assert live["roleRef"] == binding["roleRef"] and live["subjects"] == binding["subjects"]
            assert {s["namespace"] for s in live["subjects"]} == {namespace}
    for namespace, other in ((PROD, TEST), (TEST, PROD)):
        account = f"system:serviceaccount:{namespace}:infrastructure-service-account"
        assert can_i(cluster, account, "delete", "pods", namespace)
        assert can_i(cluster, account, "create", "secrets", namespace)
        assert not can_i(cluster, account, "get", "secrets", other)


def test_quota_and_limits_enforced(cluster, deployed):
    def pod(name, *cpu_limits):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": PROD},
                "spec": {"containers": [{"name": f"c{i}", "image": "busybox",
                                         **({"resources": {"limits": {"cpu": cpu}}} if cpu else {})}
                                        for i, cpu in enumerate(cpu_limits)]}}

    over_max = server_dry_run(cluster, pod("over-max", "2"))
    assert over_max.returncode != 0 and "maximum cpu usage per Container is 1, but limit is 2" in over_max.stderr
    # Containers at the 1 CPU maximum, one more than the quota has left after the chart's pods.
    quota = get(cluster, "resourcequota", "datalab-environment", "-n", PROD)["status"]

    def cpus(text):
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    left = cpus(quota["hard"]["limits.cpu"]) - cpus(quota["used"]["limits.cpu"])
    assert 0 < left < 8, "the chart's pods hold part of limits.cpu"
    over_quota = server_dry_run(cluster, pod("over-quota", *["1"] * (math.floor(left) + 1)))
    assert over_quota.returncode != 0 and "exceeded quota: datalab-environment" in over_quota.stderr
    assert "limits.cpu=8" in over_quota.stderr
    created = json.loads(kubectl(cluster, "create", "--dry-run=server", "-o", "json", "-f", "-",
                                 stdin=json.dumps(pod("defaults", None))).stdout)
    assert created["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "512Mi"},
                                                             "requests": {"cpu": "50m", "memory": "64Mi"}}
    assert get(cluster, "resourcequota", "datalab-environment", "-n", TEST)["spec"]["hard"]["limits.cpu"] == "32"


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
    for namespace, dummy in RELEASES:
        policy = get(cluster, "networkpolicy", "datalab-environment-isolation", "-n", namespace)["spec"]
        assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress"]
        assert policy["ingress"][0] == {"from": [{"podSelector": {}}]}
        selector = policy["ingress"][1]["from"][0]["namespaceSelector"]["matchExpressions"][0]
        assert selector == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": [INGRESS_NS]}


def secrets_read(objects):
    """Secret name -> the keys the rendered objects read from it (None: mounted whole)."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if ref:
                found.setdefault(ref["name"], set()).add(ref["key"])
            if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
                found.setdefault(node["secret"]["secretName"], set())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for obj in objects:
        walk(obj)
        for tls in obj["spec"].get("tls", []) if obj["kind"] == "Ingress" else []:
            found.setdefault(tls["secretName"], set()).update({"tls.crt", "tls.key"})
    return found


def test_secrets(cluster, deployed, rendered):
    values = {}
    for namespace, release in RELEASES:
        read = secrets_read(rendered[release]["objects"])
        assert set(read) == {"mongo-password-secret", "auth-signing-key", "email-notification-secret", "tls-secret"}
        for name, keys in read.items():
            assert keys <= set(get(cluster, "secret", name, "-n", namespace)["data"]), name
        mongo = decoded(get(cluster, "secret", "mongo-password-secret", "-n", namespace))["secret"]
        assert len(mongo) == 32 and mongo.isalnum()
        # Mounted whole at /etc/keys; the chart's auth service reads /etc/keys/public and /etc/keys/private.
        keys = decoded(get(cluster, "secret", "auth-signing-key", "-n", namespace))
        private = serialization.load_pem_private_key(keys["private"].encode(), password=None)
        public = serialization.load_pem_public_key(keys["public"].encode())
        assert public.public_numbers() == private.public_key().public_numbers()
        assert decoded(get(cluster, "secret", "email-notification-secret", "-n", namespace)) == {
            "username": "dlit-mailer", "password": SMTP_PASSWORD}
        values[namespace] = (mongo, keys["private"])
    assert values[PROD] != values[TEST]
    prod_tls = get(cluster, "secret", "tls-secret", "-n", PROD)
    assert prod_tls["type"] == "kubernetes.io/tls"
    assert decoded(prod_tls) == {"tls.crt": PROD_TLS["certificate"], "tls.key": PROD_TLS["private_key"]}
    test_tls = decoded(get(cluster, "secret", "tls-secret", "-n", TEST))
    certificate = x509.load_pem_x509_certificate(test_tls["tls.crt"].encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    hosts = [h for i in rendered["test"]["objects"] if i["kind"] == "Ingress"
             for h in [r["host"] for r in i["spec"]["rules"]] + [h for t in i["spec"]["tls"] for h in t["hosts"]]]
    assert sorted(names) == sorted(set(hosts))
    assert "catalogue.test.dlit.example.org" in names
    output = deployed["first"].output
    for secret in [SMTP_PASSWORD, PROD_TLS["private_key"].splitlines()[1], test_tls["tls.key"].splitlines()[1],
                   *(mongo for mongo, dummy in values.values())]:
        assert secret not in output, "a secret reached the -vvv/--diff output"


def test_rerun_changes_nothing(cluster, chart_mirror, deployed):
    again = run(cluster, deployed["workdir"], inventory(deployed["workdir"], chart_mirror))
    assert again.changed == 0, again.output[-4000:]
    assert snapshot(cluster) == deployed["versions"]


def test_check_mode_on_the_converged_cluster_reports_no_change(cluster, chart_mirror, deployed, tmp_path):
    checked = run(cluster, tmp_path, inventory(tmp_path, chart_mirror), "--check")
    assert checked.changed == 0, checked.output[-4000:]
    assert snapshot(cluster) == deployed["versions"]


def test_team_removed_scope_and_class_changed(cluster, chart_mirror, deployed, fixed_name, tmp_path):
    result = run(cluster, tmp_path, inventory(tmp_path, chart_mirror, datalab_teams=TEAMS[:1],
                                              datalab_infrastructure_scope="cluster", datalab_ingress_class=CLASSES[1]))
    assert result.changed > 0
    assert get(cluster, "role", "datalab-team-devs", "-n", TEST) is None
    assert get(cluster, "rolebinding", "datalab-team-devs", "-n", TEST) is None
    assert not can_i(cluster, "dan", "delete", "pods", TEST, ["dlit-developers"])
    assert can_i(cluster, "olivia", "get", "secrets", TEST)
    for namespace, release in RELEASES:
        for binding in (o for o in fixed_name[release] if o["kind"] == "ClusterRoleBinding"):
            name = binding["metadata"]["name"]
            assert get(cluster, "rolebinding", name, "-n", namespace) is None
            live = get(cluster, "clusterrolebinding", f"{name}-{namespace}")
            assert live["subjects"] == binding["subjects"] and live["roleRef"] == binding["roleRef"]
            assert live["metadata"]["labels"][OWNER_LABEL] == "datalab"
        # A changed post-renderer upgrades the release: the Ingresses carry the new class.
        assert {i["spec"]["ingressClassName"] for i in get(cluster, "ingress", "-n", namespace)["items"]} == {CLASSES[1]}
    assert can_i(cluster, f"system:serviceaccount:{PROD}:infrastructure-service-account", "get", "secrets", TEST)
    after = snapshot(cluster)
    assert after["revisions"] == {name: revision + 1 for name, revision in deployed["versions"]["revisions"].items()}
    assert {k: v for k, v in after.items() if k.endswith("-secret") or k.endswith("-key")} == \
        {k: v for k, v in deployed["versions"].items() if k.endswith("-secret") or k.endswith("-key")}
