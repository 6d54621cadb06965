"""Helpers shared by the Onedata integration tests (test_onedata*.py)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import running_fake_onezone


def kubectl(cluster, *args, check=False, stdin=None):
    return subprocess.run([str(cluster.kubectl), *args], env=dict(cluster.env), input=stdin, capture_output=True,
                          text=True, check=check)


def kubectl_json(cluster, *args):
    done = kubectl(cluster, *args, "-o", "json")
    return json.loads(done.stdout) if done.returncode == 0 else None


def decoded(secret):
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def assert_no_token(output, *tokens):
    for token in tokens:
        assert token not in output, "a token reached the ansible-playbook output"
        # A fragment from the middle catches partial or re-wrapped copies too.
        assert token[len(token) // 2:len(token) // 2 + 32] not in output


@pytest.fixture(scope="module")
def onezone(tmp_path_factory):
    """The FAKE Onezone on 127.0.0.1 (tests/fakes/onezone), for the length of a test module."""
    with running_fake_onezone(tmp_path_factory.mktemp("onezone")) as fake:
        yield fake
