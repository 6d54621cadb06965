"""Contract between the exaflow/mip roles and the real charts users deploy.

The values each role computes (from the example inventory inventories/mip_federation, without a
cluster: only the roles' validation runs) are checked against facts read from the real charts at test
time (tests/upstream/chart_facts.py: the paths values.yaml defines and the paths the templates read) — a
key the chart does not read is a silent bug — and rendered with the real helm.

Charts: Exaflow at the role's pin (ad132e20, from the offline mirror of SCIPLAT_UPSTREAM, else cloned), and
for MIP the ASSEMBLED MIP 9.2 chart of the upstream folder (upstream files of several commits, a minimal
Chart.yaml): the repository of the role's MIP pin cannot be fetched here, so that chart stands for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from playbooks import run_playbook

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "upstream"))
from chart_facts import ChartFacts  # noqa: E402  pylint: disable=wrong-import-position
import mirror  # noqa: E402  pylint: disable=wrong-import-position

EXAMPLE = REPO / "inventories" / "mip_federation"

# Per role: the task files that compute and validate the values without touching a cluster, and the
# internal variable holding the computed values.
ROLES = {
    "exaflow": {"tasks": ["validate"], "values": "__exaflow_values"},
    "mip": {"tasks": ["generation", "validate"], "values": "__mip_values"},
}


def real_chart(role: str) -> Path:
    if role == "mip":
        return mirror.assembled_mip_chart()
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    return mirror.pinned_chart(defaults[f"{role}_chart_git_repo"], defaults[f"{role}_chart_git_commit"],
                               defaults[f"{role}_chart_git_subpath"])


@pytest.fixture(scope="module")
def facts():
    return {role: ChartFacts(real_chart(role)) for role in ROLES}


def computed_values(role: str, hosts: Path, workdir: Path, env: dict, variable: str | None = None) -> dict:
    """The values `role` computes for the inventory `hosts`: ROLES[role]["values"], or `variable`."""
    out = workdir / f"{role}-values.json"
    includes = [{"name": f"compute and validate ({name})",
                 "ansible.builtin.include_role": {"name": f"sciplat.k8s.{role}", "tasks_from": name, "public": True}}
                for name in ROLES[role]["tasks"]]
    play = [{"hosts": "control_plane[0]", "gather_facts": False, "tasks": [
        *includes,
        {"name": "dump", "ansible.builtin.copy": {
            "content": "{{ %s | to_json }}" % (variable or ROLES[role]["values"]), "dest": str(out), "mode": "0600"}},
    ]}]
    run_playbook(play, env, "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
                 workdir=workdir, inventory=hosts)
    return json.loads(out.read_text())


@pytest.fixture(scope="module", params=["hosts.yml", "hosts-smpc.yml"])
def example(request, k8s_cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("contract")
    hosts = EXAMPLE / request.param
    return {"hosts": request.param, "env": k8s_cluster.env, "helm": k8s_cluster.helm,
            "values": {role: computed_values(role, hosts, workdir, k8s_cluster.env) for role in ROLES}}


def helm_template(example, chart: str, values: dict, namespace: str) -> list[dict]:
    done = subprocess.run([str(example["helm"]), "template", "release", str(real_chart(chart)),
                           "--namespace", namespace, "-f", "-"], input=yaml.safe_dump(values), text=True,
                          capture_output=True, env=dict(example["env"]), check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_key_the_role_sets_is_read_by_the_real_chart(example, facts, role):
    assert facts[role].unknown(example["values"][role]) == [], f"{role} sets keys the real chart does not read"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_switches_are_real_booleans(example, facts, role):
    assert facts[role].not_boolean(example["values"][role]) == {}


def test_exaflow_values_render_the_federation(example):
    values = example["values"]["exaflow"]
    workers = 3 if example["hosts"] == "hosts-smpc.yml" else 2
    assert values["localnodes"] == workers
    assert values["managed_cluster"] is False
    assert values["namespace"] == "exaflow"
    assert values["smpc"]["enabled"] is (workers == 3)
    assert values["storage"]["hostPath"]["db"] == {"localworker": "/data/dementia", "globalworker": "/data/dementia"}
    objects = helm_template(example, "exaflow", values, "exaflow")
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    localworker = by_name[("StatefulSet", "exaflow-localworker")]
    assert localworker["spec"]["replicas"] == workers
    assert localworker["metadata"]["namespace"] == "exaflow"
    pod = localworker["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"worker": "true"}
    assert [v["hostPath"]["path"] for v in pod["volumes"] if v["name"] == "csv-data"] == ["/data/dementia/csvs"]
    players = [o for o in objects if o["kind"] == "Pod"]
    assert len(players) == (3 if workers == 3 else 0)
    assert all(p["spec"]["nodeSelector"] == {"smpc_player": "true"} for p in players)


def test_exaflow_values_of_the_managed_inventory_render_for_a_managed_cluster(k8s_cluster, tmp_path):
    """inventories/managed: no inventory worker, localnodes from exaflow_localnodes, volume claims of its class."""
    # __exaflow_final: what the release gets, the inventory's exaflow_values (the storage class) merged in.
    values = computed_values("exaflow", REPO / "inventories" / "managed" / "hosts.yml", tmp_path, k8s_cluster.env,
                             variable="__exaflow_final")
    assert values["managed_cluster"] is True
    assert values["localnodes"] == 2
    objects = helm_template({"helm": k8s_cluster.helm, "env": k8s_cluster.env}, "exaflow", values, "exaflow")
    workloads = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("Deployment", "StatefulSet")}
    assert set(workloads) == {"exaflow-controller-deployment", "exaflow-globalworker", "exaflow-localworker"}
    assert workloads["exaflow-localworker"]["spec"]["replicas"] == 2
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert "nodeSelector" not in pod, name
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v], name
    for name in ("exaflow-globalworker", "exaflow-localworker"):
        claims = workloads[name]["spec"]["volumeClaimTemplates"]
        assert [c["spec"]["storageClassName"] for c in claims] == ["azurefile-csi"], name


def test_mip_values_render_for_microk8s(example):
    values = example["values"]["mip"]
    assert values["cluster"]["managed"] is False
    assert values["cluster"]["storageClasses"]["local"] == "mip-mip-local"
    assert values["global"]["publicHost"] == "mip.example.org"
    assert values["engines"]["exaflow"]["url"] == "http://exaflow-controller-service.exaflow:5000"
    objects = helm_template(example, "mip", values, "mip")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("StorageClass", "mip-mip-local") in kinds
    assert {o["spec"]["storageClassName"] for o in objects if o["kind"] == "PersistentVolumeClaim"} == {"mip-mip-local"}
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    assert ingress["spec"]["ingressClassName"] == "public"
    assert "tls" not in ingress["spec"] and not ingress["metadata"].get("annotations")
    secret_refs = {(ref["name"], ref["key"]) for o in objects if o["kind"] == "Deployment"
                   for c in o["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
                   for ref in [e.get("valueFrom", {}).get("secretKeyRef")] if ref}
    # Every Secret key the chart's Deployments read is one the role makes (roles/mip/vars/generations).
    generation = yaml.safe_load((REPO / "roles" / "mip" / "vars" / "generations" / "current-9.2.yml").read_text())
    made = {(secret["name"], key) for secret in generation["__mip_generation"]["secrets"]
            for key in [*secret["initial"], *[k["name"] for k in secret["generated"] if isinstance(secret["generated"], list)]]}
    made |= {("keycloak-credentials", "client-id"), ("keycloak-credentials", "client-secret")}
    assert secret_refs and secret_refs <= made, secret_refs - made
