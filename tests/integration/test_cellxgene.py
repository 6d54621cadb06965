"""Role cellxgene through playbooks/cellxgene.yml against the real test cluster.

Real parts: kube-apiserver 1.36 (CRD schema validation, RBAC authorisation of impersonated and token-bearing
ServiceAccounts, the token controller), kwok nodes (Pods become Running without containers), ansible-playbook
and the sciplat.k8s modules. Stand-ins, labelled as such: the ingress controller is one kwok pod with
microk8s' label in a namespace of this module (no nginx runs, so the metrics are never scraped here); the
operator, oauth2-proxy and instance images are names only (no container runs, so the operator never acts on
the instances: the tests check what the API server stores and allows).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from k8s_support import apply, can_i, decoded, get, kubectl, server_dry_run
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "cellxgene.yml"
NS = "cxgit"
NS_TESTING = "cxgit-testing"
NS_AUTH = "cxgit-auth"
NS_METRICS = "cxgit-metrics"
NS_INGRESS = "cxgit-ingress"
NODE = "cxgit-node"
INGRESS_CLASS = "cxgit"
OPERATOR = f"system:serviceaccount:{NS}:sui-operator"
PORTAL = f"system:serviceaccount:{NS}:omicsdm"
S3_SECRET_KEY = "cxgit-S3-secret-0123456789abcdef"
S3_ACCESS_KEY = "CXGITACCESSKEY42"
CRD = "singleuserinstances.cnag.eu"
FACTS = yaml.safe_load((REPO / "tests" / "fixtures" / "charts" / "cellxgene.yml").read_text())


def remove_test_objects(cluster):
    kubectl(cluster, "delete", "namespace", NS, NS_TESTING, NS_AUTH, NS_METRICS, NS_INGRESS, "cxgit-refused",
            "--ignore-not-found", "--timeout=180s", check=False)
    kubectl(cluster, "delete", "crd", CRD, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "clusterrole,clusterrolebinding", f"sui-operator-{NS}", "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", INGRESS_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster):
    """A kwok node, this module's IngressClass, and a STAND-IN microk8s ingress controller pod."""
    remove_test_objects(k8s_cluster)
    apply(k8s_cluster,
          {"apiVersion": "v1", "kind": "Node", "metadata": {
              "name": NODE, "labels": {"kubernetes.io/hostname": NODE}, "annotations": {"kwok.x-k8s.io/node": "fake"}}},
          {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": INGRESS_CLASS},
           "spec": {"controller": "k8s.io/ingress-nginx"}},
          {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS_INGRESS}})
    kubectl(k8s_cluster, "wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=60s")
    container = {"name": "nginx-ingress-microk8s", "image": "standin/ingress", "ports": [{"containerPort": 10254}]}
    apply(k8s_cluster, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "nginx-ingress-microk8s-controller-standin", "namespace": NS_INGRESS,
        "labels": {"name": "nginx-ingress-microk8s"}}, "spec": {"nodeName": NODE, "containers": [container]}})
    kubectl(k8s_cluster, "wait", "--for=condition=Ready", "pod", "-n", NS_INGRESS, "--all", "--timeout=60s")
    yield k8s_cluster
    remove_test_objects(k8s_cluster)


def inventory(workdir: Path, users, **overrides) -> Path:
    """An inventory shaped like inventories/omics_lab, on the local connection and this module's names."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "cellxgene_namespace": NS,
        "cellxgene_instance_namespaces": [NS, NS_TESTING],
        "cellxgene_operator_watch_namespaces": [NS],
        "cellxgene_portal_namespace": NS,
        "cellxgene_oauth2_proxy_namespace": NS_AUTH,
        "cellxgene_metrics_namespace": NS_METRICS,
        "cellxgene_ingress_controller_namespace": NS_INGRESS,
        "cellxgene_ingress_class": INGRESS_CLASS,
        "cellxgene_operator_image": "registry.example.org/cxg_on_k8/sui_operator:v1",
        "cellxgene_operator_tick": 30,
        "cellxgene_keycloak_url": "https://keycloak.example.org/",
        "cellxgene_keycloak_realm": "omics",
        "cellxgene_host": "cellxgene.example.org",
        "cellxgene_s3_endpoint_url": "https://s3.example.org",
        "cellxgene_s3_bucket": "omics-data",
        "cellxgene_instance_image": "registry.example.org/cxg_on_k8/cellxgene:1.1.2",
        "cellxgene_instance_aws_cli_image": "registry.example.org/cxg_on_k8/aws_cli:xsmall",
        "cellxgene_users": users,
    }
    variables.update(overrides)
    return write_inventory(workdir, variables, {"control_plane": ["cxgit-master"]})


def run(cluster, workdir, hosts, *args, expect_rc=0):
    # S3 credentials come as extra vars, as from a vault or an AWX credential.
    extra = {"cellxgene_s3_access_key_id": S3_ACCESS_KEY, "cellxgene_s3_secret_access_key": S3_SECRET_KEY}
    return run_playbook(PLAYBOOK, cluster.env, *args, workdir=workdir, inventory=hosts, extra_vars=extra,
                        expect_rc=expect_rc)


USERS = [{"name": "alice"}, {"name": "bob", "lifespan": 600, "dataset": "pbmc3k.h5ad"}, {"name": "carol", "state": "absent"}]


@pytest.mark.parametrize("case, users, overrides, message", [
    ("user names Kubernetes refuses", [{"name": "Alice_Smith"}, {"name": "bob."}, {"name": "ok"}], {},
     'these user names cannot name a Kubernetes object (instance <cellxgene_instance_prefix>-<name>: lower-case letters, '
     'digits and "-", a letter or digit at both ends, at most 53 characters): "Alice_Smith", "bob."'),
    ("no Keycloak URL", [{"name": "alice"}], {"cellxgene_keycloak_url": ""}, "cellxgene_keycloak_url is empty"),
    ("Keycloak URL with the realm", [{"name": "alice"}], {"cellxgene_keycloak_url": "https://kc.example.org/realms/omics"},
     "cellxgene_keycloak_url must be an http(s) URL without query and without /realms/..."),
    ("bucket named like an IP address", [{"name": "alice"}], {"cellxgene_s3_bucket": "192.168.1.10"},
     'cellxgene_s3_bucket "192.168.1.10" is not a valid S3 bucket name'),
    ("a user's bucket with capitals", [{"name": "alice", "s3_bucket": "Omics_Data"}, {"name": "bob", "s3_bucket": "a..b"}], {},
     'User alice: "Omics_Data" is not a valid S3 bucket name'),
    ("lifespan of a day", [{"name": "alice", "lifespan": 86400}], {}, "User alice: lifespan must be a whole number of seconds from 1 to 86399"),
    ("two problems at once", [{"name": "alice", "lifespan": 0}, {"name": "bob", "dataset": "../other/data.h5ad"}], {},
     "User alice: lifespan must be a whole number of seconds from 1 to 86399 (got 0); the operator ages instances without "
     "whole days, so a day or more would never end. User bob: dataset must be a file in the user's S3 folder"),
    ("one name inside another", [{"name": "ann"}, {"name": "ann-marie"}], {},
     "Users ann and ann-marie: the operator finds an instance's traffic by looking for its name anywhere in the metrics"),
])
def test_refused_before_any_change(cluster, tmp_path, case, users, overrides, message):
    hosts = inventory(tmp_path, users, cellxgene_namespace="cxgit-refused", cellxgene_instance_namespaces=["cxgit-refused"],
                      cellxgene_operator_watch_namespaces=["cxgit-refused"], **overrides)
    result = run(cluster, tmp_path, hosts, expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert result.changed == 0
    assert get(cluster, "namespace", "cxgit-refused") is None


def snapshot(cluster):
    """What must not change on a rerun (resourceVersions, or specs where controllers write status), and the secrets."""
    oauth2 = get(cluster, "secret", "oauth2-proxy", "-n", NS_AUTH)
    versions = {"oauth2-proxy": oauth2["metadata"]["resourceVersion"]}
    for namespace in (NS, NS_TESTING):
        versions[f"aws/{namespace}"] = get(cluster, "secret", "aws-cred-secret", "-n", namespace)["metadata"]["resourceVersion"]
    for item in get(cluster, "singleuserinstances", "-n", NS)["items"]:
        versions[f"sui/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    # Controllers keep writing the status of these: their spec and generation show whether the role wrote.
    for kind, namespace, name in (("deployment", NS, "sui-operator"), ("deployment", NS_AUTH, "oauth2-proxy"),
                                  ("crd", None, CRD), ("service", NS_METRICS, "metrics")):
        found = get(cluster, kind, name, *(["-n", namespace] if namespace else []))
        versions[f"{kind}/{name}"] = (found["metadata"].get("generation"), found["metadata"].get("labels"), found["spec"])
    return versions, decoded(oauth2)


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    first = run(cluster, workdir, inventory(workdir, USERS), "-vvv", "--diff")
    versions, secrets = snapshot(cluster)
    return {"first": first, "versions": versions, "secrets": secrets, "workdir": workdir}


def test_install(cluster, deployed):
    assert deployed["first"].changed > 0
    crd = get(cluster, "crd", CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    # Names and required fields as the operator and the portal know them (tests/fixtures/charts/cellxgene.yml).
    facts = FACTS["crd"]
    names = crd["spec"]["names"]
    assert (crd["spec"]["group"], crd["spec"]["scope"], names["kind"], names["plural"], names["singular"], names["shortNames"]) == (
        facts["group"], facts["scope"], facts["kind"], facts["plural"], facts["singular"], facts["shortNames"])
    version = crd["spec"]["versions"][0]
    assert version["name"] == facts["version"] and version["served"] and version["storage"]
    assert version["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] == facts["spec_required"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Lifespan", "Age"]

    operator = get(cluster, "deployment", "sui-operator", "-n", NS)
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.org/cxg_on_k8/sui_operator:v1"
    assert container["command"] == ["kopf", "run", f"--namespace={NS}", "/src/operator_single-user-instances.py", "--verbose"]
    assert {e["name"]: e["value"] for e in container["env"]} == {"K8_SUI_OP_TICK": "30", "K8_SUI_OP_TO_UNVIS": "300"}
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "sui-operator"

    # The S3 credentials, as given, in both instance namespaces, under the keys the instances read.
    assert [s["keys"] for s in FACTS["secrets"] if s["name"] == "aws-cred-secret"] == [
        ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]]
    for namespace in (NS, NS_TESTING):
        assert decoded(get(cluster, "secret", "aws-cred-secret", "-n", namespace)) == {
            "AWS_ENDPOINT_URL": "https://s3.example.org", "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}


def test_secrets_never_reach_the_output(deployed):
    output = deployed["first"].output
    for value in [S3_SECRET_KEY, S3_ACCESS_KEY, *deployed["secrets"].values()]:
        assert value not in output, "a secret reached the -vvv/--diff output"


def test_oauth2_proxy_against_keycloak(cluster, deployed):
    secrets = deployed["secrets"]
    assert set(secrets) == {"client-secret", "cookie-secret"}
    # 32 characters: a 32-byte AES key for oauth2-proxy's cookie cipher.
    assert all(len(value) == 32 and value.isalnum() for value in secrets.values())
    assert secrets["client-secret"] != secrets["cookie-secret"]
    proxy = get(cluster, "deployment", "oauth2-proxy", "-n", NS_AUTH)["spec"]["template"]["spec"]["containers"][0]
    assert "--oidc-issuer-url=https://keycloak.example.org/realms/omics" in proxy["args"]
    assert "--provider=keycloak-oidc" in proxy["args"] and "--client-id=cellxgene" in proxy["args"]
    assert not any(value in " ".join(proxy["args"]) for value in secrets.values())
    assert {e["name"]: e["valueFrom"]["secretKeyRef"] for e in proxy["env"]} == {
        "OAUTH2_PROXY_CLIENT_SECRET": {"name": "oauth2-proxy", "key": "client-secret"},
        "OAUTH2_PROXY_COOKIE_SECRET": {"name": "oauth2-proxy", "key": "cookie-secret"}}
    ingress = get(cluster, "ingress", "oauth2-proxy", "-n", NS_AUTH)
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["spec"]["rules"][0]["host"] == "cellxgene.example.org"


def test_metrics_reach_the_ingress_controller(cluster, deployed):
    alias = get(cluster, "service", "metrics", "-n", NS_METRICS)
    assert alias["spec"]["type"] == "ExternalName"
    assert alias["spec"]["externalName"] == f"sciplat-cellxgene-metrics.{NS_INGRESS}.svc.cluster.local"
    target = get(cluster, "service", "sciplat-cellxgene-metrics", "-n", NS_INGRESS)
    assert target["spec"]["ports"][0]["port"] == 80 and target["spec"]["ports"][0]["targetPort"] == 10254
    # The endpoint controller found the (stand-in) controller pod through the selector.
    pod_ip = get(cluster, "pod", "nginx-ingress-microk8s-controller-standin", "-n", NS_INGRESS)["status"]["podIP"]
    slices = get(cluster, "endpointslices", "-n", NS_INGRESS, "-l", "kubernetes.io/service-name=sciplat-cellxgene-metrics")
    addresses = [a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]]
    ports = [p["port"] for s in slices["items"] for p in s.get("ports") or []]
    assert addresses == [pod_ip] and ports == [10254]


@pytest.mark.parametrize("who, verb, resource, namespace, allowed", [
    (OPERATOR, "create", "deployments.apps", NS, True),
    (OPERATOR, "create", "services", NS, True),
    (OPERATOR, "create", "ingresses.networking.k8s.io", NS, True),
    (OPERATOR, "create", "events", NS, True),
    (OPERATOR, "patch", "singleuserinstances.cnag.eu", NS, True),
    (OPERATOR, "delete", "singleuserinstances.cnag.eu", NS, True),
    (OPERATOR, "watch", "singleuserinstances.cnag.eu", NS, True),
    (OPERATOR, "list", "namespaces", None, True),
    (OPERATOR, "watch", "customresourcedefinitions.apiextensions.k8s.io", None, True),
    (OPERATOR, "delete", "deployments.apps", NS, False),
    (OPERATOR, "update", "deployments.apps", NS, False),
    (OPERATOR, "create", "singleuserinstances.cnag.eu", NS, False),
    (OPERATOR, "get", "secrets", NS, False),
    (OPERATOR, "create", "deployments.apps", NS_TESTING, False),
    (OPERATOR, "create", "deployments.apps", "default", False),
    (OPERATOR, "delete", "namespaces", None, False),
    (OPERATOR, "create", "customresourcedefinitions.apiextensions.k8s.io", None, False),
    (PORTAL, "create", "singleuserinstances.cnag.eu", NS, True),
    (PORTAL, "delete", "singleuserinstances.cnag.eu", NS_TESTING, True),
    (PORTAL, "list", "singleuserinstances.cnag.eu", NS, True),
    (PORTAL, "patch", "singleuserinstances.cnag.eu", NS, False),
    (PORTAL, "create", "singleuserinstances.cnag.eu", "default", False),
    (PORTAL, "create", "deployments.apps", NS, False),
    (PORTAL, "get", "secrets", NS, False),
])
def test_least_privilege(cluster, deployed, who, verb, resource, namespace, allowed):
    assert can_i(cluster, who, verb, resource, namespace) is allowed


def portal_kubectl(cluster, token, *args, stdin=None):
    """kubectl authenticated by the portal's token alone (no kubeconfig credentials)."""
    return subprocess.run([str(cluster.kubectl), "--kubeconfig=/dev/null", f"--server={cluster.server}",
                           f"--certificate-authority={cluster.ca_cert}", f"--token={token}", *args],
                          env=dict(os.environ, **cluster.env), input=stdin, capture_output=True, text=True, check=False)


def test_portal_token_creates_instances_only(cluster, deployed):
    token = decoded(get(cluster, "secret", "omicsdm-token", "-n", NS))["token"]
    review = json.loads(portal_kubectl(cluster, token, "auth", "whoami", "-o", "json").stdout)
    assert review["status"]["userInfo"]["username"] == PORTAL
    instance = copy.deepcopy(get(cluster, "singleuserinstance", "cellxgene-alice", "-n", NS))
    instance["metadata"] = {"name": "cellxgene-portal", "namespace": NS_TESTING}
    created = portal_kubectl(cluster, token, "create", "-f", "-", stdin=json.dumps(instance))
    assert created.returncode == 0, created.stderr
    denied = portal_kubectl(cluster, token, "create", "deployment", "x", "--image=x", "-n", NS_TESTING)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    removed = portal_kubectl(cluster, token, "delete", "singleuserinstance", "cellxgene-portal", "-n", NS_TESTING)
    assert removed.returncode == 0, removed.stderr


def test_instances_from_the_inventory(cluster, deployed):
    names = sorted(i["metadata"]["name"] for i in get(cluster, "singleuserinstances", "-n", NS)["items"])
    assert names == ["cellxgene-alice", "cellxgene-bob"]
    bob = get(cluster, "sui", "cellxgene-bob", "-n", NS)["spec"]
    assert bob["lifespan"] == 600
    pod = bob["deployment"]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"] == ["aws", "s3", "sync", "s3://omics-data/cxg_on_k8/bob/", "/data/"]
    assert "/data/pbmc3k.h5ad" in pod["containers"][0]["args"]
    assert bob["service"]["spec"]["selector"] == {"instance": "cellxgene-bob"}
    ingress = bob["ingress"]
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"] == (
        f"http://oauth2-proxy.{NS_AUTH}.svc.cluster.local:8091/oauth2/auth")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/cellxgene-bob(/|$)(.*)"


def sui(name, **spec_changes):
    base = {"apiVersion": "cnag.eu/v1", "kind": "SingleUserInstance", "metadata": {"name": name, "namespace": NS_TESTING},
            "spec": {"lifespan": 60,
                     "deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                                    "spec": {"selector": {"matchLabels": {"instance": name}},
                                             "template": {"metadata": {"labels": {"instance": name}},
                                                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
                     "service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                                 "spec": {"selector": {"instance": name}, "ports": [{"port": 80}]}},
                     "ingress": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
                                 "spec": {"rules": [{"http": {"paths": []}}]}}}}
    for path, value in spec_changes.items():
        node = base["spec"]
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return base


@pytest.mark.parametrize("changes, message", [
    ({"lifespan": None}, 'spec.lifespan: Required value'),
    ({"lifespan": "an hour"}, 'spec.lifespan: Invalid value: "string": spec.lifespan in body must be of type integer'),
    ({"lifespan": 0}, "spec.lifespan: Invalid value: 0: spec.lifespan in body should be greater than or equal to 1"),
    ({"ingress": None}, "spec.ingress: Required value"),
    ({"deployment__kind": "StatefulSet"}, 'spec.deployment.kind: Unsupported value: "StatefulSet"'),
    ({"deployment__metadata": {"name": "Bad_Name"}}, "spec.deployment.metadata.name: Invalid value"),
    ({"deployment__spec__replicas": 2}, "spec.deployment.spec.replicas: Invalid value: 2"),
    ({"service__spec__ports": []}, "spec.service.spec.ports: Invalid value: 0: spec.service.spec.ports in body should have at least 1 items"),
    ({"service__spec__ports": [{"port": 70000}]}, "spec.service.spec.ports[0].port: Invalid value: 70000"),
    ({"service__spec__type": "NodePort"}, 'spec.service.spec.type: Unsupported value: "NodePort"'),
    ({"ingress__spec__rules": []}, "spec.ingress.spec.rules: Invalid value: 0"),
])
def test_crd_rejects_invalid_instances(cluster, deployed, changes, message):
    done = server_dry_run(cluster, sui("cellxgene-invalid", **changes))
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_crd_accepts_a_valid_instance(cluster, deployed):
    done = server_dry_run(cluster, sui("cellxgene-valid"))
    assert done.returncode == 0, done.stderr


def test_rerun_changes_nothing(cluster, deployed):
    again = run(cluster, deployed["workdir"], inventory(deployed["workdir"], USERS))
    assert again.changed == 0, again.output[-4000:]
    assert snapshot(cluster) == (deployed["versions"], deployed["secrets"])


def test_users_added_and_removed(cluster, deployed, tmp_path):
    users = [{"name": "alice"}, {"name": "bob", "state": "absent"}, {"name": "dave", "lifespan": 1200}]
    # Only the instances, as after a change in the portal's user list.
    result = run(cluster, tmp_path, inventory(tmp_path, users), "--tags", "cellxgene_instances")
    assert "Apply the operator's" not in result.output
    # One task changed, for two of its items.
    assert result.changed == 1, result.output[-4000:]
    changed_items = [line for line in result.output.splitlines() if line.startswith("changed:") and "(item=" in line]
    assert [line.split("(item=")[1] for line in changed_items] == [f"{NS}/cellxgene-bob absent)", f"{NS}/cellxgene-dave present)"]
    names = sorted(i["metadata"]["name"] for i in get(cluster, "singleuserinstances", "-n", NS)["items"])
    assert names == ["cellxgene-alice", "cellxgene-dave"]
    assert get(cluster, "sui", "cellxgene-alice", "-n", NS)["metadata"]["resourceVersion"] == \
        deployed["versions"]["sui/cellxgene-alice"]
    assert decoded(get(cluster, "secret", "oauth2-proxy", "-n", NS_AUTH)) == deployed["secrets"]
