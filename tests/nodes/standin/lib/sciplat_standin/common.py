"""TEST DOUBLE support: paths, versions, locks and local state shared by the snap and microk8s
stand-ins. Everything is relative to SCIPLAT_STANDIN_ROOT (default "/") so that the unit tests
can run the stand-in on the host against a temporary directory."""
from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

SNAP = "microk8s"
AGENT_PORT = 25000
DQLITE_PORT = 19001
PUBLISHER = "canonical✓"
DEFAULT_SNAPD_VERSION = "2.63"
# Tracks the stand-in's "store" offers, with the patch release and revision each serves.
TRACKS = {
    "1.24": ("1.24.17", 5137), "1.25": ("1.25.16", 6254), "1.26": ("1.26.15", 6364),
    "1.27": ("1.27.16", 6971), "1.28": ("1.28.15", 7348), "1.29": ("1.29.15", 7660),
    "1.30": ("1.30.14", 8054), "1.31": ("1.31.13", 8148), "1.32": ("1.32.9", 8439),
    "1.33": ("1.33.5", 8457), "1.34": ("1.34.1", 8473), "1.35": ("1.35.0", 8514),
    "1.36": ("1.36.0", 8601),
}
LATEST_TRACK = "1.32"
RISKS = ("stable", "candidate", "beta", "edge")


def root() -> Path:
    return Path(os.environ.get("SCIPLAT_STANDIN_ROOT", "/"))


def on_real_root() -> bool:
    """Services and hostname only exist inside a node container, not in the unit tests' temp root."""
    return root() == Path("/")


def path(p: str) -> Path:
    return root() / p.lstrip("/")


def snap_data() -> Path:
    return path("/var/snap/microk8s/current")


def snap_common() -> Path:
    return path("/var/snap/microk8s/common")


def lock(name: str) -> Path:
    return snap_data() / "var/lock" / name


def has_lock(name: str) -> bool:
    return lock(name).exists()


def set_marker(target: Path, present: bool = True) -> None:
    """Create or remove an empty file whose presence is the state."""
    if present:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    else:
        target.unlink(missing_ok=True)


def set_lock(name: str, present: bool = True) -> None:
    set_marker(lock(name), present)


def harness_kubeconfig() -> str:
    """Test-only file the harness places in each container: the REAL API server's kubeconfig."""
    return str(path("/etc/sciplat-standin/kubeconfig"))


def tool(name: str) -> str:
    """kubectl/helm built by the test harness, mounted read-only into the node containers."""
    return str(path(f"/opt/sciplat-standin/bin/{name}"))


def snapd_version() -> str:
    override = path("/etc/sciplat-standin/snapd-version")
    if override.exists():
        return override.read_text().strip() or DEFAULT_SNAPD_VERSION
    return DEFAULT_SNAPD_VERSION


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def parse_channel(channel: str | None) -> tuple[str, str] | None:
    """(track, risk) of a channel such as '1.32', '1.32/stable', 'latest/edge', 'stable'."""
    channel = (channel or "latest/stable").strip()
    parts = channel.split("/")
    if len(parts) == 1:
        track, risk = (("latest", parts[0]) if parts[0] in RISKS else (parts[0], "stable"))
    elif len(parts) in (2, 3):
        track, risk = parts[0], parts[1]
    else:
        return None
    if risk not in RISKS:
        return None
    if track == "latest":
        return ("latest", risk)
    return (track, risk) if track in TRACKS else None


def track_release(track: str) -> tuple[str, int]:
    return TRACKS[LATEST_TRACK if track == "latest" else track]


def read_json(file: Path, default):
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return default


def write_json(file: Path, data) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(file)


def snapd_state_file() -> Path:
    return path("/var/lib/snapd/state.json")


def installed_snap() -> dict | None:
    return read_json(snapd_state_file(), {}).get("snaps", {}).get(SNAP)


def installed_minor() -> int:
    """Minor Kubernetes version of the installed microk8s (e.g. 32 for v1.32.9)."""
    snap = installed_snap()
    if not snap:
        return 0
    return version_tuple(snap["version"])[1]


def hostname() -> str:
    return os.environ.get("SCIPLAT_STANDIN_HOSTNAME") or socket.gethostname().lower()


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=False, capture_output=True, text=True).stdout


def is_ip(text: str) -> bool:
    """remove_node.py:29-33 tells an address from a name with ipaddress.ip_address."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def extra_addresses_file() -> Path:
    """Test-only: addresses this node reports BEFORE its own in get_ips, one per line.

    Upstream add-node prints one URL per address of `hostname -I` in that order, bridges (docker0,
    lxdbr0) and IPv6 included (MK microk8s-resources/actions/common/utils.sh:569-589, add_token.py
    get_output_dict), so the first URL of a multi-homed control plane may be one that the joining
    node cannot reach. A test writes here an address of the podman network that no container holds:
    connecting to it fails with EHOSTUNREACH once ARP gets no answer (about 3 s), the way a real
    join to an unreachable address ends in an OSError traceback."""
    return path("/etc/sciplat-standin/extra-addresses")


def ips() -> tuple[str, list[str]]:
    """(default IP, all global IPv4 addresses) as microk8s's get_default_ip/get_ips report them."""
    override = os.environ.get("SCIPLAT_STANDIN_IPS")
    if override:
        all_ips = override.split(",")
        return all_ips[0], all_ips
    all_ips = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", _ip("-4", "-o", "addr", "show", "scope", "global"))
    dev = re.search(r"\bdev (\S+)", _ip("-4", "route", "show", "default"))
    default = all_ips[0] if all_ips else "127.0.0.1"
    if dev:
        on_dev = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", _ip("-4", "-o", "addr", "show", "dev", dev.group(1)))
        default = on_dev[0] if on_dev else default
    try:
        extra = extra_addresses_file().read_text().split()
    except OSError:
        extra = []
    return default, extra + (all_ips or [default])


def systemctl(*args: str) -> None:
    if on_real_root():
        subprocess.run(["systemctl", *args], check=False, capture_output=True)


def out(*lines: str) -> None:
    for line in lines:
        print(line)


def err(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)
