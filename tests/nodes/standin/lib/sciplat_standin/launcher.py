"""TEST DOUBLE: microk8s launch configurations (`/etc/microk8s.yaml`, `C/.microk8s.yaml` before
install; `C/etc/launcher/*.yaml` at run time, renamed `*.applied` once applied)."""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import yaml

from . import common

# Supported format versions, semantic (CA pkg/k8sinit/schema.go:17-18).
MIN_VERSION, MAX_VERSION = (0, 1, 0), (0, 2, 0)
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_ARG_FILES = {"extraKubeAPIServerArgs": "kube-apiserver", "extraKubeletArgs": "kubelet",
              "extraKubeProxyArgs": "kube-proxy", "extraKubeControllerManagerArgs": "kube-controller-manager",
              "extraKubeSchedulerArgs": "kube-scheduler", "extraContainerdArgs": "containerd",
              "extraK8sDqliteArgs": "k8s-dqlite"}
_ENV_FILES = {"extraContainerdEnv": "containerd-env", "extraCNIEnv": "cni-env"}


def install_time_config() -> Path | None:
    for candidate in (common.path("/etc/microk8s.yaml"), common.snap_common() / ".microk8s.yaml"):
        if candidate.exists():
            return candidate
    return None


def _parse(file: Path) -> tuple[dict | None, str | None]:
    """(configuration, None) or (None, the error `cluster-agent init` prints for it).

    Follows CA pkg/k8sinit/schema.go ParseConfiguration:167-194 (unknown keys only warn; an
    empty document is skipped) and cmd/init.go RunE:48-51 (the "failed to parse" wrapper)."""
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return None, f"Error: failed to parse config file: could not parse configuration: {exc}"
    if not config:
        return {}, None
    version = "" if config.get("version") is None else str(config["version"])
    match = _SEMVER.match(version)
    if not match:
        return None, f'Error: failed to parse config file: could not parse config file version "{version}"'
    parsed = tuple(int(part) for part in match.groups())
    if parsed > MAX_VERSION:
        return None, (f"Error: failed to parse config file: config file version is {version} but the maximum "
                      f"version supported is {'.'.join(map(str, MAX_VERSION))}")
    if parsed < MIN_VERSION:
        return None, (f"Error: failed to parse config file: config file version is {version} but the minimum "
                      f"version required is {'.'.join(map(str, MIN_VERSION))}")
    return config, None


def pre_init_error(file: Path) -> str | None:
    """What makes `cluster-agent init --pre-init` fail on this file, None when it passes."""
    return _parse(file)[1]


def _run(action) -> int:
    try:
        action()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def apply(file: Path) -> bool:
    """Apply one launch configuration; False (and a message) when it is not valid."""
    from . import addons, cluster, microk8s

    config, error = _parse(file)
    if error:
        common.err(f"launch configuration {file}: {error}")
        return False
    args_dir = common.snap_data() / "args"
    args_dir.mkdir(parents=True, exist_ok=True)
    for key, target in {**_ARG_FILES, **_ENV_FILES}.items():
        for name, value in (config.get(key) or {}).items():
            with (args_dir / target).open("a") as handle:
                handle.write(f"{name}={value}\n")
    if config.get("persistentClusterToken"):
        cluster.persistent_token_file().parent.mkdir(parents=True, exist_ok=True)
        cluster.persistent_token_file().write_text(str(config["persistentClusterToken"]))
    for addon in config.get("addons") or []:
        words = [addon["name"], *[str(a) for a in addon.get("args") or []]]
        _run(lambda w=words, d=addon.get("disable"): sys.exit(addons.xable("disable" if d else "enable", w)))
    join = config.get("join") or {}
    if join.get("url"):
        argv = ["join", join["url"]] + (["--worker"] if join.get("worker") else [])
        _run(lambda: microk8s.main(argv))
    return True


def watch() -> None:
    """Run-time launch configurations, polled by the cluster agent service."""
    folder = common.snap_common() / "etc/launcher"
    while True:
        for file in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            if apply(file):
                file.rename(file.with_suffix(".applied"))
        time.sleep(2)
