"""Helpers shared by the Onedata integration tests (test_onedata*.py)."""

from __future__ import annotations

import json

from k8s_support import kubectl


def kubectl_json(cluster, *args):
    done = kubectl(cluster, *args, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def assert_no_token(output, *tokens):
    for token in tokens:
        assert token not in output, "a token reached the ansible-playbook output"
        # A fragment from the middle catches partial or re-wrapped copies too.
        assert token[len(token) // 2:len(token) // 2 + 32] not in output
