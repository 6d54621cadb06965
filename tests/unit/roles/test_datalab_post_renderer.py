"""The datalab role's helm post-renderer (roles/datalab/templates/post_renderer.py.j2), run on rendered manifests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "roles" / "datalab" / "templates" / "post_renderer.py.j2"
CONFIG = {"drop_objects": [["ClusterRole", "infrastructure-management-role"], ["ClusterRoleBinding", "infrastructure-management"],
                           ["ClusterRole", "health-check-role"]],
          "drop_namespaces": ["devtest"], "ingress_class": "public"}


@pytest.fixture(name="post_render")
def post_render_fixture(tmp_path):
    environment = jinja2.Environment(autoescape=False)
    environment.filters["to_json"] = json.dumps
    script = tmp_path / "post_render.py"
    script.write_text(f"#!{sys.executable}\n" + environment.from_string(TEMPLATE.read_text()).render(
        __datalab_environment={"name": "prod"}, __datalab_post_render_config=CONFIG))
    script.chmod(0o700)

    def run(*documents):
        done = subprocess.run([str(script)], input="---\n".join(yaml.safe_dump(d) for d in documents), capture_output=True,
                              text=True, check=True)
        return [d for d in yaml.safe_load_all(done.stdout) if d]
    return run


def obj(kind, name, namespace=None, **extra):
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **extra}


def test_fixed_name_cluster_rbac_and_foreign_namespaces_are_left_out(post_render):
    kept = post_render(obj("ServiceAccount", "infrastructure-service-account", "prod"),
                       obj("ClusterRole", "infrastructure-management-role"), obj("ClusterRoleBinding", "infrastructure-management"),
                       obj("ClusterRole", "health-check-role"), obj("ClusterRole", "another-role"),
                       obj("ConfigMap", "resource-nginx", "devtest"), obj("ConfigMap", "settings", "prod"))
    assert [(o["kind"], o["metadata"]["name"]) for o in kept] == [
        ("ServiceAccount", "infrastructure-service-account"), ("ClusterRole", "another-role"), ("ConfigMap", "settings")]


def test_every_ingress_gets_the_class(post_render):
    kept = post_render(obj("Ingress", "datalab-ingress", "prod", spec={"ingressClassName": "nginx", "rules": []}),
                       obj("Ingress", "no-class", "prod"))
    assert [o["spec"]["ingressClassName"] for o in kept] == ["public", "public"]
    assert kept[0]["spec"]["rules"] == []


def test_empty_release(post_render):
    assert post_render() == []
