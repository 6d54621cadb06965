"""Key-path contract of the cytomine role against the real chart at the role's pin, read at test time.

The role's values are rendered with ansible-core's own templating from roles/cytomine/{defaults,vars}/main.yml
(no cluster). The chart (cytomine/cytomine-helm at cytomine_chart_git_commit, charts/cytomine) is cloned as the
role clones it: from the offline mirror that SCIPLAT_UPSTREAM names (tests/upstream/mirror.py), else from
GitHub. Its values.yaml and templates give the facts: a value the role sets that no template reads is a silent
bug, a required key left unset breaks rendering, and every hard-coded fact the role relies on (Secrets,
IngressClass, Issuer, switches, public defaults, the fix the pin needs) is compared with the chart's own files.
"""
import hashlib
import re
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils.values_contract import ChartFiles, ChartModel, check_values

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "upstream"))
from mirror import pinned_chart  # noqa: E402  pylint: disable=wrong-import-position
from role_vars import REPO, at, covered, leaf_paths, render  # noqa: E402  pylint: disable=wrong-import-position


CYTOMINE_DEFAULTS = yaml.safe_load((REPO / "roles" / "cytomine" / "defaults" / "main.yml").read_text())
VALUES_READ = re.compile(r"\$?\.Values((?:\.[A-Za-z0-9_]+)+)")
# `.Values.x | required "..."` and `required "..." .Values.x`.
REQUIRED = re.compile(r"\.Values\.([\w.]+)\s*\|\s*required\b|\brequired\s+\"[^\"]*\"\s+\.Values\.([\w.]+)")
# What the chart tests for truth (`if .Values.x ...`) or hands to ternary (which fails on a string).
TRUTH_TESTED = re.compile(r"\bif\s+\.Values\.([\w.]+)|\.Values\.([\w.]+)\s*\|\s*ternary\b")
SECRET_LIKE = re.compile(r"(pass|password|_key|secret|server_id)$", re.IGNORECASE)
CYTOMINE_TLS = {"mode": "cert_manager_issuer", "acme_email": "it@example.org"}


@pytest.fixture(scope="module", name="chart")
def chart_fixture():
    """The chart folder at the role's pin, cloned as the role clones it: from the offline mirror when SCIPLAT_UPSTREAM
    names one (tests/upstream/mirror.py), else from GitHub."""
    return ChartFacts(pinned_chart(CYTOMINE_DEFAULTS["cytomine_chart_git_repo"], CYTOMINE_DEFAULTS["cytomine_chart_git_commit"],
                                   CYTOMINE_DEFAULTS["cytomine_chart_git_subpath"]))


class ChartFacts:
    """What the chart's values.yaml declares, and what its templates and the config files they `tpl` read: values,
    switches, required keys, Secrets."""

    def __init__(self, folder):
        self.folder = folder
        self.values = yaml.safe_load((folder / "values.yaml").read_text())
        self.files = {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*"))
                      if path.is_file() and path.relative_to(folder).parts[0] in ("templates", "configs")}
        text = "\n".join(self.files.values())
        self.reads = {path.lstrip(".") for path in VALUES_READ.findall(text)}
        # Reads through `index`, or through a variable bound to part of the values, would escape VALUES_READ: the
        # chart at the pin has neither (its variables hold leaves, such as $storageClassName).
        bound = set(re.findall(r"(\$\w+)\s*:=\s*\$?\.Values", text))
        assert not re.search(r"index\s+\$?\.Values", text)
        assert not [name for name in bound if re.search(re.escape(name) + r"\.\w", text)]
        self.required = {a or b for a, b in REQUIRED.findall(text)}
        self.truth_tested = {a or b for a, b in TRUTH_TESTED.findall(text)}

    def default(self, path):
        return at(self.values, path)

    def documents(self):
        """(file, document) of every template document, split where helm splits them."""
        for name, text in self.files.items():
            if name.startswith("templates/"):
                for document in re.split(r"^---\s*$", text, flags=re.MULTILINE):
                    yield name, document

    def secrets(self):
        """Names of the Secrets the templates make (literal names only; the chart uses no templated ones)."""
        names = set()
        for dummy, document in self.documents():
            if re.search(r"^kind:\s*Secret\s*$", document, re.MULTILINE):
                names.add(re.search(r"^metadata:\s*\n(?:\s+.*\n)*?\s+name:\s*\"?([\w.-]+)\"?", document, re.MULTILINE)[1])
        return names


def cytomine_render(*names, **overrides):
    overrides.setdefault("cytomine_domain_name", "cytomine.example.org")
    overrides.setdefault("cytomine_tls", CYTOMINE_TLS)
    return render("cytomine", *names, **overrides)


def cytomine_values(**overrides):
    return cytomine_render("__cytomine_role_values", **overrides)["__cytomine_role_values"]


def test_cytomine_sets_only_keys_a_template_reads(chart):
    facts = cytomine_render("__cytomine_resource_components", "__cytomine_image_keys")
    values = cytomine_values(cytomine_smtp_password="mail-account-secret", cytomine_resources={
        component: {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
        for component in facts["__cytomine_resource_components"]})
    # Read by a template, not only declared in values.yaml: values.yaml also holds keys nothing reads.
    assert sorted(p for p in leaf_paths(values) if not covered(p, chart.reads)) == []
    assert set(values["images"]) == set(facts["__cytomine_image_keys"]) | {"pullPolicy"}


def test_cytomine_settings_of_the_old_chart_are_gone_from_the_real_one(chart):
    """What the role dropped: the real chart reads neither, and values.yaml declares keys no template reads."""
    assert not {"global.publicIP", "rabbitmq.port"} & chart.reads
    for unread in ("global.publicIP", "postgresql.password", "readOnceStorageClass", "readManyStorageClass",
                   "smtpPass", "ingress.annotations"):
        chart.default(unread)  # declared in values.yaml
        assert not covered(unread, chart.reads), unread
    assert not {"cytomine_public_ip", "cytomine_rabbitmq_port"} & set(CYTOMINE_DEFAULTS)


def test_cytomine_sets_every_required_key(chart):
    values = cytomine_values()
    assert chart.required == {"global.domainName", "app_engine.tasks_namespace", "postgresql.storageClassName",
                              "mongodb.storageClassName", "pims.imageStorage.storageClassName",
                              "pims.tempImageStorage.storageClassName"}
    for key in chart.required:
        assert at(values, key) not in ("", None), key
    assert values["app_engine"]["tasks_namespace"] == "cytomine-tasks"
    assert values["nginx"]["deploy"] is False and values["images"]["pullPolicy"] == "IfNotPresent"


def test_cytomine_refuses_exactly_the_public_defaults_templates_read(chart):
    values = cytomine_values()
    facts = cytomine_render("__cytomine_public_default_sha256", "__cytomine_generated_keys", "__cytomine_must_match")
    hashes = facts["__cytomine_public_default_sha256"]
    public = {path for path in leaf_paths(chart.values)
              if SECRET_LIKE.search(path.rsplit(".", 1)[-1]) and chart.default(path) is not None
              and covered(path, chart.reads)}
    assert sorted(hashes) == sorted(public)
    for path, digest in hashes.items():
        assert hashlib.sha256(str(chart.default(path)).encode()).hexdigest() == digest, path
    # Every public default is replaced by a generated value.
    assert sorted({path for key in facts["__cytomine_generated_keys"] for path in key["paths"]}) == sorted(public)
    # The chart's own defaults pair PIMS's keys with core's image-server keys (the same literals): so must the role's.
    pairs = sorted(sorted([left, right]) for left in public for right in public
                   if left < right and chart.default(left) == chart.default(right))
    assert pairs == sorted(sorted(pair) for pair in facts["__cytomine_must_match"])
    for left, right in facts["__cytomine_must_match"]:
        assert at(values, left) == at(values, right)


def test_cytomine_user_smtp_password_replaces_the_generated_one():
    assert cytomine_values(cytomine_smtp_password="mail-account-secret")["core"]["smtp_password"] == "mail-account-secret"


def test_cytomine_images_resources_and_switches_are_the_charts(chart):
    facts = cytomine_render("__cytomine_image_keys", "__cytomine_resource_components", "__cytomine_boolean_keys",
                            "cytomine_images")
    # images.nginx is read only by the nginx templates, which render only with nginx.deploy (refused by the role).
    nginx_readers = {name for name, text in chart.files.items() if ".Values.images.nginx" in text}
    assert nginx_readers and all(chart.files[name].lstrip().startswith("{{ if .Values.nginx.deploy }}") for name in nginx_readers)
    assert set(facts["__cytomine_image_keys"]) == set(chart.values["images"]) - {"pullPolicy", "nginx"}
    assert {path.split(".")[1] for path in chart.reads if path.startswith("images.")} <= set(chart.values["images"])
    images = facts["cytomine_images"]
    assert set(images) == set(facts["__cytomine_image_keys"])
    assert images["cbir"] == "" and images["sam"] == ""  # no Cytomine CE 2025.1 image: the user must give them
    pattern = cytomine_render("__cytomine_pinned_image")["__cytomine_pinned_image"]
    assert all(re.match(pattern, image) for key, image in images.items() if key not in ("cbir", "sam"))

    with_resources = {path.rsplit(".", 1)[0] for path in chart.reads if path.endswith(".resources")}
    assert set(facts["__cytomine_resource_components"]) == with_resources - {"nginx"}

    # Tested for presence, not switches: pims.datasetImportFolder (a host path) and fullnameOverride (a name);
    # global.use_tls is read only by the helper cytomine.protocol, which no template includes.
    assert not any('include "cytomine.protocol"' in text for text in chart.files.values())
    assert chart.default("pims.datasetImportFolder") is None and "fullnameOverride" not in chart.values
    assert set(facts["__cytomine_boolean_keys"]) == chart.truth_tested - {"pims.datasetImportFolder", "fullnameOverride",
                                                                          "global.use_tls"}


def test_cytomine_chart_made_secrets(chart):
    facts = cytomine_render("__cytomine_chart_secrets")
    assert set(facts["__cytomine_chart_secrets"]) == chart.secrets()
    looked_up = set(re.findall(r'lookup "v1" "Secret" \.Release\.Namespace "([\w.-]+)"', "\n".join(chart.files.values())))
    assert looked_up == {"admin-iam-secret", "keystore-iam-secret", "postgres-iam-secret", "postgres-core-secret",
                         "postgres-app-engine-secret"}


def test_cytomine_ingress_facts_and_the_tls_patches(chart):
    """The Ingress hard-codes its class, cert-manager Issuer and tls Secret: the role checks, makes or patches them."""
    ingress = chart.files["templates/ingress.yaml"]
    facts = cytomine_render("__cytomine_ingress_class", "__cytomine_chart_issuer", "__cytomine_chart_tls_secret")
    assert re.findall(r"^  name: (\S+)$", ingress, re.MULTILINE) == ["core"]
    assert re.findall(r"ingressClassName: (\S+)", ingress) == [facts["__cytomine_ingress_class"]]
    issuer = ("cert-manager.io/issuer", facts["__cytomine_chart_issuer"])
    assert re.findall(r"(cert-manager\.io/[\w-]+): (\S+)", ingress) == [issuer]
    assert re.findall(r"secretName: (\S+)", ingress) == [facts["__cytomine_chart_tls_secret"]]
    # No value reaches the annotations or the tls block (values.yaml's ingress.annotations is read by nothing).
    assert ".Values.ingress" not in ingress and "toYaml" not in ingress

    assert cytomine_render("__cytomine_post_render")["__cytomine_post_render"] == {}
    none = cytomine_render("__cytomine_post_render", cytomine_tls={"mode": "none"})["__cytomine_post_render"]
    assert none == {"patches": [{"kind": "Ingress", "name": "core", "merge": {
        "metadata": {"annotations": {"cert-manager.io/issuer": None}}, "spec": {"tls": None}}}]}
    secret = cytomine_render("__cytomine_post_render",
                             cytomine_tls={"mode": "secret", "secret_name": "lab-tls"})["__cytomine_post_render"]
    assert secret["patches"][0]["merge"]["spec"]["tls"] == [{"hosts": ["cytomine.example.org"], "secretName": "lab-tls"}]


def test_cytomine_chart_fixes_apply_and_are_needed(chart):
    fixes = cytomine_render("__cytomine_chart_fixes")["__cytomine_chart_fixes"]
    assert list(fixes) == [CYTOMINE_DEFAULTS["cytomine_chart_git_commit"]]
    assert cytomine_render("__cytomine_fixes")["__cytomine_fixes"] == fixes[CYTOMINE_DEFAULTS["cytomine_chart_git_commit"]]
    fixed = dict(chart.files)
    for fix in fixes[CYTOMINE_DEFAULTS["cytomine_chart_git_commit"]]:
        assert re.search(fix["regexp"], fixed[fix["file"]]), fix["file"]
        fixed[fix["file"]] = re.sub(fix["regexp"], fix["replace"], fixed[fix["file"]])
    # helm's Chart object has capitalised fields only (Name, AppVersion, ...): a lower-case one fails the render.
    lower_case = re.compile(r"\.Chart\.[a-z]\w*")
    assert [name for name, text in chart.files.items() if lower_case.search(text)] == ["configs/web_ui/configuration.json.sample"]
    assert not [name for name, text in fixed.items() if lower_case.search(text)]


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


def test_the_example_inventory_sets_only_keys_the_chart_reads(chart):
    """inventories/cytomine_lab, judged by the collection's own analysis (what helm_values_check runs)."""
    lab = yaml.safe_load((REPO / "inventories" / "cytomine_lab" / "group_vars" / "all" / "cytomine.yml").read_text())
    lab["cytomine_smtp_password"] = "mail-account-secret"  # from the lab's vault
    rendered = cytomine_render("__cytomine_role_values", **lab)["__cytomine_role_values"]
    values = dict(rendered, **lab["cytomine_values"])
    model = ChartModel(ChartFiles.from_folder(str(chart.folder)))
    assert check_values(model, values) == []
    assert values["imageStorage"] == "500Gi"
