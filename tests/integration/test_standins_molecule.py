"""The node image under molecule-plugins[podman], the way the roles' scenarios use it:
tests/nodes/molecule-smoke runs destroy, syntax, create, converge, idempotence, verify, cleanup
and destroy against a container of the stand-in image on the `sciplat-test` network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nodes

SCENARIO = Path(nodes.__file__).resolve().parent / "molecule-smoke"


def test_molecule_smoke_scenario(k8s_cluster):
    env = nodes.NodeSet().ansible_env()
    env.update(SCIPLAT_NODE_IMAGE=nodes.ensure_images(), SCIPLAT_NODES_KUBECONFIG=str(k8s_cluster.nodes_kubeconfig),
               SCIPLAT_KUBECTL=str(k8s_cluster.kubectl), SCIPLAT_HELM=str(k8s_cluster.helm))
    env.update(NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0")
    nodes.ensure_network()
    molecule = Path(sys.executable).parent / "molecule"
    result = subprocess.run([str(molecule), "test"], cwd=SCENARIO, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "verify: Executed: Successful" in result.stdout + result.stderr
