"""Shared fixtures for the integration tests, which run against real parts (tests/cluster, tests/nodes)."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS / "cluster"), str(TESTS / "nodes")]

from fixtures import k8s_cluster  # noqa: E402
from node_fixtures import module_node_factory, node_factory  # noqa: E402

# pytest finds fixtures by name in this module.
__all__ = ["k8s_cluster", "module_node_factory", "node_factory"]
