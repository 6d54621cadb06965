"""Key-path contracts of the scipion and cytomine roles against the recorded upstream chart facts.

The roles' values are rendered with ansible-core's own templating from roles/<role>/{defaults,vars}/main.yml
(no cluster), then compared with tests/fixtures/charts/<chart>.yml: a value the chart does not read is a
silent bug, a required key the role leaves unset breaks rendering. The stand-in charts under tests/charts/
must consume the same keys.
"""
import functools
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "charts"
SPACE_A = "5b2f4e8a9c1d3f60718293a4b5c6d7e8ch1a2b"
SPACE_B = "a1b2c3d4e5f60718293a4b5c6d7e8f90ch3c4d"

# Runs in a child process: loading ansible's controller side into the unit-test process changes how
# in-process module runs report warnings, which other unit tests read.
RENDER = r"""
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

def trusted(data):
    # Role files are trusted templates, as when ansible-playbook loads them.
    if isinstance(data, str):
        return trust_as_template(data)
    if isinstance(data, dict):
        return {key: trusted(value) for key, value in data.items()}
    if isinstance(data, list):
        return [trusted(value) for value in data]
    return data

request = json.load(sys.stdin)
init_plugin_loader()
loader = DataLoader()
variables = {}
for part in ("defaults", "vars"):
    variables.update(trusted(loader.load_from_file(request["root"] + "/roles/" + request["role"] + "/" + part + "/main.yml")))
variables.update(trusted(request["overrides"]))
templar = Templar(loader=loader, variables=variables)
json.dump({name: templar.template(variables[name]) for name in request["names"]}, sys.stdout)
"""


@functools.lru_cache(maxsize=None)
def _render(role, names, overrides_json):
    request = {"root": str(REPO), "role": role, "names": list(names), "overrides": json.loads(overrides_json)}
    done = subprocess.run([sys.executable, "-c", RENDER], input=json.dumps(request), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(role, *names, **overrides):
    """The role's variables `names`, templated by ansible-core from its defaults and vars plus `overrides`."""
    return json.loads(_render(role, names, json.dumps(overrides, sort_keys=True)))


def leaf_paths(values, prefix=""):
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths |= leaf_paths(value, path + ".")
        else:
            paths.add(path)
    return paths


def at(values, path):
    for part in path.split("."):
        values = values[part]
    return values


def covered(path, known):
    """A path is known when it or one of its ancestors is (template_reads name maps such as core.resources)."""
    parts = path.split(".")
    return any(".".join(parts[:index]) in known for index in range(1, len(parts) + 1))


def fixture(name):
    return yaml.safe_load((FIXTURES / f"{name}.yml").read_text())


# ---------------------------------------------------------------------------------------------------------
# scipion
# ---------------------------------------------------------------------------------------------------------

SCIPION = fixture("scipion")
PORTAL_KEYS = set(SCIPION["value_keys_known_from_consumers"])


def scipion_values(instance, **overrides):
    overrides.setdefault("scipion_onedata_tokens", {instance["name"]: {"dataset": "tok-d", "project": "tok-p"}})
    rendered = render("scipion", "__scipion_values", "__scipion_chart_keys_assumed", scipion_instances=[instance],
                      __scipion_instance="{{ __scipion_instances[0] }}",
                      __scipion_vnc_passwords={instance["name"]: "0123456789abcdef0123456789abcdef"}, **overrides)
    return rendered["__scipion_values"], set(rendered["__scipion_chart_keys_assumed"].values())


def scipion_instance(**extra):
    return dict({"name": "alice", "dataset": {"host": "op.example.org", "space_id": SPACE_A},
                 "project": {"host": "op2.example.org", "space_id": SPACE_B}}, **extra)


GPU_NODEPORT = scipion_instance(gpu=2, vnc_node_port=32000)
INGRESS = scipion_instance(vnc_access="ingress", vnc_host="alice.example.org")


def test_scipion_known_keys_are_exactly_the_portal_keys():
    known = render("scipion", "__scipion_chart_keys_known")["__scipion_chart_keys_known"]
    assert set(known.values()) == PORTAL_KEYS


def test_scipion_assumed_keys_are_not_known_and_are_documented():
    assumed = set(render("scipion", "__scipion_chart_keys_assumed")["__scipion_chart_keys_assumed"].values())
    readme = (REPO / "roles" / "scipion" / "README.md").read_text()
    assert not assumed & PORTAL_KEYS
    for key in assumed:
        assert f"`{key}`" in readme, key


@pytest.mark.parametrize("instance", [GPU_NODEPORT, INGRESS], ids=["gpu-nodeport", "ingress"])
def test_scipion_sets_only_portal_or_assumed_keys_and_every_required_one(instance):
    values, assumed = scipion_values(instance)
    unknown = sorted(p for p in leaf_paths(values) if not covered(p, PORTAL_KEYS | assumed))
    assert unknown == []
    for item in SCIPION["required"]:
        assert at(values, item["key"]) not in ("", None), item["key"]
    assert values["od"]["dataset"]["spaceIdShort"] == SPACE_A[:8]
    assert values["od"]["project"]["spaceIdShort"] == SPACE_B[:8]
    for key in SCIPION["booleans"]:
        assert isinstance(at(values, key), bool), key


def test_scipion_gpu_and_vnc_settings():
    values, dummy = scipion_values(GPU_NODEPORT)
    assert values["instance"]["gpu"] == 2
    assert values["instance"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert values["vnc"]["serviceType"] == "NodePort" and values["vnc"]["nodePort"] == 32000
    assert values["vnc"]["ingress"] == {"enabled": False}
    values, dummy = scipion_values(INGRESS)
    assert "gpu" not in values["instance"] and "nodeSelector" not in values["instance"]
    assert "nodePort" not in values["vnc"] and values["vnc"]["serviceType"] == "ClusterIP"
    assert values["vnc"]["ingress"] == {"enabled": True, "host": "alice.example.org", "className": "public"}


@pytest.mark.parametrize("tokens, fallback, expected", [
    ({"alice": {"dataset": "tok-d", "project": "tok-p"}}, "", ("tok-d", "tok-p")),
    ({"alice": "tok-both"}, "tok-fallback", ("tok-both", "tok-both")),
    ({"alice": {"dataset": "tok-d"}}, "tok-fallback", ("tok-d", "tok-fallback")),
    ({"bob": "tok-bob"}, "tok-fallback", ("tok-fallback", "tok-fallback")),
])
def test_scipion_tokens_per_instance_then_fallback(tokens, fallback, expected):
    values, dummy = scipion_values(GPU_NODEPORT, scipion_onedata_tokens=tokens, scipion_onedata_token=fallback)
    assert (values["od"]["dataset"]["token"], values["od"]["project"]["token"]) == expected


def test_scipion_chart_keys_remap_or_leave_out_a_setting():
    remap = {"gpu": "resources.gpus", "node_selector": ""}
    values, dummy = scipion_values(GPU_NODEPORT, scipion_chart_keys=remap)
    assert values["resources"]["gpus"] == 2
    assert "gpu" not in values["instance"] and "nodeSelector" not in values["instance"]


def test_scipion_stand_in_chart_reads_every_key_the_role_sets():
    chart_values = yaml.safe_load((REPO / "tests" / "charts" / "scipion" / "values.yaml").read_text())
    chart_keys = leaf_paths(chart_values)
    for instance in (GPU_NODEPORT, INGRESS):
        values, dummy = scipion_values(instance)
        assert sorted(p for p in leaf_paths(values) if not covered(p, chart_keys)) == []
    assert PORTAL_KEYS <= chart_keys


# ---------------------------------------------------------------------------------------------------------
# cytomine
# ---------------------------------------------------------------------------------------------------------

CYTOMINE = fixture("cytomine")
CYTOMINE_KEYS = set(CYTOMINE["value_keys"]) | set(CYTOMINE["template_reads"])


def cytomine_values(*names, **overrides):
    overrides.setdefault("cytomine_domain_name", "cytomine.example.org")
    overrides.setdefault("cytomine_public_ip", "192.0.2.30/32")
    rendered = render("cytomine", "__cytomine_role_values", *names, **overrides)
    return rendered.pop("__cytomine_role_values"), rendered


def test_cytomine_sets_only_keys_the_chart_reads():
    values, dummy = cytomine_values(cytomine_resources={
        component: {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
        for component in ("core", "mongodb", "pims", "pims_cache", "postgresql", "web_ui")})
    assert sorted(p for p in leaf_paths(values) if not covered(p, CYTOMINE_KEYS)) == []
    # Every value the role sets must also be read by a template, not only declared in values.yaml.
    unread = set(CYTOMINE["in_values_but_not_read"])
    assert sorted(p for p in leaf_paths(values) if p in unread) == ["postgresql.password"]


def test_cytomine_sets_every_required_key():
    values, dummy = cytomine_values()
    for item in CYTOMINE["required"]:
        assert at(values, item["key"]) not in ("", None), item["key"]
    assert values["app_engine"]["tasks_namespace"] == "cytomine-tasks"
    assert values["nginx"]["deploy"] is False and values["images"]["pullPolicy"] == "IfNotPresent"


def test_cytomine_generates_every_public_default_and_matches_pims_to_core():
    values, facts = cytomine_values("__cytomine_public_default_sha256", "__cytomine_generated_keys", "__cytomine_must_match")
    public = CYTOMINE["public_default_secrets"]
    hashes = facts["__cytomine_public_default_sha256"]
    assert sorted(hashes) == sorted(public)
    assert sorted({path for key in facts["__cytomine_generated_keys"] for path in key["paths"]}) == sorted(public)
    assert facts["__cytomine_must_match"] == CYTOMINE["must_match"]
    for left, right in CYTOMINE["must_match"]:
        assert at(values, left) == at(values, right)
    # The two public defaults short enough to state here check that the digests are of the plain values.
    assert hashes["mongodb.password"] == hashlib.sha256(b"password123").hexdigest()
    assert hashes["core.smtp_password"] == hashlib.sha256(b"password").hexdigest()


def test_cytomine_user_smtp_password_replaces_the_generated_one():
    values, dummy = cytomine_values(cytomine_smtp_password="mail-account-secret")
    assert values["core"]["smtp_password"] == "mail-account-secret"


def test_cytomine_default_images_are_the_ce_release():
    images = render("cytomine", "cytomine_images")["cytomine_images"]
    released = {key.split(".", 1)[1]: value for key, value in CYTOMINE["released_images_ce_2025_1"].items()
                if key.startswith("images.") and ":" in value.split()[0]}
    for key, image in released.items():
        if key != "cbir":
            assert images[key] == image.split()[0], key
    assert images["cbir"] == ""
    assert set(images) == {key.split(".", 1)[1] for key in CYTOMINE["value_keys"]
                           if key.startswith("images.") and key != "images.pullPolicy"}


@pytest.mark.parametrize("image, pinned", [
    ("cytomine/core:5.1.0", True),
    ("registry.example.org:5000/cytomine/cbir:2025.1-lab", True),
    ("cytomine/cbir@sha256:" + "a" * 64, True),
    ("cytomine/core:latest", False),
    ("cytomine/core", False),
    ("registry.example.org:5000/cytomine/core", False),
    ("", False),
])
def test_cytomine_pinned_image_pattern(image, pinned):
    pattern = render("cytomine", "__cytomine_pinned_image")["__cytomine_pinned_image"]
    assert bool(re.match(pattern, image)) is pinned


def test_cytomine_chart_made_secrets_and_booleans_match_the_record():
    facts = render("cytomine", "__cytomine_chart_secrets", "__cytomine_boolean_keys")
    chart_made = [s["name"] for s in CYTOMINE["secrets"] if s["created_by"].startswith("chart") and s["name"] != "app-engine"]
    assert sorted(facts["__cytomine_chart_secrets"]) == sorted(chart_made)
    assert set(facts["__cytomine_boolean_keys"]) <= set(CYTOMINE["value_keys"])


def test_cytomine_stand_in_chart_has_the_upstream_value_keys():
    chart_values = yaml.safe_load((REPO / "tests" / "charts" / "cytomine" / "values.yaml").read_text())
    assert leaf_paths(chart_values) == set(CYTOMINE["value_keys"])


# ---------------------------------------------------------------------------------------------------------
# example inventories: secrets only as references
# ---------------------------------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"(token|password|secret|private)", re.IGNORECASE)


def secret_like(data, path=""):
    """(path, value) of every string under a secret-looking key."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if SECRET_NAME.search(str(key)) and not isinstance(value, (dict, list)):
                found.append((child, value))
            found += secret_like(value, child)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += secret_like(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("inventory", ["scipion_facility", "cytomine_lab"])
def test_example_inventories_hold_no_plain_secret(inventory):
    files = sorted((REPO / "inventories" / inventory).rglob("*.yml"))
    assert files
    found = [item for path in files for item in secret_like(yaml.safe_load(path.read_text()))]
    assert found, "the inventory should reference its secrets"
    for path, value in found:
        assert isinstance(value, str) and value.startswith("{{") and ("vault_" in value or "lookup(" in value), path
    scipion = yaml.safe_load((REPO / "inventories" / "scipion_facility" / "group_vars" / "all" / "scipion.yml").read_text())
    assert all("token" not in entry for entry in scipion["scipion_instances"])
