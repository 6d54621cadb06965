"""pytest fixtures for the real test control plane (see testcluster.py and README.md).

`k8s_cluster` reuses a cluster that is already running and healthy (the test script starts one
before pytest), and otherwise builds what is missing and starts it. Teardown: the cluster is left
running unless SCIPLAT_CLUSTER_TEARDOWN=stop, and then only if this session started it, because
other test sessions on the machine may be using a cluster they found running.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import testcluster


@dataclass(frozen=True)
class K8sCluster:
    kubeconfig: Path
    nodes_kubeconfig: Path
    server: str
    nodes_server: str
    helm: Path
    kubectl: Path
    ca_cert: Path
    env: dict[str, str]
    state_dir: Path


@pytest.fixture(scope="session")
def k8s_cluster() -> K8sCluster:
    cluster = testcluster.Cluster()
    try:
        started_here = cluster.start()
    except testcluster.ClusterError as error:
        pytest.fail(f"the test cluster did not start: {error}", pytrace=False)
    yield K8sCluster(
        kubeconfig=cluster.kubeconfig,
        nodes_kubeconfig=cluster.nodes_kubeconfig,
        server=cluster.server,
        nodes_server=cluster.nodes_server,
        helm=testcluster.helm_path(),
        kubectl=testcluster.kube_tool("kubectl"),
        ca_cert=cluster.pki / "ca.crt",
        env=cluster.env(),
        state_dir=cluster.state,
    )
    if started_here and os.environ.get("SCIPLAT_CLUSTER_TEARDOWN") == "stop":
        cluster.stop()
