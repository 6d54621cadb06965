"""sciplat.k8s.onedata_token_secret against the real API server, with the FAKE Onezone on loopback.

Proves: create, rerun unchanged, a token rotation writes exactly one Secret and one key, check mode
writes nothing, the online check refuses bad tokens before any write, and neither `-vvv` nor
`--diff` output ever holds a token.
"""

from __future__ import annotations

import time

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils.onedata import fingerprint
from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    SPACE_ID,
)
from ansible_collections.sciplat.k8s.tests.fakes.onezone.tokens import make_token
from onedata_support import assert_no_token, kubectl_json
from k8s_support import decoded, kubectl
from playbooks import run_playbook

NAMESPACE = "onedata-module-test"


def get_secret(cluster, name):
    return kubectl_json(cluster, "get", "secret", name, "-n", NAMESPACE)


@pytest.fixture(scope="module")
def namespace(k8s_cluster):
    kubectl(k8s_cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=120s", check=False)
    kubectl(k8s_cluster, "create", "namespace", NAMESPACE)
    yield NAMESPACE
    kubectl(k8s_cluster, "delete", "namespace", NAMESPACE, "--wait=false", check=False)


def secret_task(name, token_var, register=None, **extra):
    task = {"name": f"secret {name}", "sciplat.k8s.onedata_token_secret": dict(
        name=name, namespace=NAMESPACE, token="{{ %s }}" % token_var, provider_host=PROVIDER_DOMAIN,
        space_id=SPACE_ID, oneclient_options="--force-direct-io", **extra), "no_log": True}
    if register:
        task["register"] = register
    return task


def play(*tasks):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


def show(register):
    """A task that prints what the module returned for the rotation check (fingerprints only)."""
    return {"name": f"show {register}", "ansible.builtin.debug": {"var": register}}


def test_create_rerun_rotate_and_check_mode(k8s_cluster, namespace, onezone, tmp_path):
    token_a, token_b, token_a2 = onezone.issue(), onezone.issue(), onezone.issue()
    tokens = {"token_a": token_a, "token_b": token_b}
    plays = play(secret_task("alpha", "token_a", register="alpha"), secret_task("beta", "token_b"), show("alpha"))

    predicted = run_playbook(plays, k8s_cluster.env, "--check", "--diff", "-vvv", workdir=tmp_path, extra_vars=tokens)
    assert predicted.changed == 2
    assert get_secret(k8s_cluster, "alpha") is None and get_secret(k8s_cluster, "beta") is None
    assert fingerprint(token_a) in predicted.output
    assert_no_token(predicted.output, token_a, token_b)

    created = run_playbook(plays, k8s_cluster.env, "--diff", "-vvv", workdir=tmp_path, extra_vars=tokens)
    assert created.changed == 2
    alpha, beta = get_secret(k8s_cluster, "alpha"), get_secret(k8s_cluster, "beta")
    assert decoded(alpha) == {"host": PROVIDER_DOMAIN, "onedata_token": token_a, "space_id": SPACE_ID,
                              "oneclient_options": "--force-direct-io"}
    assert alpha["type"] == "Opaque" and decoded(beta)["onedata_token"] == token_b
    assert '"onedata_token": "%s"' % fingerprint(token_a) in created.output
    assert_no_token(created.output, token_a, token_b)

    rerun = run_playbook(plays, k8s_cluster.env, "--diff", workdir=tmp_path, extra_vars=tokens)
    assert rerun.changed == 0
    assert get_secret(k8s_cluster, "alpha")["metadata"]["resourceVersion"] == alpha["metadata"]["resourceVersion"]
    assert get_secret(k8s_cluster, "beta")["metadata"]["resourceVersion"] == beta["metadata"]["resourceVersion"]

    rotated_tokens = dict(tokens, token_a=token_a2)
    check_rotation = run_playbook(plays, k8s_cluster.env, "--check", "--diff", workdir=tmp_path,
                                  extra_vars=rotated_tokens)
    assert check_rotation.changed == 1
    assert decoded(get_secret(k8s_cluster, "alpha"))["onedata_token"] == token_a

    rotation = run_playbook(plays, k8s_cluster.env, "--diff", "-vvv", workdir=tmp_path, extra_vars=rotated_tokens)
    assert rotation.changed == 1
    assert '"changed_keys": [\n            "onedata_token"\n        ]' in rotation.output
    assert fingerprint(token_a) in rotation.output and fingerprint(token_a2) in rotation.output
    new_alpha, new_beta = get_secret(k8s_cluster, "alpha"), get_secret(k8s_cluster, "beta")
    assert new_alpha["metadata"]["resourceVersion"] != alpha["metadata"]["resourceVersion"]
    assert new_beta["metadata"]["resourceVersion"] == beta["metadata"]["resourceVersion"]
    assert decoded(new_alpha) == dict(decoded(alpha), onedata_token=token_a2)
    assert_no_token(rotation.output, token_a, token_a2, token_b)


def test_labels_merge_and_custom_keys(k8s_cluster, namespace, onezone, tmp_path):
    token = onezone.issue()
    kubectl(k8s_cluster, "create", "secret", "generic", "labelled", "-n", NAMESPACE, "--from-literal=stale=1",
            check=True)
    kubectl(k8s_cluster, "label", "secret", "labelled", "-n", NAMESPACE, "owner=someone")
    task = secret_task("labelled", "tok", labels={"app": "scipion"}, annotations={"note": "x"},
                       secret_keys={"token": "token", "host": "provider"})
    run = run_playbook(play(task), k8s_cluster.env, workdir=tmp_path, extra_vars={"tok": token})
    assert run.changed == 1
    secret = get_secret(k8s_cluster, "labelled")
    assert decoded(secret) == {"provider": PROVIDER_DOMAIN, "token": token, "space_id": SPACE_ID,
                               "oneclient_options": "--force-direct-io"}
    assert secret["metadata"]["labels"] == {"owner": "someone", "app": "scipion"}
    assert secret["metadata"]["annotations"]["note"] == "x"
    assert run_playbook(play(task), k8s_cluster.env, workdir=tmp_path, extra_vars={"tok": token}).changed == 0


def test_awx_style_environment_and_online_check(k8s_cluster, namespace, onezone, tmp_path):
    """Token and Onezone host come from the environment, as an AWX custom credential injects them."""
    token = onezone.issue(valid_until=int(time.time()) + 3600)
    task = {"name": "secret from env", "no_log": True, "sciplat.k8s.onedata_token_secret": dict(
        name="from-env", namespace=NAMESPACE, provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID,
        validate_online=True, onezone_ca_path=onezone.ca_path)}
    env = dict(k8s_cluster.env, ONEDATA_TOKEN=token, ONEZONE_HOST=onezone.address)
    before = len(onezone.paths)
    run = run_playbook(play(task), env, "-vvv", workdir=tmp_path)
    assert run.changed == 1
    assert onezone.paths[before:] == ["/api/v3/onezone/tokens/examine",
                                      "/api/v3/onezone/tokens/infer_access_token_scope"]
    assert decoded(get_secret(k8s_cluster, "from-env"))["onedata_token"] == token
    assert_no_token(run.output, token)


@pytest.mark.parametrize("case,expected", [
    ("wrong_space", "does not give access to space %s" % OTHER_SPACE_ID),
    ("expired", "expired at"),
    ("unknown_token", "does not accept the token (badToken)"),
    ("timeout", "no answer within 2 seconds"),
])
def test_online_check_refuses_before_writing(k8s_cluster, namespace, onezone, tmp_path, case, expected):
    token = {"expired": lambda: onezone.issue(valid_until=int(time.time()) - 60),
             "unknown_token": make_token}.get(case, onezone.issue)()
    name = "refused-" + case.replace("_", "-")
    task = secret_task(name, "tok", validate_online=True, onezone_host=onezone.address,
                       onezone_ca_path=onezone.ca_path, onezone_timeout=2)
    if case == "wrong_space":
        task["sciplat.k8s.onedata_token_secret"]["space_id"] = OTHER_SPACE_ID
    onezone.delay = 3.0 if case == "timeout" else 0.0
    try:
        run = run_playbook(play(task), k8s_cluster.env, "-vvv", workdir=tmp_path, extra_vars={"tok": token},
                           expect_rc=2)
    finally:
        onezone.delay = 0.0
    assert expected in run.output
    assert "Traceback" not in run.output
    assert get_secret(k8s_cluster, name) is None
    assert_no_token(run.output, token)


def test_absent(k8s_cluster, namespace, onezone, tmp_path):
    token = onezone.issue()
    run_playbook(play(secret_task("doomed", "tok")), k8s_cluster.env, workdir=tmp_path, extra_vars={"tok": token})
    gone = {"name": "remove",
            "sciplat.k8s.onedata_token_secret": dict(name="doomed", namespace=NAMESPACE, state="absent")}
    assert run_playbook(play(gone), k8s_cluster.env, "--diff", workdir=tmp_path).changed == 1
    assert get_secret(k8s_cluster, "doomed") is None
    assert run_playbook(play(gone), k8s_cluster.env, workdir=tmp_path).changed == 0
