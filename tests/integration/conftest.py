"""Shared fixtures for the integration tests, which run against real parts (tests/cluster, tests/nodes)."""

import sys
from pathlib import Path

import pytest

from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import running_fake_onezone

TESTS = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS / "cluster"), str(TESTS / "nodes"), str(TESTS / "upstream")]

from fixtures import k8s_cluster  # noqa: E402
from node_fixtures import module_node_factory, node_factory  # noqa: E402
import mirror  # noqa: E402

# pytest finds fixtures by name in this module.
__all__ = ["chart_mirror", "k8s_cluster", "module_node_factory", "node_factory", "onezone"]


@pytest.fixture(scope="module")
def onezone(tmp_path_factory):
    """The FAKE Onezone on 127.0.0.1 (tests/fakes/onezone), for the length of a test module."""
    with running_fake_onezone(tmp_path_factory.mktemp("onezone")) as fake:
        yield fake


@pytest.fixture(scope="session")
def chart_mirror():
    """The sciplat_chart_mirror of the offline upstream material (tests/upstream/mirror.py)."""
    found = mirror.chart_mirror()
    if not found:
        pytest.fail("SCIPLAT_UPSTREAM is not set: these tests read the real upstream charts offline "
                    "(scripts/test.sh sets it from ../shared/upstream)", pytrace=False)
    return found
