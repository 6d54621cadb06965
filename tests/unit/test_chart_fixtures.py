"""Consistency of tests/fixtures/charts/*.yml, the upstream chart facts that role contract tests rely on.

A contract test asserts that every Helm value a role sets is a key the pinned chart reads; that only
holds if these records are themselves well-formed, so they are checked here.
"""
import pathlib
import re

import pytest
import yaml

CHARTS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "charts"
FIXTURES = sorted(CHARTS.glob("*.yml"))
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def load(path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def known_keys(doc):
    return set(doc.get("value_keys") or []) | set(doc.get("template_reads") or []) | set(
        doc.get("value_keys_known_from_consumers") or [])


def test_every_role_chart_has_a_record():
    names = {path.stem for path in FIXTURES}
    assert {"csi_onedata"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_source_is_pinned_or_says_why_not(path):
    doc = load(path)
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", doc["repository"])
    assert doc["path"]
    if doc["commit"] is None:
        assert "NOT AVAILABLE" in doc["commit_note"]
    else:
        assert COMMIT.match(doc["commit"])
        for path_read, commit in doc["files_read"].items():
            assert COMMIT.match(commit.split()[0]), path_read


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_key_lists_are_sorted_unique_dotted_paths(path):
    doc = load(path)
    for field in ("value_keys", "template_reads", "value_keys_known_from_consumers",
                  "read_but_not_in_values", "in_values_but_not_read"):
        values = doc.get(field) or []
        assert values == sorted(set(values)), field
        assert all(re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", key) for key in values), field


@pytest.mark.parametrize("path", [p for p in FIXTURES if load(p).get("value_keys")], ids=lambda p: p.stem)
def test_differences_match_the_two_lists(path):
    doc = load(path)
    values, reads = set(doc["value_keys"]), set(doc["template_reads"])

    def under(key, roots):
        return any(key == root or key.startswith(root + ".") for root in roots)

    assert doc["read_but_not_in_values"] == sorted(
        r for r in reads if not any(k == r or k.startswith(r + ".") for k in values))
    assert doc["in_values_but_not_read"] == sorted(k for k in values if not under(k, reads))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_required_and_paired_keys_are_known_keys(path):
    doc = load(path)
    keys = known_keys(doc)
    if not keys:
        assert not doc.get("required")
        return
    for item in doc.get("required") or []:
        assert item["key"] in keys and item["reason"], item
    for pair in doc.get("must_match") or []:
        assert set(pair) <= keys, pair
    for key in doc.get("booleans") or []:
        assert key in keys, key


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_secrets_name_their_keys(path):
    for secret in load(path).get("secrets") or []:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", secret["name"]), secret
        assert secret["keys"] and all(isinstance(k, str) and k for k in secret["keys"]), secret
