"""TEST DOUBLE: microk8s launch configurations (`/etc/microk8s.yaml`, `C/.microk8s.yaml` before
install; `C/etc/launcher/*.yaml` at run time, renamed `*.applied` once applied)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from . import common

VERSIONS = ("0.1.0", "0.2.0")
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


def _run(action) -> int:
    try:
        action()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def apply(file: Path) -> bool:
    """Apply one launch configuration; False (and a message) when it is not valid."""
    from . import addons, cluster, microk8s

    try:
        config = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        common.err(f"launch configuration {file}: {exc}")
        return False
    if str(config.get("version")) not in VERSIONS:
        common.err(f"launch configuration {file}: unsupported version {config.get('version')!r}")
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
