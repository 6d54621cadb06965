"""Role scipion through playbooks/scipion.yml against the real test cluster, with the real charts.

Real parts: kube-apiserver 1.36 with kwok nodes (Pods become Running without containers), helm 3,
ansible-playbook, the sciplat.k8s roles and modules, the role sciplat.k8s.csi_onedata (its driver and its
StorageClass, under this module's own names), and the real charts: CERIT-SC/scipion-helm-charts at the role's
pin, scipion-docker/v2.0 and scipion-portal, cloned by the role through the offline mirror of SCIPLAT_UPSTREAM
(sciplat_chart_mirror, tests/upstream/mirror.py). The portal's RBAC is exercised for real: helm runs with the
token of the portal's ServiceAccount and installs an instance the way the portal does (scipo/web/rest.py).
Stand-ins, labelled as such: the FAKE Onezone of tests/fakes/onezone (tokens it issues and their scope), the
StorageClass nfs-csi with static hostPath PersistentVolumes (no NFS behind them), a kwok node that advertises
nvidia.com/gpu, an IngressClass of this module's own, and a TLS Secret with placeholder bytes for the portal.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    PROVIDER_ID,
    SPACE_ID,
)
from k8s_support import apply, can_i, decoded, get, helm_json, helm_uninstall, kubectl, kwok_node, static_volumes
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
import mirror  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = REPO / "playbooks" / "scipion.yml"
DEFAULTS = yaml.safe_load((REPO / "roles" / "scipion" / "defaults" / "main.yml").read_text())
NS_A = "scipionit-a"
NS_B = "scipionit-b"
NS_PORTAL = "scipionit-portal"
NS_CSI = "scipionit-csi"
ONEDATA_CLASS = "scipionit-onedata"
GPU_NODE = "scipionit-gpu"
GPU_LABEL = "sciplat-test/scipion-gpu"
INGRESS_CLASS = "scipionit"
PORTAL_HOST = "portal.scipion.example.org"
PORTAL_TLS = "scipionit-portal-tls"
PROJECT_SPACE_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90ch3c4d"
# Three ReadWriteMany claims per instance (one is kept on uninstall), one for the portal's database.
NFS_VOLUMES = [f"scipionit-nfs-{index}" for index in range(16)]
REFUSED_NAMESPACES = ("scipionit-refused", "scipionit-other", "scipionit-check")
OIDC_CLIENT_SECRET = secrets.token_hex(20)


def vnc_passwords(cluster, *instances):
    found = {}
    for namespace, name in instances:
        secret = get(cluster, "secret", f"sciplat-scipion-{name}-vnc", "-n", namespace)
        found[name] = (secret["metadata"]["resourceVersion"], decoded(secret)["password"])
    return found


def portal_secret(cluster):
    secret = get(cluster, "secret", "scipion-portal-secret", "-n", NS_PORTAL)
    return secret["metadata"]["resourceVersion"], decoded(secret)


def release_of(cluster, namespace, name):
    """The release as `helm list` shows it (status and chart name-version)."""
    return next(r for r in helm_json(cluster, "list", "-n", namespace, "--all") if r["name"] == name)


def revisions(cluster, *releases):
    return {name: helm_json(cluster, "status", name, "-n", namespace)["version"] for namespace, name in releases}


@pytest.fixture(scope="module")
def tokens(onezone):
    spaces = {SPACE_ID: {"name": "em-dataset", "supports": {PROVIDER_ID: {"readonly": False}}},
              PROJECT_SPACE_ID: {"name": "em-project", "supports": {PROVIDER_ID: {"readonly": False}}}}
    providers = {PROVIDER_ID: {"name": "fake-provider", "domain": PROVIDER_DOMAIN, "online": True, "version": "21.02.8"}}
    scope = {"spaces": spaces, "providers": providers}
    return {name: onezone.issue(scope=scope) for name in ("alice-dataset", "alice-project", "env")}


def remove_test_objects(cluster):
    for namespace, releases in ((NS_A, ("alice", "carol")), (NS_B, ("bob",)), (NS_PORTAL, ("scipion-portal", "frank"))):
        for release in releases:
            helm_uninstall(cluster, release, namespace)
    kubectl(cluster, "delete", "namespace", NS_A, NS_B, NS_PORTAL, NS_CSI, *REFUSED_NAMESPACES, "--ignore-not-found",
            "--timeout=180s", check=False)
    # The chart's Onedata PersistentVolumes are cluster-scoped: pv-scipo-<release>-od-<space>-<namespace>.
    names = kubectl(cluster, "get", "pv", "-o", "name", check=False).stdout.split()
    kubectl(cluster, "delete", *[n for n in names if n.startswith("persistentvolume/pv-scipo-")],
            *[f"pv/{name}" for name in NFS_VOLUMES], "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", GPU_NODE, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", INGRESS_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "storageclass", ONEDATA_CLASS, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def cluster(k8s_cluster, tmp_path_factory):
    """A kwok GPU node, csi-onedata's driver and StorageClass, the nfs-csi stand-in, an IngressClass, a TLS Secret."""
    remove_test_objects(k8s_cluster)
    # Stand-in for a GPU node whose NVIDIA device plugin advertises one GPU.
    kwok_node(k8s_cluster, GPU_NODE, {GPU_LABEL: "true"}, {"nvidia.com/gpu": "1"})
    # The real csi_onedata role makes the driver (its pods on the GPU node) and the StorageClass of the Onedata
    # volumes; the scipion role binds the chart's Onedata volumes to that class.
    workdir = tmp_path_factory.mktemp("csi")
    play = [{"hosts": "localhost", "gather_facts": False, "roles": [{"role": "sciplat.k8s.csi_onedata", "vars": {
        "csi_onedata_namespace": NS_CSI, "csi_onedata_storage_class_name": ONEDATA_CLASS,
        "csi_onedata_node_selector": {GPU_LABEL: "true"}, "csi_onedata_wait_timeout": 120}}]}]
    run_playbook(play, k8s_cluster.env, "--tags", "onedata_driver", workdir=workdir)
    created_nfs = get(k8s_cluster, "storageclass", "nfs-csi") is None
    if created_nfs:
        # Stand-in for csi-driver-nfs: static volumes only.
        apply(k8s_cluster, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nfs-csi"},
                            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"})
    static_volumes(k8s_cluster, NFS_VOLUMES, "nfs-csi", "5000Gi", "ReadWriteMany", tmp_path_factory.mktemp("nfs"))
    apply(k8s_cluster, {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": INGRESS_CLASS},
                        "spec": {"controller": "k8s.io/ingress-nginx"}})
    # The portal's TLS Secret must exist before the role runs (no cert-manager here): placeholder bytes.
    apply(k8s_cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS_PORTAL}},
          {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
           "metadata": {"name": PORTAL_TLS, "namespace": NS_PORTAL},
           "data": {"tls.crt": base64.b64encode(b"stand-in").decode(), "tls.key": base64.b64encode(b"stand-in").decode()}})
    yield k8s_cluster
    remove_test_objects(k8s_cluster)
    if created_nfs:
        kubectl(k8s_cluster, "delete", "storageclass", "nfs-csi", "--ignore-not-found", check=False)


def instance(name, namespace, **extra):
    entry = {"name": name, "namespace": namespace,
             "dataset": {"host": PROVIDER_DOMAIN, "space_id": SPACE_ID},
             "project": {"host": PROVIDER_DOMAIN, "space_id": PROJECT_SPACE_ID}}
    entry.update(extra)
    return entry


# As inventories/scipion_facility: one instance with a GPU, one without, each on its own NodePort.
ALICE = instance("alice", NS_A, gpu=1, vnc_node_port=32142)
BOB = instance("bob", NS_B, vnc_node_port=32143, ram_max="16Gi")
CAROL = instance("carol", NS_A, vnc_access="ingress", vnc_host="carol.scipion.example.org", cpu_max=4)


def inventory(workdir: Path, onezone, instances, **group_vars) -> Path:
    """An inventory shaped like inventories/scipion_facility, on the local connection, charts through the mirror."""
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "sciplat_chart_mirror": mirror.chart_mirror(),
        "scipion_instances": instances,
        "scipion_gpu_node_labels": {GPU_LABEL: "true"},
        "scipion_onedata_storage_class": ONEDATA_CLASS,
        "scipion_vnc_ingress_class": INGRESS_CLASS,
        "scipion_validate_online": True,
        "scipion_onezone_host": onezone.address,
        "scipion_onezone_ca_path": onezone.ca_path,
        "scipion_helm_wait_timeout": "2m",
        "scipion_portal_enabled": True,
        "scipion_portal_namespace": NS_PORTAL,
        "scipion_portal_host": PORTAL_HOST,
        "scipion_portal_ingress_class": INGRESS_CLASS,
        "scipion_portal_tls_secret": PORTAL_TLS,
        "scipion_portal_oidc_client_id": "scipion-portal-test",
        "scipion_portal_oidc_client_secret": "{{ vault_scipion_portal_oidc_client_secret }}",
    }
    variables.update(group_vars)
    return write_inventory(workdir, variables, {"control_plane": ["scipionit-master"]})


def run(cluster, workdir, hosts, tokens, *args, expect_rc=0):
    # alice's tokens come from scipion_onedata_tokens (a vault in real inventories), everyone else's from
    # ONEDATA_TOKEN, as an AWX custom credential injects it.
    env = dict(cluster.env, ONEDATA_TOKEN=tokens["env"])
    extra = {"scipion_onedata_tokens": {"alice": {"dataset": tokens["alice-dataset"], "project": tokens["alice-project"]}},
             "vault_scipion_portal_oidc_client_secret": OIDC_CLIENT_SECRET}
    return run_playbook(PLAYBOOK, env, *args, workdir=workdir, inventory=hosts, extra_vars=extra, expect_rc=expect_rc)


def assert_nothing_secret(output, *values):
    for value in values:
        assert value not in output, "a token, password or client secret reached the ansible-playbook output"
        assert value[len(value) // 2:len(value) // 2 + 12] not in output


def refused(name="refused", **extra):
    return [instance(name, "scipionit-refused", vnc_node_port=32150, **extra)]


@pytest.mark.parametrize("case, instances, extra, message", [
    ("GPU without GPU node", refused(gpu=1), {"scipion_gpu_node_labels": {GPU_LABEL: "absent"}},
     "1 GPU(s) requested, but no node is labelled as a GPU node (sciplat-test/scipion-gpu=absent)"),
    ("more GPUs than advertised", refused(gpu=2), {}, "the labelled GPU nodes advertise at most 1 nvidia.com/gpu"),
    ("project space not in the token's scope", refused(project={"host": PROVIDER_DOMAIN, "space_id": OTHER_SPACE_ID}), {},
     f"Scipion instance refused, project space {OTHER_SPACE_ID}: Onedata token check failed"),
    ("NodePort out of range", [instance("refused", "scipionit-refused", vnc_node_port=29999)], {},
     "vnc_node_port 29999 is out of the NodePort range 30000-32767"),
    ("NodePort missing", [instance("refused", "scipionit-refused")], {}, "vnc_access nodeport needs vnc_node_port"),
    ("two instances on one NodePort", [*refused(), *refused("other")], {},
     "Several instances ask for the same VNC NodePort (32150, vnc_node_port)"),
    ("nfs-csi missing", refused(), {"scipion_shared_storage_class": "scipionit-missing"},
     "StorageClass scipionit-missing (scipion_shared_storage_class) is not in the cluster"),
    ("onedata class missing", refused(), {"scipion_onedata_storage_class": "scipionit-missing"},
     "StorageClass scipionit-missing (scipion_onedata_storage_class) is not in the cluster: run sciplat.k8s.csi_onedata"),
    ("IngressClass missing", refused(vnc_access="ingress", vnc_host="r.example.org", vnc_ingress_class="scipionit-missing"),
     {}, "IngressClass scipionit-missing is not in the cluster"),
    ("moving pin", refused(), {"scipion_chart_git_commit": "main"}, "scipion_chart_git_commit must be a full 40-hex commit"),
    ("short space ID", refused(dataset={"host": PROVIDER_DOMAIN, "space_id": "abc"}), {},
     "dataset.space_id and project.space_id must be Onedata space IDs"),
    ("name too long", refused(name="r" * 47), {}, "name must be a lower-case DNS label of at most 46 characters"),
    ("token in an entry", refused(token="MDAxTokenInAnEntry"), {},
     "Validation of arguments failed: scipion_instances.token. Supported parameters include"),
    ("instance in the portal's namespace", [instance("refused", NS_PORTAL, vnc_node_port=32150)], {},
     f"Instances refused are in scipion_portal_namespace ({NS_PORTAL})"),
    ("OIDC base URL with a slash", refused(), {"scipion_portal_oidc_provider_base_url": "https://aai.example.org/oidc/"},
     "scipion_portal_oidc_provider_base_url must be the https URL the provider's endpoints hang off"),
    ("OIDC redirect on another host", refused(), {"scipion_portal_oidc_redirect_url": "https://other.example.org/oidc/callback"},
     f"scipion_portal_oidc_redirect_url must be an https URL on scipion_portal_host ({PORTAL_HOST})"),
    ("OIDC client secret missing", refused(), {"scipion_portal_oidc_client_secret": ""},
     "scipion_portal_oidc_client_secret is empty"),
    ("portal TLS Secret missing", refused(), {"scipion_portal_tls_secret": "scipionit-missing"},
     f"TLS Secret scipionit-missing (scipion_portal_tls_secret) is not in namespace {NS_PORTAL}"),
    ("ClusterIssuer missing", refused(), {"scipion_portal_cert_issuer": "scipionit-missing"},
     "cert-manager ClusterIssuer scipionit-missing (scipion_portal_cert_issuer) is not in the cluster"),
])
def test_refused_before_any_change(cluster, onezone, tokens, tmp_path, case, instances, extra, message):
    hosts = inventory(tmp_path, onezone, instances, **extra)
    result = run(cluster, tmp_path, hosts, tokens, expect_rc=2)
    assert " ".join(message.split()) in " ".join(result.output.split()), result.output[-3000:]
    assert result.changed == 0
    assert "MDAxTokenInAnEntry" not in result.output
    assert get(cluster, "namespace", "scipionit-refused") is None
    assert get(cluster, "secret", "scipion-portal-secret", "-n", NS_PORTAL) is None


def test_a_pin_the_repository_lacks_is_refused_before_any_change(cluster, onezone, tokens, tmp_path):
    hosts = inventory(tmp_path, onezone, refused(), scipion_chart_git_commit="0" * 40)
    result = run(cluster, tmp_path, hosts, tokens, expect_rc=2)
    assert "Check scipion_chart_git_commit (a full commit of that repository)" in " ".join(result.output.split()), \
        result.output[-3000:]
    # The one change is helm_release removing its own failed clone from the cache; the cluster is untouched.
    assert "Remove the failed clone" in result.output and result.changed == 1
    assert get(cluster, "namespace", "scipionit-refused") is None
    assert get(cluster, "secret", "scipion-portal-secret", "-n", NS_PORTAL) is None


@pytest.fixture(scope="module")
def deployed(cluster, onezone, tokens, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    hosts = inventory(workdir, onezone, [ALICE, BOB])
    return run(cluster, workdir, hosts, tokens, "-vvv", "--diff")


def test_instances_from_the_real_chart(cluster, deployed, tokens):
    assert deployed.changed > 0
    passwords = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob"))
    assert all(len(password) == 32 and int(password, 16) >= 0 for dummy, password in passwords.values())
    assert passwords["alice"][1] != passwords["bob"][1]

    for namespace, name, dataset_token, project_token in ((NS_A, "alice", tokens["alice-dataset"], tokens["alice-project"]),
                                                          (NS_B, "bob", tokens["env"], tokens["env"])):
        assert {k: release_of(cluster, namespace, name)[k] for k in ("status", "chart")} == {
            "status": "deployed", "chart": "scipion-2"}  # Chart.yaml's `version: 2.0` is a YAML number
        # The chart makes the Onedata Secrets from its values; the VNC password reaches the desktop's environment.
        base = f"scipo-{name}"
        assert decoded(get(cluster, "secret", f"{base}-od-dataset-{namespace}", "-n", namespace)) == {
            "host": PROVIDER_DOMAIN, "onedata_token": dataset_token, "space_id": SPACE_ID,
            "oneclient_options": "--force-proxy-io"}
        assert decoded(get(cluster, "secret", f"{base}-od-project-{namespace}", "-n", namespace))["onedata_token"] == project_token
        vnc = get(cluster, "deployment", f"{base}-vnc", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "VNC_PASS", "value": passwords[name][1]} in vnc["env"]
        # Onedata volumes: the chart's PVs (driver csi-onedata, Secret reference) bound through csi_onedata's class.
        for space in ("dataset", "project"):
            volume = get(cluster, "pv", f"pv-{base}-od-{space}-{namespace}")
            assert volume["spec"]["storageClassName"] == ONEDATA_CLASS
            assert volume["spec"]["csi"]["driver"] == "csi-onedata"
            assert volume["spec"]["csi"]["nodePublishSecretRef"] == {"name": f"{base}-od-{space}-{namespace}",
                                                                     "namespace": namespace}
            claim = get(cluster, "pvc", f"pvc-{base}-od-{space}-{namespace}", "-n", namespace)
            assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == ONEDATA_CLASS
        for claim_name in (f"pvc-{base}-shared-{namespace}", f"pvc-{base}-vol-dataset-{namespace}-{SPACE_ID[:8]}",
                           f"pvc-{base}-vol-project-{namespace}-{PROJECT_SPACE_ID[:8]}"):
            claim = get(cluster, "pvc", claim_name, "-n", namespace)
            assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "nfs-csi"
            assert claim["spec"]["accessModes"] == ["ReadWriteMany"]

    values = helm_json(cluster, "get", "values", "alice", "-n", NS_A)
    assert values["instance"]["microk8s"] is True and values["vnc"]["useVncClient"] is False
    assert values["od"]["dataset"]["spaceIdShort"] == SPACE_ID[:8]

    # alice: one GPU on the desktop container, scheduled on the GPU node. bob: neither.
    alice = get(cluster, "deployment", "scipo-alice-master", "-n", NS_A)["spec"]["template"]["spec"]
    assert alice["nodeSelector"] == {GPU_LABEL: "true"}
    # The API server returns quantities in canonical form: the default 8192Mi reads back as 8Gi.
    assert alice["containers"][0]["resources"]["limits"] == {"cpu": "8", "memory": "8Gi", "nvidia.com/gpu": "1"}
    pods = get(cluster, "pods", "-n", NS_A, "-l", "app=scipo-alice-master")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == [GPU_NODE] and pods[0]["status"]["phase"] == "Running"
    bob = get(cluster, "deployment", "scipo-bob-master", "-n", NS_B)["spec"]["template"]["spec"]
    assert "nodeSelector" not in bob
    assert bob["containers"][0]["resources"]["limits"] == {"cpu": "8", "memory": "16Gi"}
    for deployment in ("controller", "vnc"):
        spec = get(cluster, "deployment", f"scipo-alice-{deployment}", "-n", NS_A)["spec"]["template"]["spec"]
        assert "nodeSelector" not in spec and "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"]

    # Each instance on its own NodePort: the chart's fixed 32142 would refuse the second one.
    ports = {name: get(cluster, "service", f"scipo-{name}-vnc", "-n", namespace)["spec"]
             for namespace, name in ((NS_A, "alice"), (NS_B, "bob"))}
    assert {name: (spec["type"], [p["nodePort"] for p in spec["ports"]]) for name, spec in ports.items()} == {
        "alice": ("NodePort", [32142]), "bob": ("NodePort", [32143])}


def test_portal_from_the_real_chart(cluster, deployed):
    assert {k: release_of(cluster, NS_PORTAL, "scipion-portal")[k] for k in ("status", "chart")} == {
        "status": "deployed", "chart": "scipion-portal-0.0.0"}
    dummy, data = portal_secret(cluster)
    assert data["mysql_user"] == "dbuser" and data["oidc_rp_client_id"] == "scipion-portal-test"
    assert data["oidc_rp_client_secret"] == OIDC_CLIENT_SECRET
    assert len(data["mysql_password"]) == 32 and len(data["mysql_root_password"]) == 32 and len(data["secret_key"]) == 50
    # The role's Secret, not the chart's (whose values are null): helm does not own it.
    secret = get(cluster, "secret", "scipion-portal-secret", "-n", NS_PORTAL)
    assert "meta.helm.sh/release-name" not in (secret["metadata"].get("annotations") or {})
    scipo = get(cluster, "deployment", "scipion-portal-scipo", "-n", NS_PORTAL)["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in scipo["containers"][0]["env"]}
    assert env["OIDC_REDIRECT_URL"] == f"https://{PORTAL_HOST}/oidc/callback"
    assert env["OIDC_OP_BASE_URL"] == DEFAULTS["scipion_portal_oidc_provider_base_url"]
    assert env["KUBERNETES_NS_NAME"] == NS_PORTAL
    assert env["OIDC_RP_CLIENT_SECRET"] == {"secretKeyRef": {"name": "scipion-portal-secret", "key": "oidc_rp_client_secret"}}
    ingress = get(cluster, "ingress", "scipion-portal-ingress", "-n", NS_PORTAL)
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["spec"]["tls"] == [{"hosts": [PORTAL_HOST], "secretName": PORTAL_TLS}]
    assert not ingress["metadata"].get("annotations", {}).keys() - {"meta.helm.sh/release-name", "meta.helm.sh/release-namespace"}
    claim = get(cluster, "pvc", "pvc-scipion-portal-db", "-n", NS_PORTAL)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "nfs-csi"
    rules = get(cluster, "role", "scipion-portal-r", "-n", NS_PORTAL)["rules"]
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "update", "delete"]} in rules


def portal_kubeconfig(cluster, workdir: Path) -> Path:
    """A kubeconfig holding only a token of the portal's ServiceAccount, as the portal's pod has it."""
    token = kubectl(cluster, "create", "token", "scipion-portal-sa", "-n", NS_PORTAL, "--duration=10m").stdout.strip()
    admin = yaml.safe_load(Path(cluster.env["KUBECONFIG"]).read_text())
    config = {"apiVersion": "v1", "kind": "Config", "clusters": admin["clusters"],
              "users": [{"name": "portal", "user": {"token": token}}],
              "contexts": [{"name": "portal", "context": {"cluster": admin["clusters"][0]["name"], "user": "portal",
                                                          "namespace": NS_PORTAL}}],
              "current-context": "portal"}
    path = workdir / "portal.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def portal_helm(cluster, kubeconfig, *args):
    env = dict(os.environ, **cluster.env)
    env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run([str(cluster.helm), "-n", NS_PORTAL, *args], env=env, capture_output=True, text=True, check=False)


def test_portal_service_account_deploys_an_instance_as_the_portal_does(cluster, deployed, tokens, tmp_path):
    kubeconfig = portal_kubeconfig(cluster, tmp_path)
    chart = mirror.pinned_chart(DEFAULTS["scipion_chart_git_repo"], DEFAULTS["scipion_chart_git_commit"],
                                DEFAULTS["scipion_chart_git_subpath"])
    # The values scipo/web/rest.py passes with --set (instance.microk8s=false: no PersistentVolume).
    portal_values = {"instance.releaseChannel": "dev", "instance.prefix": "scipo", "instance.microk8s": "false",
                     "instance.mincpu": "2", "instance.maxcpu": "8", "instance.minram": "2048Mi",
                     "instance.maxram": "8192Mi", "instance.keepVolumes": "true", "vnc.useVncClient": "false",
                     "vnc.vncPassword": secrets.token_hex(16), "od.dataset.host": PROVIDER_DOMAIN,
                     "od.dataset.token": tokens["env"], "od.dataset.spaceId": SPACE_ID,
                     "od.dataset.spaceIdShort": SPACE_ID[:8], "od.project.host": PROVIDER_DOMAIN,
                     "od.project.token": tokens["env"], "od.project.spaceId": PROJECT_SPACE_ID,
                     "od.project.spaceIdShort": PROJECT_SPACE_ID[:8]}
    sets = [arg for key, value in portal_values.items() for arg in ("--set", f"{key}={value}")]
    installed = portal_helm(cluster, kubeconfig, "--output", "json", "install", "frank", *sets, str(chart))
    assert installed.returncode == 0, installed.stderr
    listed = portal_helm(cluster, kubeconfig, "--output", "json", "list", "--all")
    assert listed.returncode == 0, listed.stderr
    assert [(r["name"], r["status"]) for r in json.loads(listed.stdout) if r["name"] == "frank"] == [("frank", "deployed")]
    assert get(cluster, "role", "scipo-frank-tool-spawner", "-n", NS_PORTAL) is not None
    assert get(cluster, "ingress", "scipo-frank-vnc-ingress", "-n", NS_PORTAL) is not None
    removed = portal_helm(cluster, kubeconfig, "uninstall", "frank")
    assert removed.returncode == 0, removed.stderr
    assert get(cluster, "deployment", "scipo-frank-master", "-n", NS_PORTAL) is None

    # Nothing beyond that: no cluster-scoped objects, no other namespace, no changes to what it did not make.
    portal = f"system:serviceaccount:{NS_PORTAL}:scipion-portal-sa"
    assert can_i(cluster, portal, "create", "deployments", NS_PORTAL)
    assert not can_i(cluster, portal, "create", "persistentvolumes")
    assert not can_i(cluster, portal, "create", "namespaces")
    assert not can_i(cluster, portal, "get", "secrets", NS_A)
    assert not can_i(cluster, portal, "patch", "deployments", NS_PORTAL)
    assert not can_i(cluster, portal, "escalate", "roles.rbac.authorization.k8s.io", NS_PORTAL)
    assert not can_i(cluster, portal, "bind", "clusterroles.rbac.authorization.k8s.io", NS_PORTAL)


def test_verbose_run_shows_no_secret(cluster, deployed, tokens):
    passwords = [password for dummy, password in vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")).values()]
    dummy, portal = portal_secret(cluster)
    assert "sciplat-scipion-alice-vnc" in deployed.output  # the -vvv output is the one searched
    assert_nothing_secret(deployed.output, *tokens.values(), *passwords, OIDC_CLIENT_SECRET,
                          portal["mysql_password"], portal["mysql_root_password"], portal["secret_key"])


def test_rerun_and_check_change_nothing(cluster, onezone, tokens, deployed, tmp_path):
    before = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")), portal_secret(cluster)
    releases = revisions(cluster, (NS_A, "alice"), (NS_B, "bob"), (NS_PORTAL, "scipion-portal"))
    hosts = inventory(tmp_path, onezone, [ALICE, BOB])
    rerun = run(cluster, tmp_path, hosts, tokens, "-vvv")
    assert rerun.changed == 0, rerun.output[-4000:]
    checked = run(cluster, tmp_path, hosts, tokens, "--check", "--diff")
    assert checked.changed == 0, checked.output[-4000:]
    assert (vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")), portal_secret(cluster)) == before
    assert revisions(cluster, (NS_A, "alice"), (NS_B, "bob"), (NS_PORTAL, "scipion-portal")) == releases
    portal = before[1][1]
    for output in (rerun.output, checked.output):
        assert_nothing_secret(output, *tokens.values(), *(password for dummy, password in before[0].values()),
                              OIDC_CLIENT_SECRET, portal["mysql_password"], portal["secret_key"])


def test_another_instance_leaves_the_others_alone(cluster, onezone, tokens, deployed, tmp_path):
    before = vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob"))
    releases = revisions(cluster, (NS_A, "alice"), (NS_B, "bob"), (NS_PORTAL, "scipion-portal"))
    hosts = inventory(tmp_path, onezone, [ALICE, BOB, CAROL])
    added = run(cluster, tmp_path, hosts, tokens)
    assert added.changed > 0
    assert vnc_passwords(cluster, (NS_A, "alice"), (NS_B, "bob")) == before
    assert revisions(cluster, (NS_A, "alice"), (NS_B, "bob"), (NS_PORTAL, "scipion-portal")) == releases
    carol = vnc_passwords(cluster, (NS_A, "carol"))["carol"][1]
    assert carol not in (before["alice"][1], before["bob"][1])
    # carol: a ClusterIP VNC Service behind the role's Ingress, which the Service owns.
    service = get(cluster, "service", "scipo-carol-vnc", "-n", NS_A)
    assert service["spec"]["type"] == "ClusterIP" and "nodePort" not in service["spec"]["ports"][0]
    ingress = get(cluster, "ingress", "scipo-carol-vnc-ingress", "-n", NS_A)
    assert ingress["spec"]["ingressClassName"] == INGRESS_CLASS
    assert ingress["spec"]["rules"][0]["host"] == "carol.scipion.example.org"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {
        "name": "scipo-carol-vnc", "port": {"number": 5901}}
    assert [(o["kind"], o["uid"]) for o in ingress["metadata"]["ownerReferences"]] == [
        ("Service", service["metadata"]["uid"])]
    assert get(cluster, "deployment", "scipo-carol-master", "-n", NS_A)["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}
    assert run(cluster, tmp_path, hosts, tokens).changed == 0


def test_node_port_of_another_release_is_refused(cluster, onezone, tokens, deployed, tmp_path):
    hosts = inventory(tmp_path, onezone, [instance("dave", "scipionit-other", vnc_node_port=32142)])
    refused_run = run(cluster, tmp_path, hosts, tokens, expect_rc=2)
    assert "NodePort 32142 is taken by scipionit-a/scipo-alice-vnc (release alice)" in " ".join(refused_run.output.split())
    assert get(cluster, "namespace", "scipionit-other") is None


def test_check_mode_predicts_a_new_instance_and_writes_nothing(cluster, onezone, tokens, deployed, tmp_path):
    hosts = inventory(tmp_path, onezone, [ALICE, BOB, instance("erin", "scipionit-check", vnc_node_port=32144)])
    checked = run(cluster, tmp_path, hosts, tokens, "--check", "--diff")
    assert checked.changed > 0
    assert get(cluster, "namespace", "scipionit-check") is None
    assert_nothing_secret(checked.output, *tokens.values())
