"""Contract of the scipion role with the real chart at its pin, read at test time.

The role's values are rendered with ansible-core's own templating from roles/scipion/{defaults,vars}/main.yml
(no cluster). The chart (CERIT-SC/scipion-helm-charts at scipion_chart_git_commit, scipion-docker/v2.0) is cloned
as the role clones it (tests/unit/roles/role_vars.py). Keys are judged by the collection's own analysis
(plugins/module_utils/values_contract.py, which sciplat.k8s.helm_values_check runs before every release), and the
names of the objects the post-render patches target are read from the chart's templates.
"""
import re
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils.values_contract import ChartFiles, ChartModel, check_values

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "upstream"))
from mirror import pinned_chart  # noqa: E402  pylint: disable=wrong-import-position
from role_vars import REPO, render  # noqa: E402  pylint: disable=wrong-import-position

DEFAULTS = yaml.safe_load((REPO / "roles" / "scipion" / "defaults" / "main.yml").read_text())
SPACE_A = "5b2f4e8a9c1d3f60718293a4b5c6d7e8ch1a2b"
SPACE_B = "a1b2c3d4e5f60718293a4b5c6d7e8f90ch3c4d"


@pytest.fixture(scope="module", name="chart")
def chart_fixture():
    return pinned_chart(DEFAULTS["scipion_chart_git_repo"],
                        DEFAULTS["scipion_chart_git_commit"], DEFAULTS["scipion_chart_git_subpath"])


def instance(**extra):
    return dict({"name": "alice", "namespace": "lab", "dataset": {"host": "op.example.org", "space_id": SPACE_A},
                 "project": {"host": "op2.example.org", "space_id": SPACE_B}}, **extra)


GPU_NODEPORT = instance(gpu=2, vnc_node_port=32000)
INGRESS = instance(vnc_access="ingress", vnc_host="alice.example.org")


def scipion(entry, *names, **overrides):
    overrides.setdefault("scipion_onedata_tokens", {entry["name"]: {"dataset": "tok-d", "project": "tok-p"}})
    return render("scipion", *names, scipion_instances=[entry], __scipion_instance="{{ __scipion_instances[0] }}",
                  __scipion_vnc_passwords={entry["name"]: "0123456789abcdef0123456789abcdef"}, **overrides)


def chart_names(chart, template, entry, values):
    """The metadata names `template` gives its objects for this instance, its expressions filled in by hand."""
    text = (chart / "templates" / template).read_text()
    fills = {".Values.instance.prefix": values["instance"]["prefix"], ".Release.Name": entry["name"],
             ".Release.Namespace": entry["namespace"], ".Values.od.dataset.spaceIdShort": values["od"]["dataset"]["spaceIdShort"],
             ".Values.od.project.spaceIdShort": values["od"]["project"]["spaceIdShort"]}
    names = []
    for raw in re.findall(r"^metadata:\s*\n(?:\s+.*\n)*?\s{2}name:\s*(.+)$", text, re.MULTILINE):
        name = re.sub(r"\{\{\s*([.\w]+)\s*\}\}", lambda match: fills[match[1]], raw.strip())
        assert "{{" not in name, raw
        names.append(name)
    return names


@pytest.mark.parametrize("entry", [GPU_NODEPORT, INGRESS], ids=["gpu-nodeport", "ingress"])
def test_every_key_the_role_sets_is_read_by_the_chart(chart, entry):
    values = scipion(entry, "__scipion_values")["__scipion_values"]
    assert check_values(ChartModel(ChartFiles.from_folder(str(chart))), values) == []
    # microk8s mode is the only one whose Onedata volumes work outside CERIT-SC; the VNC client mode needs its issuer.
    assert values["instance"]["microk8s"] is True and values["vnc"]["useVncClient"] is False
    # Empty short IDs make claim names end in "-", which the API server refuses.
    assert values["od"]["dataset"]["spaceIdShort"] == SPACE_A[:8] and values["od"]["project"]["spaceIdShort"] == SPACE_B[:8]


def test_the_charts_values_are_all_set(chart):
    """Nothing the chart reads is left to a default that only suits CERIT-SC's cluster."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    values = scipion(GPU_NODEPORT, "__scipion_values")["__scipion_values"]

    def paths(tree, prefix=""):
        return {p for key, value in tree.items()
                for p in (paths(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"})}
    assert paths(values) == paths(defaults)


def test_patches_target_the_objects_the_chart_makes(chart):
    rendered = scipion(GPU_NODEPORT, "__scipion_values", "__scipion_post_render")
    values, patches = rendered["__scipion_values"], rendered["__scipion_post_render"]["patches"]
    targets = {(patch["kind"], patch["name"]) for patch in patches}
    assert targets == (
        {("Service", name) for name in chart_names(chart, "svc-vnc.yaml", GPU_NODEPORT, values)}
        | {("PersistentVolumeClaim", name) for name in chart_names(chart, "pvc-vol.yaml", GPU_NODEPORT, values)}
        | {("PersistentVolumeClaim", name) for name in chart_names(chart, "pvc-od.yaml", GPU_NODEPORT, values)}
        | {("PersistentVolume", name) for name in chart_names(chart, "pv-od.yaml", GPU_NODEPORT, values)}
        | {("Deployment", name) for name in chart_names(chart, "deployment-master.yaml", GPU_NODEPORT, values)})
    # The chart's only container of the desktop Deployment is the one the GPU patch names.
    assert re.findall(r"^\s*- name: (\w+)\s*$", (chart / "templates" / "deployment-master.yaml").read_text(), re.MULTILINE)[0] == "master"


def test_gpu_and_vnc_exposure_per_instance():
    gpu = scipion(GPU_NODEPORT, "__scipion_post_render")["__scipion_post_render"]["patches"]
    service = next(p for p in gpu if p["kind"] == "Service")["merge"]["spec"]
    assert service["type"] == "NodePort" and service["ports"][0]["nodePort"] == 32000
    master = next(p for p in gpu if p["kind"] == "Deployment")
    assert master["containers"] == {"master": {"resources": {"limits": {"nvidia.com/gpu": 2}}}}
    assert master["merge"]["spec"]["template"]["spec"]["nodeSelector"] == DEFAULTS["scipion_gpu_node_labels"]

    ingress = scipion(INGRESS, "__scipion_post_render")["__scipion_post_render"]["patches"]
    service = next(p for p in ingress if p["kind"] == "Service")["merge"]["spec"]
    assert service["type"] == "ClusterIP" and "nodePort" not in service["ports"][0]
    assert not [p for p in ingress if p["kind"] == "Deployment"]


@pytest.mark.parametrize("tokens, fallback, expected", [
    ({"alice": {"dataset": "tok-d", "project": "tok-p"}}, "", ("tok-d", "tok-p")),
    ({"alice": "tok-both"}, "tok-fallback", ("tok-both", "tok-both")),
    ({"alice": {"dataset": "tok-d"}}, "tok-fallback", ("tok-d", "tok-fallback")),
    ({"bob": "tok-bob"}, "tok-fallback", ("tok-fallback", "tok-fallback")),
])
def test_tokens_per_instance_then_fallback(tokens, fallback, expected):
    values = scipion(GPU_NODEPORT, "__scipion_values", scipion_onedata_tokens=tokens,
                     scipion_onedata_token=fallback)["__scipion_values"]
    assert (values["od"]["dataset"]["token"], values["od"]["project"]["token"]) == expected


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
    scipion_vars = yaml.safe_load((REPO / "inventories" / "scipion_facility" / "group_vars" / "all" / "scipion.yml").read_text())
    assert all("token" not in entry for entry in scipion_vars["scipion_instances"])


def test_the_example_inventorys_instances_set_only_keys_the_chart_reads(chart):
    """inventories/scipion_facility, judged by the collection's own analysis (what helm_values_check runs)."""
    facility = yaml.safe_load((REPO / "inventories" / "scipion_facility" / "group_vars" / "all" / "scipion.yml").read_text())
    model = ChartModel(ChartFiles.from_folder(str(chart)))
    for entry in facility["scipion_instances"]:
        values = render("scipion", "__scipion_values", scipion_instances=[entry], scipion_onedata_token="tok",
                        scipion_onedata_tokens={}, __scipion_instance="{{ __scipion_instances[0] }}",
                        __scipion_vnc_passwords={entry["name"]: "0123456789abcdef0123456789abcdef"})["__scipion_values"]
        assert check_values(model, values) == [], entry["name"]
