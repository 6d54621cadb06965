"""Unit-level tests of the snap/microk8s TEST DOUBLES: their Python runs on the host against a
temporary root (SCIPLAT_STANDIN_ROOT), without containers or an API server. Expected values
come from the documented behaviour (../shared/README.md), not from the stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

LIB = Path(__file__).resolve().parents[1] / "nodes" / "standin" / "lib"
sys.path.insert(0, str(LIB))

from sciplat_standin import addons, cluster, microk8s  # noqa: E402


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIPLAT_STANDIN_ROOT", str(tmp_path))
    monkeypatch.setenv("SCIPLAT_STANDIN_IPS", "192.0.2.10")
    monkeypatch.setenv("SCIPLAT_STANDIN_HOSTNAME", "unit")
    return tmp_path


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    code = "import sys; from sciplat_standin import snap; sys.exit(snap.main(sys.argv[1], sys.argv[2:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_single_use_and_ttl_tokens(root):
    cluster.add_token("a" * 32, -1)
    cluster.add_token("b" * 32, 3600)
    cluster.add_token("c" * 32, -10)
    assert cluster.consume_token("a" * 32)
    assert not cluster.consume_token("a" * 32), "a token without TTL is single use"
    assert cluster.consume_token("b" * 32) and cluster.consume_token("b" * 32), "a TTL token is reusable"
    assert not cluster.consume_token("c" * 32), "an expired token is refused"
    lines = cluster.tokens_file().read_text().splitlines()
    assert [line.split("|")[0] for line in lines] == ["b" * 32]
    assert int(lines[0].split("|")[1]) >= int(time.time()) + 3590


@pytest.mark.parametrize("connection", ["master:25000/" + "t" * 32, "10.0.0.1:25000/short",
                                        "10.0.0.1:25000/" + "t" * 32 + "/abc"])
def test_join_connection_checks_from_1_29(connection, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cluster.parse_connection(connection, 29)
    assert exit_info.value.code == 1
    assert capsys.readouterr().out.startswith("Invalid connection")


def test_host_names_accepted_before_1_29():
    assert cluster.parse_connection("master:25000/" + "t" * 32, 28) == ("master", 25000, "t" * 32, None)


def test_addon_argument_forms():
    available = addons.catalogue(32, {})
    assert addons.parse_args(["dns", "ingress"], available) == [("core", "dns", []), ("core", "ingress", [])]
    assert addons.parse_args(["metallb:10.0.0.1-10.0.0.9"], available) == [("core", "metallb", ["10.0.0.1-10.0.0.9"])]
    assert addons.parse_args(["nvidia", "--gpu-operator-driver", "host"], available) == [
        ("core", "nvidia", ["--gpu-operator-driver", "host"])]
    assert addons.parse_args(["community/nfs"], available) == [("community", "nfs", [])]
    with pytest.raises(SystemExit) as exit_info:
        addons.parse_args(["nosuchaddon"], available)
    assert exit_info.value.code == 1


def test_addon_catalogue_per_version():
    def names(minor):
        return {a.name for a in addons.catalogue(minor, {})}
    assert "dashboard" in names(35) and "dashboard" not in names(36)
    assert "nvidia" not in names(28) and "nvidia" in names(29)
    assert "dns" not in addons.initial_state(26) and "core/dns" in addons.initial_state(27)
    helm_24 = next(a for a in addons.catalogue(24, {}) if a.name == "helm")
    assert "Helm 2" in helm_24.description and not addons.is_enabled(helm_24, 24, {})
    helm_25 = next(a for a in addons.catalogue(25, {}) if a.name == "helm")
    assert addons.is_enabled(helm_25, 25, {})
    storage = next(a for a in addons.catalogue(32, {}) if a.name == "storage")
    assert addons.is_enabled(storage, 32, {"core/hostpath-storage": []}), "the old name follows the new one"


def test_status_yaml_rendering():
    enabled, disabled = addons.split_status(32, addons.initial_state(32))
    members = [{"address": "192.0.2.10:19001", "role": "voter"}, {"address": "192.0.2.11:19001", "role": "standby"}]
    status = yaml.safe_load(microk8s.render_yaml(True, True, members, enabled, disabled))
    assert list(status) == ["microk8s", "high-availability", "addons"]
    assert status["high-availability"]["nodes"] == members
    stopped = yaml.safe_load(microk8s.render_yaml(False, True, members, [], []))
    assert status["microk8s"]["running"] is True and stopped["microk8s"]["running"] is False
    assert "addons" not in stopped
    # As upstream prints it (MK scripts/wrappers/status.py print_yaml): after the HA block, so in it.
    assert stopped["high-availability"]["message"].startswith("microk8s is not running.")
    assert "message" not in stopped["microk8s"]


def test_dqlite_roles_voters_then_standby():
    members = [{"hostname": f"n{i}"} for i in range(8)]
    cluster.assign_roles(members)
    assert [m["role"] for m in members] == ["voter"] * 3 + ["standby"] * 3 + ["spare"] * 2


def test_snap_cli_without_a_cluster(root):
    assert run(root, "snap", "list").returncode == 0
    missing = run(root, "snap", "list", "microk8s")
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no matching snaps installed")
    installed = run(root, "snap", "install", "microk8s", "--classic", "--channel", "1.30/stable")
    assert installed.returncode == 0, installed.stderr
    assert (root / "snap/bin/microk8s").is_symlink()
    for lock in ("ha-cluster",):
        assert (root / "var/snap/microk8s/current/var/lock" / lock).exists()
    assert run(root, "snap", "list", "microk8s").stdout.splitlines()[1].split()[3] == "1.30/stable"
    (root / "etc/sciplat-standin").mkdir(parents=True)
    (root / "etc/sciplat-standin/snapd-version").write_text("2.58\n")
    held = run(root, "snap", "refresh", "--hold", "microk8s")
    assert held.returncode == 0
    assert run(root, "snap", "list", "microk8s").stdout.split()[-1] == "classic", "held note only from 2.59"
    version = run(root, "microk8s", "version")
    assert version.stdout.startswith("MicroK8s v1.30.")
    removed = run(root, "snap", "remove", "microk8s")
    assert removed.returncode == 0
    assert not (root / "snap/bin/microk8s").exists()
