"""Shared fixtures for the integration tests, which run against real parts (tests/cluster, tests/nodes)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "nodes"))

from fixtures import k8s_cluster  # noqa: E402,F401  (a fixture, used by name)
from node_fixtures import module_node_factory, node_factory  # noqa: E402,F401  (fixtures)
