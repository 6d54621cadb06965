"""Tests of the test control plane itself (tests/cluster): real kube-apiserver, kwok, helm, ansible.

The cluster is shared by every test session on the machine, so each test works in a namespace
and on a Node of its own and removes them afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import testcluster
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

WAIT = 90


def wait_for(what: str, check, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api(k8s_cluster) -> client.ApiClient:
    with config.new_client_from_config(config_file=str(k8s_cluster.kubeconfig)) as api_client:
        yield api_client


@pytest.fixture()
def namespace(api) -> str:
    name = f"harness-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def kwok_node(api) -> str:
    """A Node object with no kubelet behind it: kwok (managing all nodes) must make it Ready."""
    name = f"harness-node-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api)
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(
        name=name, labels={"kubernetes.io/hostname": name, "sciplat.test/harness": "true"})))
    yield name
    core.delete_node(name)


def bearer_client(k8s_cluster, token: str) -> client.ApiClient:
    configuration = client.Configuration(host=k8s_cluster.server)
    configuration.ssl_ca_cert = str(k8s_cluster.ca_cert)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def node_ready(core: client.CoreV1Api, name: str) -> bool:
    conditions = core.read_node(name).status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def test_discovery_lists_core_and_apps_groups(api):
    assert "v1" in client.CoreApi(api).get_api_versions().versions
    groups = {group.name: group for group in client.ApisApi(api).get_api_versions().groups}
    assert "apps" in groups
    assert "v1" in [version.version for version in groups["apps"].versions]
    assert client.VersionApi(api).get_code().git_version == "v1.36.3"


def test_configmap_crud(api, namespace):
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="crud"), data={"colour": "blue"})
    created = core.create_namespaced_config_map(namespace, body)
    assert created.metadata.uid

    assert core.read_namespaced_config_map("crud", namespace).data == {"colour": "blue"}
    patched = core.patch_namespaced_config_map("crud", namespace, {"data": {"colour": "green", "size": "3"}})
    assert patched.data == {"colour": "green", "size": "3"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    assert [item.metadata.name for item in core.list_namespaced_config_map(namespace).items
            if item.metadata.name == "crud"] == ["crud"]

    core.delete_namespaced_config_map("crud", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("crud", namespace)
    assert missing.value.status == 404


def test_watch_receives_added_and_deleted_events(api, namespace):
    core = client.CoreV1Api(api)
    since = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched")))
    core.delete_namespaced_config_map("watched", namespace)

    seen = []
    watcher = watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, namespace, resource_version=since,
                                timeout_seconds=20):
        if event["object"].metadata.name == "watched":
            seen.append(event["type"])
        if seen == ["ADDED", "DELETED"]:
            watcher.stop()
    assert seen == ["ADDED", "DELETED"]


def test_workloads_reach_running_on_a_kwok_node(api, namespace, kwok_node):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    wait_for(f"node {kwok_node} Ready", lambda: node_ready(core, kwok_node))

    def pod_template(app: str) -> client.V1PodTemplateSpec:
        return client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": app}),
            spec=client.V1PodSpec(node_selector={"kubernetes.io/hostname": kwok_node},
                                  containers=[client.V1Container(name=app, image="registry.invalid/web:1")]),
        )

    selector = client.V1LabelSelector(match_labels={"app": "web"})
    apps.create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(replicas=2, selector=selector, template=pod_template("web"))))
    apps.create_namespaced_stateful_set(namespace, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1StatefulSetSpec(replicas=2, service_name="db", template=pod_template("db"),
                                      selector=client.V1LabelSelector(match_labels={"app": "db"}))))

    wait_for("deployment web available", lambda: (apps.read_namespaced_deployment_status("web", namespace)
                                                  .status.available_replicas or 0) == 2)
    wait_for("statefulset db ready", lambda: (apps.read_namespaced_stateful_set_status("db", namespace)
                                              .status.ready_replicas or 0) == 2)
    pods = core.list_namespaced_pod(namespace).items
    assert sorted(pod.metadata.name for pod in pods if pod.metadata.name.startswith("db-")) == ["db-0", "db-1"]
    assert {pod.status.phase for pod in pods} == {"Running"}
    assert {pod.spec.node_name for pod in pods} == {kwok_node}
    assert all(pod.status.pod_ip for pod in pods)


def test_service_account_token_authenticates_and_rbac_denies(api, namespace, k8s_cluster):
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    rbac.create_namespaced_role(namespace, client.V1Role(
        metadata=client.V1ObjectMeta(name="configmap-reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])]))
    rbac.create_namespaced_role_binding(namespace, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="reader"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="configmap-reader"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)]))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="visible")))

    token = core.create_namespaced_service_account_token("reader", namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token
    with bearer_client(k8s_cluster, token) as reader_api:
        review = client.AuthenticationV1Api(reader_api).create_self_subject_review(
            client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"
        reader = client.CoreV1Api(reader_api)
        assert [cm.metadata.name for cm in reader.list_namespaced_config_map(namespace).items
                if cm.metadata.name == "visible"] == ["visible"]
        for forbidden in (lambda: reader.delete_namespaced_config_map("visible", namespace),
                          lambda: reader.list_namespaced_secret(namespace),
                          lambda: reader.list_namespaced_config_map("default")):
            with pytest.raises(ApiException) as denied:
                forbidden()
            assert denied.value.status == 403
    assert core.read_namespaced_config_map("visible", namespace).metadata.name == "visible"

    with bearer_client(k8s_cluster, token[:-4] + "AAAA") as bogus_api, pytest.raises(ApiException) as rejected:
        client.CoreV1Api(bogus_api).list_namespaced_config_map(namespace)
    assert rejected.value.status == 401


def test_helm_installs_and_uninstalls_a_chart(api, namespace, kwok_node, k8s_cluster, tmp_path):
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\nkubeVersion: '>=1.30.0-0'\n")
    (chart / "values.yaml").write_text("greeting: hello\nnode: ''\n")
    (chart / "templates" / "objects.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-settings
        data:
          greeting: {{ .Values.greeting | quote }}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-app
        spec:
          replicas: 1
          selector:
            matchLabels: {app: {{ .Release.Name }}}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}}
            spec:
              nodeSelector: {kubernetes.io/hostname: {{ .Values.node | quote }}}
              containers:
                - name: app
                  image: registry.invalid/app:1
        """))
    env = {**os.environ, **k8s_cluster.env,
           "HELM_CONFIG_HOME": str(tmp_path / "config"), "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_DATA_HOME": str(tmp_path / "data")}

    def helm(*args: str) -> str:
        done = subprocess.run([str(k8s_cluster.helm), *args, "--namespace", namespace], env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert helm("version", "--short").startswith("v3.")
    helm("install", "demo", str(chart), "--set", "greeting=bonjour", "--set", f"node={kwok_node}",
         "--wait", "--timeout", "90s")
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    assert core.read_namespaced_config_map("demo-settings", namespace).data == {"greeting": "bonjour"}
    assert apps.read_namespaced_deployment_status("demo-app", namespace).status.available_replicas == 1
    releases = json.loads(helm("list", "--output", "json"))
    assert [(r["name"], r["status"], r["chart"]) for r in releases] == [("demo", "deployed", "tiny-0.1.0")]

    helm("uninstall", "demo", "--wait", "--timeout", "60s")
    assert json.loads(helm("list", "--output", "json")) == []
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("demo-settings", namespace)
    assert gone.value.status == 404


def test_kubernetes_core_k8s_info_uses_k8s_auth_kubeconfig(api, namespace, k8s_cluster):
    client.CoreV1Api(api).create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="for-ansible"), data={"answer": "42"}))
    # KUBECONFIG left out: the module must find the cluster through K8S_AUTH_KUBECONFIG.
    env = {key: value for key, value in {**os.environ, **k8s_cluster.env}.items() if key != "KUBECONFIG"}
    env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    ansible = Path(sys.executable).parent / "ansible"
    done = subprocess.run(
        [str(ansible), "localhost", "-c", "local", "-i", "localhost,",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "kubernetes.core.k8s_info", "-a", f"kind=ConfigMap namespace={namespace} name=for-ansible"],
        env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert [resource["data"] for resource in result["resources"]] == [{"answer": "42"}]


def test_cli_start_is_a_no_op_and_env_feeds_a_shell(k8s_cluster):
    script = Path(__file__).resolve().parent.parent / "cluster" / "testcluster.py"
    again = subprocess.run([sys.executable, str(script), "start"], capture_output=True, text=True, timeout=60,
                           check=False)
    assert again.returncode == 0, again.stderr
    assert "already running and healthy" in again.stderr
    status = subprocess.run([sys.executable, str(script), "status"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert status.returncode == 0
    assert [line.split()[1] for line in status.stdout.splitlines()] == ["healthy"] * 5

    shell = subprocess.run(
        ["bash", "-c", f'eval "$({sys.executable} {script} env)" && command -v helm kubectl && '
                       'test "$K8S_AUTH_KUBECONFIG" = "$KUBECONFIG" && kubectl get --raw /readyz'],
        capture_output=True, text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines() == [str(k8s_cluster.helm), str(k8s_cluster.kubectl), "ok"]


def test_build_refuses_a_go_mod_that_disagrees_with_versions_env(monkeypatch):
    monkeypatch.setattr(testcluster, "KUBERNETES_VERSION", "v1.36.2")
    with pytest.raises(testcluster.ClusterError, match=r"go\.mod does not match KUBERNETES_VERSION=v1\.36\.2"):
        testcluster.check_kubernetes_module()


def test_a_module_the_proxy_refuses_fails_with_the_exact_command():
    with pytest.raises(testcluster.ClusterError) as refused:
        testcluster.go_module_info("sigs.k8s.io/kwok", "v9.9.9")
    message = str(refused.value)
    assert "the Go module proxy did not deliver sigs.k8s.io/kwok@v9.9.9" in message
    assert "GOTOOLCHAIN=local go mod download -json sigs.k8s.io/kwok@v9.9.9" in message
    assert "error: " in message and len(message.split("error: ", 1)[1]) > 10


ISOLATED_PORTS = testcluster.Ports(api=26443, etcd_client=33790, etcd_peer=33800, controller_manager=20257,
                                   scheduler=20259, kwok=20247)


@pytest.fixture()
def isolated_cluster(k8s_cluster, tmp_path):
    """A second control plane on other ports, so that start and stop are tested without disturbing
    the shared one (k8s_cluster is requested for the binaries it guarantees)."""
    cluster = testcluster.Cluster(state=tmp_path / "cluster", ports=ISOLATED_PORTS)
    yield cluster
    cluster.stop()


def running(pid: int) -> bool:
    """False for a zombie too: this sandbox's init may take its time to reap orphans."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_start_stop_and_restart_of_an_isolated_cluster(isolated_cluster):
    cluster = isolated_cluster
    assert cluster.start() is True
    assert cluster.start() is False
    assert all(text.startswith("healthy") for text in cluster.status().values())
    with config.new_client_from_config(config_file=str(cluster.kubeconfig)) as isolated_api:
        client.CoreV1Api(isolated_api).create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="before-restart")))
    pids = [cluster.pid(component) for component in cluster.components()]
    ca_before = (cluster.pki / "ca.crt").read_bytes()

    cluster.stop()
    assert set(cluster.status().values()) == {"stopped"}
    assert not [pid for pid in pids if running(pid)]
    for port in dataclasses.astuple(ISOLATED_PORTS):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"

    assert cluster.start() is True
    assert (cluster.pki / "ca.crt").read_bytes() == ca_before
    with config.new_client_from_config(config_file=str(cluster.kubeconfig)) as isolated_api:
        core = client.CoreV1Api(isolated_api)
        with pytest.raises(ApiException) as emptied:
            core.read_namespaced_config_map("before-restart", "default")
        assert emptied.value.status == 404
        assert core.read_namespaced_service_account("default", "default").metadata.name == "default"


def test_a_component_that_exits_fails_the_start_with_its_log(isolated_cluster, monkeypatch):
    healthy_components = testcluster.Cluster.components

    def with_a_broken_scheduler(self):
        return [dataclasses.replace(component, args=(*component.args, "--no-such-flag"))
                if component.name == "kube-scheduler" else component for component in healthy_components(self)]

    monkeypatch.setattr(testcluster.Cluster, "components", with_a_broken_scheduler)
    with pytest.raises(testcluster.ClusterError) as failed:
        isolated_cluster.start()
    assert "kube-scheduler exited; last lines of" in str(failed.value)
    assert "unknown flag: --no-such-flag" in str(failed.value)
