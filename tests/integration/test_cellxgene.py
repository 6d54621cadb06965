"""Role cellxgene through playbooks/cellxgene.yml against the real test cluster, with the REAL upstream operator.

Real parts: kube-apiserver 1.36 (CRD schema validation, RBAC authorisation of impersonated and token-bearing
ServiceAccounts, the token controller, TokenRequest), kube-controller-manager (its garbage collector removes an
instance's children through their ownerReferences), kwok nodes (Pods become Running without containers),
ansible-playbook and the sciplat.k8s modules, and seed 004's own operator: the kopf script
operator/operator_single-user-instances.py of bag-cnag/cxg_on_k8 at the commit the role's README names, checked
out through the offline mirror (tests/upstream/mirror.py), run as a process with kopf from PyPI. It is started
with the command and environment of the Deployment the role made, watching the namespaces the role configured,
and authenticated by a TokenRequest token of the ServiceAccount the role made and the cluster CA, nothing else:
whatever it needs and the role's RBAC does not grant shows up as a 403 in its log, which fails the tests.

Stand-ins, labelled as such: the ingress controller is one kwok pod with microk8s' label in a namespace of this
module (no nginx runs, so no metrics are ever served here); the operator, oauth2-proxy and instance images are
names only (no container runs: the operator runs as a process on the controller instead of in its Deployment).

What the operator cannot do from outside the cluster: its connection monitor (sui_monitor_connection_async)
reads http://metrics.ingress-nginx.svc.cluster.local/metrics when `nslookup kubernetes.default.svc.cluster.local`
does not print NXDOMAIN, else http://localhost:10254/metrics; the URL is hard-coded, with no override. Outside a
cluster all three ways fail: no `nslookup` on the machine (FileNotFoundError, which kopf retries after its
backoff), a resolver that cannot answer (the cluster host name does not resolve), or NXDOMAIN (nothing listens
on localhost:10254 unless a developer port-forwards the controller's metrics there). Upstream's script tolerates
that: the monitor fails (a PermanentError or the exception, logged and posted as an event) and deletes nothing,
and the lifespan timer is a separate handler that keeps working. So these tests exercise the lifespan deletion,
and check that the monitor ran and failed, not that it deleted anything; the unvisited timeout is set far
beyond the module's run time so that the tests would not depend on the monitor if it did reach a metrics server.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from k8s_support import apply, can_i, decoded, get, kubectl, server_dry_run
from playbooks import run_playbook, write_inventory

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
import mirror  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = REPO / "playbooks" / "cellxgene.yml"
EXAMPLE_USERS = yaml.safe_load((REPO / "inventories" / "omics_lab" / "group_vars" / "all" / "cellxgene.yml")
                               .read_text())["cellxgene_users"]
# The operator as seed 004 runs it; the role's README names the same commit (checked below).
UPSTREAM_REPO = "https://github.com/bag-cnag/cxg_on_k8.git"
UPSTREAM_COMMIT = "95e76557b25608df86265cbcadaf35a4e76d1cf6"
UPSTREAM_SCRIPT = "operator/operator_single-user-instances.py"
NS = "cxgit"
NS_TESTING = "cxgit-testing"
NS_AUTH = "cxgit-auth"
NS_METRICS = "cxgit-metrics"
NS_INGRESS = "cxgit-ingress"
NODE = "cxgit-node"
INGRESS_CLASS = "cxgit"
OPERATOR_SA = "sui-operator"
OPERATOR = f"system:serviceaccount:{NS}:{OPERATOR_SA}"
PORTAL = f"system:serviceaccount:{NS}:omicsdm"
S3_SECRET_KEY = "cxgit-S3-secret-0123456789abcdef"
S3_ACCESS_KEY = "CXGITACCESSKEY42"
CRD = "singleuserinstances.cnag.eu"
# K8_SUI_OP_TICK: the operator's timers wait this long before their first run, between runs, and after the last
# change of an instance (idle), so an instance is deleted between lifespan + 1 tick and lifespan + 2 ticks or so.
TICK = 2
# Far beyond this module's run time: see the module docstring (the monitor cannot read metrics here).
UNVISITED_TIMEOUT = 86000
SHORT_LIFESPAN = 4
OWNER_KEYS = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
# What a refused request looks like in kopf's and the kubernetes client's log lines: both print the reason
# ("(403) Reason: Forbidden", "403, message='Forbidden'"). A bare 403 also matched log timestamps (",403]").
FORBIDDEN = re.compile(r"forbidden", re.IGNORECASE)


def wait_for(what, probe, timeout=60, interval=0.5):
    """probe()'s first true value; fails naming `what` when there is none within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def remove_test_objects(cluster):
    strip_finalizers(cluster)
    kubectl(cluster, "delete", "namespace", NS, NS_TESTING, NS_AUTH, NS_METRICS, NS_INGRESS, "cxgit-refused",
            "--ignore-not-found", "--timeout=180s", check=False)
    kubectl(cluster, "delete", "crd", CRD, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "clusterrole,clusterrolebinding", f"{OPERATOR_SA}-{NS}", "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "ingressclass", INGRESS_CLASS, "--ignore-not-found", check=False)
    kubectl(cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def upstream():
    """The cxg_on_k8 checkout at the pinned commit (through the offline mirror when SCIPLAT_UPSTREAM is set)."""
    return mirror.pinned_chart(UPSTREAM_REPO, UPSTREAM_COMMIT, "")


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
        "cellxgene_operator_tick": TICK,
        "cellxgene_operator_unvisited_timeout": UNVISITED_TIMEOUT,
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


def instance_names(users, state="present"):
    return sorted(f"cellxgene-{u['name']}" for u in users if u.get("state", "present") == state)


class OperatorProcess:
    """The upstream operator script run by kopf as a process group, as the role's Deployment would run it."""

    def __init__(self, command, env, workdir: Path):
        self.command = command
        self.kubeconfig = Path(env["KUBECONFIG"])
        self.log_path = workdir / "operator.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines=300) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text, timeout=60):
        try:
            wait_for(f"{text!r} in the operator's log", lambda: self.process.poll() is not None or text in self.log(),
                     timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.tail()}") from None
        if text not in self.log():
            raise AssertionError(f"the operator exited ({self.process.returncode}):\n{self.tail()}")

    def refusals(self) -> list[str]:
        """Log lines telling of a request the API server refused, or of kopf working around missing rights."""
        return [line for line in self.log().splitlines()
                if FORBIDDEN.search(line) or "Not enough permissions" in line]

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class OperatorLogOnFailure:
    """pytest plugin, registered while the operator runs: a failed test of this module shows the operator's log."""

    def __init__(self, operator: OperatorProcess):
        self.operator = operator

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):  # pylint: disable=unused-argument
        report = yield
        if report.failed and getattr(getattr(item, "module", None), "__name__", None) == __name__:
            report.sections.append(("upstream operator log (last 300 lines)", self.operator.tail()))
        return report


def operator_kubeconfig(cluster, workdir: Path) -> Path:
    """A kubeconfig holding only a TokenRequest token of the role's ServiceAccount and the cluster's CA."""
    token = kubectl(cluster, "create", "token", OPERATOR_SA, "-n", NS, "--duration=2h").stdout.strip()
    path = workdir / "operator.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "test", "cluster": {"server": cluster.server, "certificate-authority": str(cluster.ca_cert)}}],
        "users": [{"name": OPERATOR_SA, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": OPERATOR_SA, "namespace": NS}}]}))
    path.chmod(0o600)
    return path


def operator_command(cluster, script: Path):
    """The command and environment of the role's operator Deployment, with the checkout's script and venv's kopf."""
    deployment = get(cluster, "deployment", OPERATOR_SA, "-n", NS)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    command = list(container["command"])
    assert command[:2] == ["kopf", "run"] and "/src/operator_single-user-instances.py" in command, command
    command[0] = str(Path(sys.executable).with_name("kopf"))
    command[command.index("/src/operator_single-user-instances.py")] = str(script)
    return command, {e["name"]: e["value"] for e in container["env"]}


def strip_finalizers(cluster):
    """Lets namespaces go when the operator no longer runs (kopf's finalizers would hold the instances)."""
    found = get(cluster, "singleuserinstances", "-A")
    for item in (found or {}).get("items", []):
        if item["metadata"].get("finalizers"):
            kubectl(cluster, "patch", "singleuserinstance", item["metadata"]["name"], "-n", item["metadata"]["namespace"],
                    "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)


@pytest.fixture(scope="module")
def deployed(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    first = run(cluster, workdir, inventory(workdir, EXAMPLE_USERS), "-vvv", "--diff")
    oauth2 = get(cluster, "secret", "oauth2-proxy", "-n", NS_AUTH)
    instances = {i["metadata"]["name"]: i for i in get(cluster, "singleuserinstances", "-n", NS)["items"]}
    return {"first": first, "secrets": decoded(oauth2), "instances": instances, "workdir": workdir}


@pytest.fixture(scope="module")
def operator(cluster, deployed, upstream, tmp_path_factory, request):
    """Seed 004's operator, running with the role's ServiceAccount token, command and environment."""
    workdir = tmp_path_factory.mktemp("operator")
    home = workdir / "home"
    home.mkdir()
    command, role_env = operator_command(cluster, upstream / UPSTREAM_SCRIPT)
    # Nothing of the test's environment reaches it (no admin kubeconfig, no KUBERNETES_SERVICE_HOST): only the
    # role's variables, the token kubeconfig, and PATH for the `nslookup` the script runs.
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
           "KUBECONFIG": str(operator_kubeconfig(cluster, workdir)), **role_env}
    process = OperatorProcess(command, env, workdir)
    plugin = OperatorLogOnFailure(process)
    request.config.pluginmanager.register(plugin, "cellxgene-operator-log")
    try:
        process.wait_for_log(f"Starting the watch-stream for singleuserinstances.v1.cnag.eu in '{NS}'")
        yield process
        # Instances go while the operator still runs, so that its delete handler lets them go.
        kubectl(cluster, "delete", "singleuserinstances", "--all", "-n", NS, "--timeout=60s", check=False)
    finally:
        process.stop()
        request.config.pluginmanager.unregister(plugin)
        strip_finalizers(cluster)


def children(cluster, name, namespace=NS):
    """The Deployment, Service and Ingress named after an instance, or None for each that is not there."""
    return {kind: get(cluster, kind, name, "-n", namespace) for kind in ("deployment", "service", "ingress")}


def wait_for_children(cluster, name, operator, timeout=60):
    def complete():
        found = children(cluster, name)
        return found if all(found.values()) else None
    try:
        return wait_for(f"the operator's children of {name}", complete, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{operator.tail()}") from None


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
    """resourceVersions of what must not change on a rerun (specs where controllers write status), and the secrets.

    The instances are taken after the operator handled them, with its finalizer and annotations: a rerun must not
    count what the operator wrote as a change, nor write itself."""
    oauth2 = get(cluster, "secret", "oauth2-proxy", "-n", NS_AUTH)
    versions = {"oauth2-proxy": oauth2["metadata"]["resourceVersion"]}
    for namespace in (NS, NS_TESTING):
        versions[f"aws/{namespace}"] = get(cluster, "secret", "aws-cred-secret", "-n", namespace)["metadata"]["resourceVersion"]
    for item in get(cluster, "singleuserinstances", "-n", NS)["items"]:
        name = item["metadata"]["name"]
        versions[f"sui/{name}"] = item["metadata"]["resourceVersion"]
        for kind, child in children(cluster, name).items():
            versions[f"{kind}/{name}"] = child and (child["metadata"]["uid"], child["metadata"].get("generation"), child["spec"])
    # Controllers keep writing the status of these: their spec and generation show whether the role wrote.
    for kind, namespace, name in (("deployment", NS, OPERATOR_SA), ("deployment", NS_AUTH, "oauth2-proxy"),
                                  ("crd", None, CRD), ("service", NS_METRICS, "metrics")):
        found = get(cluster, kind, name, *(["-n", namespace] if namespace else []))
        versions[f"{kind}/{name}"] = (found["metadata"].get("generation"), found["metadata"].get("labels"), found["spec"])
    return versions, decoded(oauth2)


def test_readme_names_the_operator_commit():
    assert UPSTREAM_COMMIT in (REPO / "roles" / "cellxgene" / "README.md").read_text()


def test_install_matches_the_upstream_operator(cluster, deployed, upstream):
    assert deployed["first"].changed > 0
    crd = get(cluster, "crd", CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    # Names, version, required fields and columns as upstream's own CRD, which the operator and portal use.
    theirs = next(d for d in yaml.safe_load_all((upstream / "manifests" / "crd_single-user-instance.yaml").read_text()) if d)
    assert crd["metadata"]["name"] == theirs["metadata"]["name"]
    for key in ("group", "scope"):
        assert crd["spec"][key] == theirs["spec"][key], key
    for key in ("kind", "plural", "singular", "shortNames"):
        assert crd["spec"]["names"][key] == theirs["spec"]["names"][key], key
    (ours_version,), (their_version,) = crd["spec"]["versions"], theirs["spec"]["versions"]
    for key in ("name", "served", "storage"):
        assert ours_version[key] == their_version[key], key

    def spec_of(version):
        return version["schema"]["openAPIV3Schema"]["properties"]["spec"]

    assert spec_of(ours_version)["required"] == spec_of(their_version)["required"]
    assert spec_of(ours_version)["properties"]["lifespan"]["type"] == spec_of(their_version)["properties"]["lifespan"]["type"]
    assert [(c["name"], c["jsonPath"]) for c in ours_version["additionalPrinterColumns"]] == [
        (c["name"], c["jsonPath"]) for c in their_version["additionalPrinterColumns"]]

    # The image's entrypoint (docker/Dockerfile_operator) with the watched namespaces in place of "-n cellxgene".
    dockerfile = (upstream / "docker" / "Dockerfile_operator").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.MULTILINE).group(1))
    assert re.search(r"^COPY \./operator /src$", dockerfile, re.MULTILINE)
    script = next(part for part in entrypoint if part.endswith(".py"))
    assert script == "/src/" + Path(UPSTREAM_SCRIPT).name
    operator = get(cluster, "deployment", OPERATOR_SA, "-n", NS)
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.org/cxg_on_k8/sui_operator:v1"
    assert container["command"] == ["kopf", "run", f"--namespace={NS}", script, "--verbose"]
    assert entrypoint[:2] == ["kopf", "run"] and "--verbose" in entrypoint and entrypoint[entrypoint.index("-n") + 1] == "cellxgene"
    # Exactly the environment variables the script reads.
    read = set(re.findall(r"env\.get\('([A-Z0-9_]+)'", (upstream / UPSTREAM_SCRIPT).read_text()))
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "K8_SUI_OP_TICK": str(TICK), "K8_SUI_OP_TO_UNVIS": str(UNVISITED_TIMEOUT)}
    assert read == {e["name"] for e in container["env"]}
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == OPERATOR_SA
    # The user upstream's Deployment runs it as (the image has no USER).
    theirs = yaml.safe_load((upstream / "manifests" / "deployment_sui_operator.yaml").read_text())
    context = operator["spec"]["template"]["spec"]["securityContext"]
    for key in ("runAsUser", "runAsGroup"):
        assert context[key] == theirs["spec"]["template"]["spec"]["securityContext"][key], key

    # The S3 credentials, as given, in both instance namespaces, under upstream's keys (manifests/secret_aws-cred.yaml).
    upstream_keys = {key for doc in yaml.safe_load_all((upstream / "manifests" / "secret_aws-cred.yaml").read_text())
                     if doc for key in doc["data"]}
    for namespace in (NS, NS_TESTING):
        found = decoded(get(cluster, "secret", "aws-cred-secret", "-n", namespace))
        assert found == {"AWS_ENDPOINT_URL": "https://s3.example.org", "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                         "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
        assert set(found) == upstream_keys


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


# Checked by the API server's authoriser for the role's accounts; the operator's own run (below) shows the
# allowed part is enough, these show what stays denied.
@pytest.mark.parametrize("who, verb, resource, namespace, allowed", [
    (OPERATOR, "create", "deployments.apps", NS, True),
    (OPERATOR, "create", "services", NS, True),
    (OPERATOR, "create", "ingresses.networking.k8s.io", NS, True),
    (OPERATOR, "create", "events", NS, True),
    (OPERATOR, "patch", "singleuserinstances.cnag.eu", NS, True),
    (OPERATOR, "delete", "singleuserinstances.cnag.eu", NS, True),
    (OPERATOR, "watch", "singleuserinstances.cnag.eu", NS, True),
    # Running the operator showed it never GETs a single instance (list and watch only).
    (OPERATOR, "get", "singleuserinstances.cnag.eu", NS, False),
    (OPERATOR, "list", "namespaces", None, True),
    (OPERATOR, "watch", "customresourcedefinitions.apiextensions.k8s.io", None, True),
    (OPERATOR, "delete", "deployments.apps", NS, False),
    (OPERATOR, "update", "deployments.apps", NS, False),
    (OPERATOR, "create", "singleuserinstances.cnag.eu", NS, False),
    (OPERATOR, "get", "secrets", NS, False),
    (OPERATOR, "create", "deployments.apps", NS_TESTING, False),
    (OPERATOR, "create", "deployments.apps", "default", False),
    (OPERATOR, "delete", "namespaces", None, False),
    (OPERATOR, "get", "namespaces", None, False),
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


def test_portal_token_creates_instances_only(cluster, deployed, operator):
    token = decoded(get(cluster, "secret", "omicsdm-token", "-n", NS))["token"]
    review = json.loads(portal_kubectl(cluster, token, "auth", "whoami", "-o", "json").stdout)
    assert review["status"]["userInfo"]["username"] == PORTAL
    instance = copy.deepcopy(get(cluster, "singleuserinstance", "cellxgene-alice", "-n", NS))
    instance["metadata"] = {"name": "cellxgene-portal", "namespace": NS_TESTING}
    created = portal_kubectl(cluster, token, "create", "-f", "-", stdin=json.dumps(instance))
    assert created.returncode == 0, created.stderr
    # The operator does not watch that namespace (nor may it create there): the instance stays a record.
    time.sleep(3 * TICK)
    assert children(cluster, "cellxgene-alice", NS_TESTING) == {"deployment": None, "service": None, "ingress": None}
    denied = portal_kubectl(cluster, token, "create", "deployment", "x", "--image=x", "-n", NS_TESTING)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    removed = portal_kubectl(cluster, token, "delete", "singleuserinstance", "cellxgene-portal", "-n", NS_TESTING)
    assert removed.returncode == 0, removed.stderr


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


def test_operator_authenticates_as_the_role_account(cluster, operator):
    config = yaml.safe_load(operator.kubeconfig.read_text())
    (user,) = config["users"]
    assert set(user["user"]) == {"token"}, "the operator's kubeconfig holds the token only"
    assert set(config["clusters"][0]["cluster"]) == {"server", "certificate-authority"}
    review = json.loads(kubectl(cluster, "--kubeconfig", str(operator.kubeconfig),
                                "auth", "whoami", "-o", "json").stdout)
    assert review["status"]["userInfo"]["username"] == OPERATOR
    # kopf logged in through the kubernetes client with that kubeconfig (the client the script's calls use).
    assert "Client is configured via kubeconfig file." in operator.log()


def test_operator_makes_each_instance(cluster, deployed, operator):
    present = instance_names(EXAMPLE_USERS)
    assert len(present) >= 2 and sorted(deployed["instances"]) == present
    for name in present:
        made = wait_for_children(cluster, name, operator)
        sui = get(cluster, "singleuserinstance", name, "-n", NS)
        owner = {"apiVersion": "cnag.eu/v1", "kind": "SingleUserInstance", "name": name, "uid": sui["metadata"]["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        # kopf holds every instance with its finalizer (the script has timers), so deleting one needs the operator.
        assert sui["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
        for kind, child in made.items():
            # kopf.adopt: owned by the instance (so the garbage collector removes it), the instance's labels added.
            assert [{k: ref.get(k) for k in OWNER_KEYS} for ref in child["metadata"]["ownerReferences"]] == [owner], kind
            embedded = sui["spec"][kind]
            assert child["metadata"]["labels"] == {**sui["metadata"]["labels"], **embedded["metadata"]["labels"]}, kind
            assert child["metadata"].get("annotations", {}).items() >= embedded["metadata"].get("annotations", {}).items(), kind
        # What the role put in the instance is what the operator created, field by field.
        pod = made["deployment"]["spec"]["template"]["spec"]
        wanted = sui["spec"]["deployment"]["spec"]["template"]["spec"]
        assert [(c["name"], c["image"], c["args"]) for c in pod["containers"]] == [
            (c["name"], c["image"], c["args"]) for c in wanted["containers"]]
        assert [(c["name"], c["command"]) for c in pod["initContainers"]] == [
            (c["name"], c["command"]) for c in wanted["initContainers"]]
        assert made["deployment"]["spec"]["selector"] == sui["spec"]["deployment"]["spec"]["selector"]
        assert made["service"]["spec"]["selector"] == {"instance": name}
        assert [(p["port"], p["targetPort"]) for p in made["service"]["spec"]["ports"]] == [(38005, 5005)]
        assert made["ingress"]["spec"]["ingressClassName"] == INGRESS_CLASS
        assert made["ingress"]["spec"]["rules"] == sui["spec"]["ingress"]["spec"]["rules"]
        assert made["ingress"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"] == (
            f"http://oauth2-proxy.{NS_AUTH}.svc.cluster.local:8091/oauth2/auth")
    for name in instance_names(EXAMPLE_USERS, "absent"):
        assert get(cluster, "singleuserinstance", name, "-n", NS) is None
        assert children(cluster, name) == {"deployment": None, "service": None, "ingress": None}
    # One creation each: the handler ran once per instance (kopf's log names the object it handled).
    deployed_lines = re.findall(rf"^\[[^]]+\] kopf\.objects +\[INFO +\] \[{NS}/([a-z0-9-]+)\] SingleUserInstance "
                                r"successfully deployed\.$", operator.log(), re.MULTILINE)
    assert sorted(deployed_lines) == present


def test_the_example_instances(cluster, deployed, operator):
    """inventories/omics_lab's users as the role wrote them (and the operator then created them)."""
    by_user = {u["name"]: u for u in EXAMPLE_USERS}
    for name, user in by_user.items():
        if user.get("state", "present") != "present":
            continue
        spec = get(cluster, "sui", f"cellxgene-{name}", "-n", NS)["spec"]
        assert spec["lifespan"] == user.get("lifespan", 3600)
        pod = spec["deployment"]["spec"]["template"]["spec"]
        assert pod["initContainers"][0]["command"] == ["aws", "s3", "sync", f"s3://omics-data/cxg_on_k8/{name}/", "/data/"]
        dataset = user.get("dataset", "dataset.h5ad")
        assert (dataset if dataset.startswith("https://") else f"/data/{dataset}") in pod["containers"][0]["args"]
        assert spec["ingress"]["spec"]["rules"][0]["http"]["paths"][0]["path"] == f"/cellxgene-{name}(/|$)(.*)"


@pytest.fixture(scope="module")
def converged(cluster, deployed, operator):
    """The cluster once the operator has handled every instance: what a rerun must leave as it is."""
    for name in instance_names(EXAMPLE_USERS):
        wait_for_children(cluster, name, operator)
    # The operator's own writes (finalizer, progress annotations) are done before the first timer run.
    time.sleep(2 * TICK)
    return snapshot(cluster)


def test_rerun_changes_nothing(cluster, deployed, converged):
    again = run(cluster, deployed["workdir"], inventory(deployed["workdir"], EXAMPLE_USERS))
    assert again.changed == 0, again.output[-4000:]
    assert snapshot(cluster) == converged


def test_check_mode_reports_no_change(cluster, deployed, converged):
    checked = run(cluster, deployed["workdir"], inventory(deployed["workdir"], EXAMPLE_USERS), "--check", "--diff")
    assert checked.changed == 0, checked.output[-4000:]
    assert snapshot(cluster) == converged


def test_operator_deletes_an_instance_past_its_lifespan(cluster, deployed, operator, converged, tmp_path):
    users = [*EXAMPLE_USERS, {"name": "erin", "lifespan": SHORT_LIFESPAN}]
    result = run(cluster, tmp_path, inventory(tmp_path, users), "--tags", "cellxgene_instances")
    assert result.changed == 1, result.output[-4000:]
    made = wait_for_children(cluster, "cellxgene-erin", operator, timeout=SHORT_LIFESPAN)
    assert all(child["metadata"]["ownerReferences"][0]["name"] == "cellxgene-erin" for child in made.values())
    created = made["deployment"]["metadata"]["ownerReferences"][0]["uid"]
    born = get(cluster, "sui", "cellxgene-erin", "-n", NS)
    assert born["metadata"]["uid"] == created
    gone = wait_for("the operator to delete cellxgene-erin",
                    lambda: get(cluster, "sui", "cellxgene-erin", "-n", NS) is None and time.time(),
                    timeout=SHORT_LIFESPAN + 6 * TICK + 30, interval=0.2)
    birth = datetime.fromisoformat(born["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
    assert gone - birth >= SHORT_LIFESPAN, "deleted before its lifespan"
    assert ("SingleUserInstance 'cellxgene-erin' marked for deletion with motive: lifespan time exceeded."
            in operator.log())
    assert "Deletion handler called for SingleUserInstance cellxgene-erin" in operator.log()
    # The garbage collector removes the children through the operator's ownerReferences.
    wait_for("the children of cellxgene-erin to go",
             lambda: children(cluster, "cellxgene-erin") == {"deployment": None, "service": None, "ingress": None},
             timeout=60)
    # The other instances live on: their lifespans are long, and the connection monitor deletes nothing here.
    assert sorted(i["metadata"]["name"] for i in get(cluster, "sui", "-n", NS)["items"]) == instance_names(EXAMPLE_USERS)
    assert "motive: instance requested but not visited" not in operator.log()


def test_users_added_and_removed(cluster, deployed, operator, converged, tmp_path):
    removed = instance_names(EXAMPLE_USERS)[1]
    users = [dict(u, state="absent") if f"cellxgene-{u['name']}" == removed else u for u in EXAMPLE_USERS]
    users.append({"name": "frank", "lifespan": 1200})
    kept = [name for name in instance_names(EXAMPLE_USERS) if name != removed]
    before = {name: get(cluster, "sui", name, "-n", NS)["metadata"]["resourceVersion"] for name in kept}
    # Only the instances, as after a change in the portal's user list.
    result = run(cluster, tmp_path, inventory(tmp_path, users), "--tags", "cellxgene_instances")
    assert "Apply the operator's" not in result.output
    # One task changed, for two of its items.
    assert result.changed == 1, result.output[-4000:]
    changed_items = [line for line in result.output.splitlines() if line.startswith("changed:") and "(item=" in line]
    assert [line.split("(item=")[1] for line in changed_items] == [f"{NS}/{removed} absent)", f"{NS}/cellxgene-frank present)"]
    wait_for_children(cluster, "cellxgene-frank", operator)
    wait_for(f"the children of {removed} to go",
             lambda: children(cluster, removed) == {"deployment": None, "service": None, "ingress": None}, timeout=60)
    assert sorted(i["metadata"]["name"] for i in get(cluster, "sui", "-n", NS)["items"]) == sorted([*kept, "cellxgene-frank"])
    # The role's delete went through the operator's delete handler, which let go of kopf's finalizer.
    assert f"Deletion handler called for SingleUserInstance {removed}" in operator.log()
    assert {name: get(cluster, "sui", name, "-n", NS)["metadata"]["resourceVersion"] for name in kept} == before
    assert decoded(get(cluster, "secret", "oauth2-proxy", "-n", NS_AUTH)) == deployed["secrets"]


def test_the_operator_was_never_refused(cluster, operator):
    """Last: over the whole module the operator's rights (the role's RBAC) were enough for everything it did."""
    assert operator.process.poll() is None, "the operator exited"
    assert operator.refusals() == []
    log = operator.log()
    # kopf posted its events (create events) about the instances it handled.
    events = get(cluster, "events", "-n", NS, "--field-selector", "involvedObject.kind=SingleUserInstance")["items"]
    assert {e.get("source", {}).get("component") or e.get("reportingComponent") for e in events} == {"kopf"}
    assert "Timer 'sui_check_lifespan_async' succeeded." in log
    # The connection monitor cannot reach a metrics server from here (module docstring): it ran and failed.
    assert "Timer 'sui_monitor_connection_async' failed" in log
