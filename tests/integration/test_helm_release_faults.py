"""Faults a helm release survives through roles/helm_release: a run killed during the helm upgrade, and a release
left failed.

Real parts: ansible-playbook (killed with SIGKILL, as an operator's Ctrl-C twice or a lost SSH session ends it),
helm 3 and its release records, the test kube-apiserver with kwok nodes. The chart is this test's own, written in
tmp_path: what is tested is helm_release's handling of helm's release states, not a platform (a Deployment whose
Pod cannot be scheduled keeps helm waiting, which is how a slow upgrade looks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from k8s_support import get, helm_json, helm_uninstall, kubectl, kwok_node
from playbooks import run_playbook

NAMESPACE = "faultit"
NODE = "faultit-node"
RELEASE = "faulty"
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: faulty\nversion: 0.1.0\n",
    "values.yaml": "message: first\nschedulable: true\n",
    "templates/objects.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: faulty-message
data:
  message: {{ .Values.message | quote }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: faulty
spec:
  replicas: 1
  selector:
    matchLabels: {app: faulty}
  template:
    metadata:
      labels: {app: faulty}
    spec:
      {{- if not .Values.schedulable }}
      nodeSelector: {sciplat-test/no-such-node: "true"}
      {{- end }}
      containers:
        - name: main
          image: registry.example.org/faulty:1
""",
}


@pytest.fixture(scope="module")
def namespace(k8s_cluster):
    """The release namespace, and a kwok node of this module's own that the schedulable Pod runs on."""
    kwok_node(k8s_cluster, NODE, {}, {"cpu": "4", "memory": "8Gi", "pods": "110"})
    yield NAMESPACE
    kubectl(k8s_cluster, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
    kubectl(k8s_cluster, "delete", "node", NODE, "--ignore-not-found", check=False)


@pytest.fixture
def cluster(k8s_cluster, namespace):
    helm_uninstall(k8s_cluster, RELEASE, namespace)
    yield k8s_cluster
    helm_uninstall(k8s_cluster, RELEASE, namespace)


@pytest.fixture
def chart(tmp_path) -> Path:
    folder = tmp_path / "chart"
    for name, text in CHART.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def play(cluster, tmp_path, chart, values, **settings):
    variables = {"helm_release_name": RELEASE, "helm_release_namespace": NAMESPACE, "helm_release_chart_path": str(chart),
                 "helm_release_chart_cache_dir": str(tmp_path / "cache"), "helm_release_tmp_dir": str(tmp_path / "helm-tmp"),
                 "helm_release_binary_path": str(cluster.helm), "helm_release_values": values,
                 "helm_release_wait_timeout": "60s", **settings}
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "release", "ansible.builtin.include_role": {"name": "sciplat.k8s.helm_release"}, "vars": variables}]}]


def run(cluster, tmp_path, chart, values, *args, expect_rc=0, **settings):
    return run_playbook(play(cluster, tmp_path, chart, values, **settings), cluster.env, *args, workdir=tmp_path,
                        expect_rc=expect_rc)


def status(cluster):
    found = helm_json(cluster, "status", RELEASE, "-n", NAMESPACE)
    return found and (found["info"]["status"], found["version"])


def message(cluster):
    return get(cluster, "configmap", "faulty-message", "-n", NAMESPACE)["data"]["message"]


def kill_during_the_upgrade(cluster, tmp_path, chart, values, **settings):
    """Starts the play and SIGKILLs it, with helm, once helm has marked the release pending-upgrade."""
    (tmp_path / "killed.yml").write_text(yaml.safe_dump(play(cluster, tmp_path, chart, values, **settings)))
    process = subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                                f"ansible_python_interpreter={sys.executable}", str(tmp_path / "killed.yml")],
                               env=dict(os.environ, **cluster.env), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (status(cluster) or ("", 0))[0] != "pending-upgrade":
            assert process.poll() is None, "the play ended before helm marked the upgrade pending"
            time.sleep(0.5)
        assert status(cluster)[0] == "pending-upgrade"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_run_killed_during_the_upgrade_is_recovered_by_the_next(cluster, tmp_path, chart):
    assert run(cluster, tmp_path, chart, {"message": "first"}).changed > 0
    assert status(cluster) == ("deployed", 1)

    kill_during_the_upgrade(cluster, tmp_path, chart, {"message": "second", "schedulable": False})
    assert status(cluster) == ("pending-upgrade", 2)
    # The values file kubernetes.core.helm wrote for helm (and the module's own unpacked code) stayed behind in the
    # private folder, not in /tmp.
    leftovers = list((tmp_path / "helm-tmp").iterdir())
    left = [path for path in leftovers if path.suffix == ".yml"]
    assert len(left) == 1 and "second" in left[0].read_text()
    assert all((path.stat().st_mode & 0o077) == 0 for path in leftovers)
    assert ((tmp_path / "helm-tmp").stat().st_mode & 0o777) == 0o700

    # Younger than the wait timeout: another run may still be upgrading. Nothing is touched.
    refused = run(cluster, tmp_path, chart, {"message": "third"}, expect_rc=2)
    assert "has been pending-upgrade since" in refused.output and "Wait for it to end and run again" in refused.output
    assert refused.changed == 0 and status(cluster) == ("pending-upgrade", 2) and left[0].exists()

    # Older than the wait timeout: abandoned. The short timeout is what makes the pending revision stale; without the
    # wait it does not also bound the upgrade.
    time.sleep(12)
    stale = {"helm_release_wait_timeout": "10s", "helm_release_wait": False}
    # With recovery off the run names the command; check mode predicts the rollback. Neither changes the release.
    off = run(cluster, tmp_path, chart, {"message": "third"}, expect_rc=2, helm_release_recover=False, **stale)
    assert f"recover is off: run helm rollback {RELEASE} 1 --namespace {NAMESPACE}, then run again" in off.output
    checked = run(cluster, tmp_path, chart, {"message": "third"}, "--check", "--diff", **stale)
    assert "deployed revision 1 (rolled back)" in checked.output and checked.changed > 0
    assert status(cluster) == ("pending-upgrade", 2)

    # Back to revision 1, then the upgrade; the leftover file is removed.
    recovered = run(cluster, tmp_path, chart, {"message": "third"}, "--diff", **stale)
    assert "pending-upgrade revision 2" in recovered.output and "deployed revision 1 (rolled back)" in recovered.output
    assert status(cluster) == ("deployed", 4) and message(cluster) == "third"
    history = helm_json(cluster, "history", RELEASE, "-n", NAMESPACE)
    assert [(entry["revision"], entry["description"]) for entry in history[2:]] == [
        (3, "Rollback to 1"), (4, "Upgrade complete")]
    assert not [path for path in leftovers if path.exists()]

    assert run(cluster, tmp_path, chart, {"message": "third"}).changed == 0


def test_a_failed_release_is_not_reported_converged(cluster, tmp_path, chart):
    run(cluster, tmp_path, chart, {"message": "first"})
    # Not atomic: helm leaves the upgrade failed when the Deployment does not become ready in time.
    unschedulable = {"message": "second", "schedulable": False}
    run(cluster, tmp_path, chart, unschedulable, expect_rc=2, helm_release_atomic=False, helm_release_wait_timeout="10s")
    assert status(cluster) == ("failed", 2)
    # The same values again: not "unchanged" on a failed release, but another attempt that fails as it should.
    again = run(cluster, tmp_path, chart, unschedulable, expect_rc=2, helm_release_atomic=False,
                helm_release_wait_timeout="10s")
    assert "Recover the release from an operation that did not finish" in again.output
    assert status(cluster)[0] == "failed"
    # Fixed values: deployed.
    fixed = run(cluster, tmp_path, chart, {"message": "third"}, helm_release_atomic=False)
    assert fixed.changed > 0 and status(cluster)[0] == "deployed" and message(cluster) == "third"


def test_a_first_install_that_never_finished_starts_again(cluster, tmp_path, chart):
    run(cluster, tmp_path, chart, {"message": "first", "schedulable": False}, expect_rc=2, helm_release_atomic=False,
        helm_release_wait_timeout="10s")
    assert status(cluster) == ("failed", 1)
    installed = run(cluster, tmp_path, chart, {"message": "first"}, helm_release_atomic=False)
    assert installed.changed > 0 and status(cluster) == ("deployed", 1) and message(cluster) == "first"
