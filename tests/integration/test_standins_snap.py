"""Golden tests of the snapd TEST DOUBLE, written from the documented snap behaviour
(../shared/README.md, "microk8s and snap"), run in a real node container."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def node(module_node_factory):
    return module_node_factory(["snaphost"]).node("snaphost")


def list_row(node) -> dict:
    result = node.exec("snap", "list", "microk8s")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["Name", "Version", "Rev", "Tracking", "Publisher", "Notes"]
    return dict(zip(header.split(), row.split()))


def info_fields(node) -> dict:
    result = node.exec("snap", "info", "microk8s")
    assert result.returncode == 0, result.stderr
    return {m.group(1): m.group(2) for m in re.finditer(r"^([a-z-]+):\s*(.*)$", result.stdout, re.M)}


def test_missing_snap_is_an_error(node):
    result = node.exec("snap", "list", "microk8s")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no matching snaps installed"


def test_snapd_package_is_installed_for_apt(node):
    """The roles' `apt: name=snapd` must find it installed and never fetch the real snapd."""
    assert node.exec("dpkg-query", "-W", "-f=${Status}", "snapd").stdout == "install ok installed"
    assert "snapd is already the newest version" in node.exec("apt-get", "install", "-s", "snapd").stdout


def test_install_requires_classic(node):
    result = node.exec("snap", "install", "microk8s", "--channel=1.31/stable")
    assert result.returncode == 1
    assert "classic confinement" in result.stderr


def test_install_then_reinstall_keeps_channel(node):
    first = node.exec("snap", "install", "microk8s", "--classic", "--channel=1.31/stable")
    assert first.returncode == 0, first.stderr
    again = node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable")
    assert again.returncode == 0
    assert "already installed" in again.stderr
    row = list_row(node)
    assert row["Tracking"] == "1.31/stable"
    assert row["Version"].startswith("v1.31.")
    assert row["Notes"] == "classic"
    assert node.exec("microk8s", "version").stdout.startswith("MicroK8s v1.31.")


def test_microk8s_on_path_like_ubuntu(node):
    assert node.exec("bash", "-lc", "command -v microk8s").stdout.strip() == "/snap/bin/microk8s"
    assert node.exec("sh", "-c", "command -v microk8s").stdout.strip() == "/snap/bin/microk8s"
    assert "/snap/bin" in node.exec("cat", "/etc/environment").stdout


def test_refresh_changes_channel(node):
    result = node.exec("snap", "refresh", "microk8s", "--channel=1.32/stable")
    assert result.returncode == 0, result.stderr
    assert list_row(node)["Tracking"] == "1.32/stable"
    assert re.match(r"^MicroK8s v1\.32\.\d+ revision \d+$", node.exec("microk8s", "version").stdout.strip())
    assert info_fields(node)["tracking"] == "1.32/stable"


def test_hold_forever_and_unhold(node):
    held = node.exec("snap", "refresh", "--hold", "microk8s")
    assert held.returncode == 0, held.stderr
    assert re.search(r"General refreshes of .*microk8s.* held indefinitely", held.stdout)
    assert list_row(node)["Notes"] == "classic,held"
    assert info_fields(node)["hold"] == "forever"
    unheld = node.exec("snap", "refresh", "--unhold", "microk8s")
    assert unheld.returncode == 0, unheld.stderr
    assert list_row(node)["Notes"] == "classic"
    assert "hold" not in info_fields(node)


def test_hold_for_a_duration(node):
    held = node.exec("snap", "refresh", "--hold=24h", "microk8s")
    assert held.returncode == 0, held.stderr
    assert re.search(r"General refreshes of .*microk8s.* held until ", held.stdout)
    assert list_row(node)["Notes"] == "classic,held"
    node.exec("snap", "refresh", "--unhold", "microk8s", check=True)


def test_info_fields(node):
    fields = info_fields(node)
    for key in ("name", "tracking", "refresh-date", "channels", "installed"):
        assert key in fields
    assert fields["name"] == "microk8s"
    assert fields["installed"].startswith("v1.32.")


def test_hold_unsupported_before_snapd_2_58(node):
    node.write("/etc/sciplat-standin/snapd-version", "2.57\n")
    try:
        assert node.exec("snap", "version").stdout.split()[:2] == ["snap", "2.57"]
        result = node.exec("snap", "refresh", "--hold", "microk8s")
        assert result.returncode != 0
        assert list_row(node)["Notes"] == "classic"
    finally:
        node.exec("rm", "-f", "/etc/sciplat-standin/snapd-version", check=True)


# snapd's retryable refusals (exit 10): snapd cmd/snapd/cli/main.go:461-462,
# overlord/snapstate/devicectx.go:105-111, overlord/snapstate/conflict.go:48-56.

def test_install_refused_until_seeded_and_wait_returns_when_seeded(node):
    node.exec("snap", "remove", "microk8s", check=True)
    node.write("/etc/sciplat-standin/snapd-unseeded", "4\n")
    refused = node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable")
    assert refused.returncode == 10
    assert refused.stderr.strip() == ("error: too early for operation, device not yet seeded or device model "
                                      "not acknowledged")
    assert node.exec("snap", "list", "microk8s").returncode == 1
    waited = node.exec("snap", "wait", "system", "seed.loaded")
    assert waited.returncode == 0, waited.stderr
    installed = node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable")
    assert installed.returncode == 0, installed.stderr


def test_change_in_progress_refuses_a_refresh(node):
    node.write("/etc/sciplat-standin/snapd-change", "auto-refresh 600\n")
    try:
        refused = node.exec("snap", "refresh", "microk8s", "--channel=1.24/stable")
        assert refused.returncode == 10
        assert refused.stderr.strip() == 'error: snap "microk8s" has "auto-refresh" change in progress'
        assert list_row(node)["Tracking"] == "1.32/stable"
    finally:
        node.exec("rm", "-f", "/etc/sciplat-standin/snapd-change", check=True)
    assert node.exec("snap", "refresh", "microk8s", "--channel=1.24/stable").returncode == 0


def test_microk8s_1_24_has_no_version_command(node):
    """MK branch 1.24 has no microk8s-version.wrapper; the snap still tells the version."""
    assert list_row(node)["Version"].startswith("v1.24.")
    result = node.exec("microk8s", "version")
    assert result.returncode == 1
    assert "'version' is not a valid MicroK8s subcommand." in result.stdout


def test_launch_config_the_agent_rejects_fails_the_install(node):
    """snap/hooks/install:76-83 (set -e) with CA pkg/k8sinit/schema.go:186-192 version range."""
    node.exec("snap", "remove", "microk8s", check=True)
    node.write("/var/snap/microk8s/common/.microk8s.yaml", "---\nversion: 0.3.0\naddons:\n  - name: ingress\n")
    failed = node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: cannot perform the following tasks:\n"
                                    '- Run install hook of "microk8s" snap if present (run hook "install": ')
    assert "config file version is 0.3.0 but the maximum version supported is 0.2.0" in failed.stderr
    assert node.exec("snap", "list", "microk8s").returncode == 1


def test_user_launch_config_replaces_the_default_that_enables_dns(node):
    """The hook uses the first config found; only the bundled default enables dns
    (snap/hooks/install:77-87, microk8s-resources/microk8s.default.yaml)."""
    node.write("/var/snap/microk8s/common/.microk8s.yaml", "---\nversion: 0.1.0\naddons:\n  - name: ingress\n")
    node.exec("snap", "install", "microk8s", "--classic", "--channel=1.32/stable", check=True)
    assert node.exec("microk8s", "status", "--wait-ready", "--timeout", "60").returncode == 0
    assert node.exec("microk8s", "status", "-a", "dns").stdout.strip() == "disabled"
    assert node.exec("microk8s", "status", "-a", "ingress").stdout.strip() == "enabled"
