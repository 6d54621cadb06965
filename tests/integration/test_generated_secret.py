"""sciplat.k8s.generated_secret against the real API server: values made once, never shown, never remade."""

from __future__ import annotations

import base64

import pytest

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
