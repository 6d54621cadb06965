"""sciplat.k8s.generated_secret against the real API server: values made once, never shown, never remade."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from api_counting_proxy import CountingProxy
from k8s_support import decoded, get, kubectl
from playbooks import run_playbook

NAMESPACE = "generated-secret-test"


def secret_task(name, keys, **extra):
    return {"name": "generated secret", "sciplat.k8s.generated_secret": dict(
        name=name, namespace=NAMESPACE, keys=keys, **extra)}


def play(*tasks):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


@pytest.fixture(scope="module")
def namespace(k8s_cluster):
    kubectl(k8s_cluster, "create", "namespace", NAMESPACE, check=False)
    yield NAMESPACE
    kubectl(k8s_cluster, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


KEYS = [
    {"name": "db-password"},
    {"name": "cookie-secret", "generate": "base64_bytes", "length": 32},
    {"name": "jwt-key", "generate": "rsa_private_key"},
    {"name": "client-id", "generate": "uuid"},
]


def test_created_once_and_never_regenerated(k8s_cluster, namespace, tmp_path):
    first = run_playbook(play(secret_task("app", KEYS)), k8s_cluster.env, "--diff", "-vvv", workdir=tmp_path)
    assert first.changed == 1
    created = get(k8s_cluster, "secret", "app", "-n", namespace)
    values = decoded(created)
    assert set(values) == {"db-password", "cookie-secret", "jwt-key", "client-id"}
    assert len(values["db-password"]) == 32 and values["db-password"].isalnum()
    assert len(base64.b64decode(values["cookie-secret"])) == 32
    assert values["jwt-key"].startswith("-----BEGIN PRIVATE KEY-----")
    for value in values.values():
        for line in value.splitlines():
            if len(line) > 8 and "PRIVATE KEY" not in line:
                assert line not in first.output, "a generated value reached the -vvv/--diff output"

    second = run_playbook(play(secret_task("app", KEYS)), k8s_cluster.env, "--diff", workdir=tmp_path)
    assert second.changed == 0
    again = get(k8s_cluster, "secret", "app", "-n", namespace)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert decoded(again) == values


def test_a_new_key_is_added_without_touching_the_others(k8s_cluster, namespace, tmp_path):
    run_playbook(play(secret_task("grow", KEYS[:1])), k8s_cluster.env, workdir=tmp_path)
    before = decoded(get(k8s_cluster, "secret", "grow", "-n", namespace))
    run = run_playbook(play(secret_task("grow", KEYS[:2], labels={"team": "a"})), k8s_cluster.env,
                       workdir=tmp_path)
    assert run.changed == 1
    after_secret = get(k8s_cluster, "secret", "grow", "-n", namespace)
    after = decoded(after_secret)
    assert after["db-password"] == before["db-password"]
    assert set(after) == {"db-password", "cookie-secret"}
    assert after_secret["metadata"]["labels"]["team"] == "a"


def test_check_mode_predicts_without_writing(k8s_cluster, namespace, tmp_path):
    run = run_playbook(play(secret_task("checked", KEYS[:1])), k8s_cluster.env, "--check", "--diff",
                       workdir=tmp_path)
    assert run.changed == 1
    assert "<generated>" in run.output
    assert get(k8s_cluster, "secret", "checked", "-n", namespace) is None


def test_bad_input_fails_before_any_write(k8s_cluster, namespace, tmp_path):
    bad = [{"name": "ok"}, {"name": "has space"}, {"name": "key", "generate": "rsa_private_key", "length": 1024}]
    run = run_playbook(play(secret_task("bad", bad)), k8s_cluster.env, workdir=tmp_path, expect_rc=2)
    assert "'has space' is not a valid Secret key" in run.output
    assert "RSA key length must be one of 2048, 3072, 4096" in run.output
    assert get(k8s_cluster, "secret", "bad", "-n", namespace) is None


def test_absent_deletes(k8s_cluster, namespace, tmp_path):
    run_playbook(play(secret_task("gone", KEYS[:1])), k8s_cluster.env, workdir=tmp_path)
    run = run_playbook(play(secret_task("gone", [], state="absent")), k8s_cluster.env, workdir=tmp_path)
    assert run.changed == 1
    assert get(k8s_cluster, "secret", "gone", "-n", namespace) is None
    rerun = run_playbook(play(secret_task("gone", [], state="absent")), k8s_cluster.env, workdir=tmp_path)
    assert rerun.changed == 0


@pytest.fixture
def proxy(k8s_cluster):
    with CountingProxy(k8s_cluster.kubeconfig) as counting:
        yield counting


def writer(k8s_cluster, *args):
    """A second writer, as another operator's kubectl or a concurrent run would be."""
    kubectl(k8s_cluster, *args, "-n", NAMESPACE)


def test_a_concurrent_writer_between_read_and_write_is_kept(k8s_cluster, namespace, tmp_path, proxy):
    run_playbook(play(secret_task("race", KEYS[:1])), k8s_cluster.env, workdir=tmp_path)
    before = decoded(get(k8s_cluster, "secret", "race", "-n", namespace))
    interfered = []

    def concurrent_writer(request):
        if request.method == "PATCH" and not interfered:
            writer(k8s_cluster, "patch", "secret", "race", "--type=merge",
                   "-p", json.dumps({"stringData": {"added-meanwhile": "theirs"}}))
            interfered.append(request.path)

    proxy.before_forward = concurrent_writer
    run = run_playbook(play(secret_task("race", KEYS[:2], kubeconfig=str(proxy.kubeconfig))), k8s_cluster.env,
                       workdir=tmp_path)
    assert run.changed == 1 and interfered
    # The first PATCH carried the resourceVersion of the read: the real API server refused it (409), the module read
    # again and patched on top of the other writer's change.
    assert [r.method for r in proxy.requests] == ["GET", "PATCH", "GET", "PATCH"]
    after = decoded(get(k8s_cluster, "secret", "race", "-n", namespace))
    assert after["added-meanwhile"] == "theirs" and after["db-password"] == before["db-password"]
    assert "cookie-secret" in after


def test_a_secret_created_meanwhile_is_never_overwritten(k8s_cluster, namespace, tmp_path, proxy):
    interfered = []

    def concurrent_creator(request):
        if request.method == "POST" and not interfered:
            writer(k8s_cluster, "create", "secret", "generic", "created-meanwhile", "--from-literal=db-password=theirs")
            interfered.append(request.path)

    proxy.before_forward = concurrent_creator
    run = run_playbook(play(secret_task("created-meanwhile", KEYS[:2], kubeconfig=str(proxy.kubeconfig))),
                       k8s_cluster.env, workdir=tmp_path)
    assert run.changed == 1
    assert [r.method for r in proxy.requests] == ["GET", "POST", "GET", "PATCH"], "409 AlreadyExists, read again"
    values = decoded(get(k8s_cluster, "secret", "created-meanwhile", "-n", namespace))
    assert values["db-password"] == "theirs", "the other writer's value is kept"
    assert len(values["cookie-secret"]) > 8


def test_an_unreachable_api_server_is_a_clear_failure(k8s_cluster, namespace, tmp_path, proxy):
    proxy.before_forward = lambda request: (503, "the API server is restarting (injected by the test proxy)")
    run = run_playbook(play(secret_task("unreachable", KEYS[:1], kubeconfig=str(proxy.kubeconfig))),
                       k8s_cluster.env, workdir=tmp_path, expect_rc=2)
    assert "Secret generated-secret-test/unreachable: 503" in run.output
    assert "Traceback" not in run.output and "MODULE FAILURE" not in run.output
    assert get(k8s_cluster, "secret", "unreachable", "-n", namespace) is None


def test_an_api_server_that_is_down_is_a_clear_failure(k8s_cluster, namespace, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = tmp_path / "down.kubeconfig"
    down.write_text(Path(k8s_cluster.kubeconfig).read_text().replace(k8s_cluster.server, f"https://127.0.0.1:{closed_port}"))
    run = run_playbook(play(secret_task("down", KEYS[:1], kubeconfig=str(down))), k8s_cluster.env, workdir=tmp_path,
                       expect_rc=2)
    assert "Cannot reach the Kubernetes API server for Secret generated-secret-test/down" in run.output
    assert "K8S_AUTH_KUBECONFIG" in run.output
    assert "Traceback" not in run.output and "MODULE FAILURE" not in run.output
