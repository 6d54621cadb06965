"""pytest fixtures for node containers (see nodes.py and README.md in this folder).

`node_factory(["master", "worker1"])` starts systemd node containers on the `sciplat-test`
network with the stand-in image, the real API server's kubeconfig at
/etc/sciplat-standin/kubeconfig and the harness's kubectl/helm mounted; it returns a
nodes.NodeSet (inventory, ansible_playbook, node(name).exec ...). Everything a factory started
is removed at teardown, unless SCIPLAT_KEEP_NODES=1 (for debugging a failed test).
"""

from __future__ import annotations

import os

import pytest

import nodes


def _factory(k8s_cluster):
    sets: list[nodes.NodeSet] = []

    def start(hostnames, **kwargs) -> nodes.NodeSet:
        node_set = nodes.NodeSet(kubeconfig=k8s_cluster.nodes_kubeconfig, kubectl=k8s_cluster.kubectl,
                                 helm=k8s_cluster.helm, **kwargs)
        sets.append(node_set)
        node_set.start(hostnames)
        return node_set

    return sets, start


def _teardown(sets: list[nodes.NodeSet]) -> None:
    if os.environ.get("SCIPLAT_KEEP_NODES") == "1":
        return
    for node_set in sets:
        node_set.teardown()


@pytest.fixture
def node_factory(k8s_cluster):
    sets, start = _factory(k8s_cluster)
    yield start
    _teardown(sets)


@pytest.fixture(scope="module")
def module_node_factory(k8s_cluster):
    sets, start = _factory(k8s_cluster)
    yield start
    _teardown(sets)
