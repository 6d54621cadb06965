"""The collection as AWX runs it: through ansible-runner with a credential's injected kubeconfig file,
and an execution environment build context from ansible-builder (no registry needed for `create`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_execution_environment_build_context(tmp_path):
    context = tmp_path / "context"
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-builder"), "create", "-f",
                           str(ROOT / "execution-environment.yml"), "--context", str(context)],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-core==2.19.14" in containerfile
    assert "helm-v3" in containerfile
    python_requirements = (context / "_build" / "requirements.txt").read_text()
    assert "kubernetes" in python_requirements
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]


def test_site_playbook_as_an_awx_job_on_a_managed_cluster(k8s_cluster, tmp_path):
    """What a job template does: the kubeconfig credential's file injector writes the kubeconfig to a
    private file and sets K8S_AUTH_KUBECONFIG; survey answers arrive as extra vars (strings)."""
    private = tmp_path / "runner"
    (private / "env").mkdir(parents=True)
    injected = private / "env" / "kubeconfig"
    injected.write_text(Path(k8s_cluster.kubeconfig).read_text())
    injected.chmod(0o600)
    collections = Path(os.environ.get("SCIPLAT_CACHE", Path.home() / ".cache/sciplat-k8s")) / "collections"
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    envvars = {
        "K8S_AUTH_KUBECONFIG": str(injected),
        "ANSIBLE_COLLECTIONS_PATH": f"{collections}:{site_packages}",
        "PATH": k8s_cluster.env["PATH"],
        "HOME": os.environ["HOME"],
        "ANSIBLE_NOCOLOR": "1",
    }
    survey_answers = {"sciplat_platforms": [], "sciplat_managed_cluster": "true"}
    result = ansible_runner.run(private_data_dir=str(private), project_dir=str(ROOT), playbook="playbooks/site.yml",
                                inventory=str(ROOT / "inventories/managed/hosts.yml"), envvars=envvars,
                                extravars=survey_answers, quiet=True)
    output = result.stdout.read()
    assert result.status == "successful", output[-6000:]
    assert result.stats["changed"] == {}
    assert result.stats["failures"] == {}
    assert "NODES (" in output and "HELM RELEASES" in output
    roles_that_ran = {event["event_data"].get("role") for event in result.events
                      if event.get("event") in ("runner_on_ok", "runner_on_failed")}
    assert "health_report" in roles_that_ran
    assert not roles_that_ran & {"microk8s", "microk8s_cluster", "cluster_labels", "nvidia"}
