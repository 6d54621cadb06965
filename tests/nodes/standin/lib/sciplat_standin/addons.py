"""TEST DOUBLE: the microk8s addon catalogue and `microk8s enable|disable`.

Addons do not deploy their workloads. Their enabled state lives in the cluster's shared state
(cluster.py) so that every control plane reports the same; a few leave the API objects that
roles depend on (hostpath-storage's StorageClass, ingress's IngressClasses)."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from . import cluster, common
from .kube import ApiError


@dataclass(frozen=True)
class Addon:
    repository: str
    name: str
    description: str
    version: str
    since: int = 24           # first microk8s minor that has it
    until: int = 99           # last minor that has it
    alias_of: str | None = None
    always_enabled_since: int = 99
    enabled_at_install_since: int = 99


def _core(minor: int) -> list[Addon]:
    helm_desc = ("Helm 2 - the package manager for Kubernetes" if minor <= 24
                 else "Helm - the package manager for Kubernetes")
    gpu = (Addon("core", "gpu", "Alias to nvidia add-on", "1.0.0", since=29, alias_of="nvidia")
           if minor >= 29 else Addon("core", "gpu", "Automatic enablement of Nvidia CUDA", "1.11.0"))
    return [
        Addon("core", "cert-manager", "Cloud native certificate management", "1.8.0", since=25),
        Addon("core", "cis-hardening", "Apply CIS K8s hardening", "1.0.0", since=28),
        Addon("core", "community", "The community addons repository", "1.0.0"),
        Addon("core", "dashboard", "The Kubernetes dashboard", "2.7.0", until=35),
        Addon("core", "dns", "CoreDNS", "1.10.1", enabled_at_install_since=27),
        gpu,
        Addon("core", "ha-cluster", "Configure high availability on the current node", "1.0.0",
              always_enabled_since=0),
        Addon("core", "helm", helm_desc, "3.9.1", always_enabled_since=25),
        Addon("core", "helm3", "Helm 3 - the package manager for Kubernetes", "3.9.1",
              always_enabled_since=25),
        Addon("core", "host-access", "Allow Pods connecting to Host services smoothly", "1.0.0"),
        Addon("core", "hostpath-storage", "Storage class; allocates storage from host directory", "1.0.0"),
        Addon("core", "ingress", "Ingress controller for external access", "1.8.0"),
        Addon("core", "kube-ovn", "An advanced network fabric for Kubernetes", "1.11.3", since=25),
        Addon("core", "mayastor", "OpenEBS MayaStor", "2.0.0"),
        Addon("core", "metallb", "Loadbalancer for your Kubernetes cluster", "0.13.10"),
        Addon("core", "metrics-server", "K8s Metrics Server for API access to service metrics", "0.6.3"),
        Addon("core", "minio", "MinIO object storage", "4.5.1", since=26),
        Addon("core", "nvidia", "NVIDIA hardware (GPU and network) support", "1.0.0", since=29),
        Addon("core", "observability", "A lightweight observability stack for logs, traces and metrics",
              "0.1.0"),
        Addon("core", "prometheus", "Prometheus operator for monitoring and logging", "0.1.0"),
        Addon("core", "rbac", "Role-Based Access Control for authorisation", "1.0.0"),
        Addon("core", "registry", "Private image registry exposed on localhost:32000", "2.8.1"),
        Addon("core", "rook-ceph", "Distributed Ceph storage using Rook", "1.11.9", since=28),
        Addon("core", "storage", "Alias to hostpath-storage add-on, deprecated", "1.0.0",
              alias_of="hostpath-storage"),
    ]


_COMMUNITY = [
    Addon("community", "argocd", "Argo CD is a declarative continuous deployment for Kubernetes.", "4.6.3"),
    Addon("community", "cilium", "SDN, fast with full network policy", "1.14.1"),
    Addon("community", "istio", "Core Istio service mesh services", "1.18.2"),
    Addon("community", "linkerd", "Linkerd is a service mesh for Kubernetes and other frameworks", "2.13.6"),
    Addon("community", "multus", "Multus CNI enables attaching multiple network interfaces to pods", "4.0.2"),
    Addon("community", "nfs", "NFS Server Provisioner", "1.4.0"),
    Addon("community", "openebs", "OpenEBS is the open-source storage solution for Kubernetes", "3.9.0"),
    Addon("community", "traefik", "traefik Ingress controller", "2.10.4"),
]


def catalogue(minor: int, addon_state: dict) -> list[Addon]:
    """Addons available on microk8s 1.<minor>, sorted by (repository, name) like microk8s."""
    available = [a for a in _core(minor) if a.since <= minor <= a.until]
    if "core/community" in addon_state:
        available += _COMMUNITY
    return sorted(available, key=lambda a: (a.repository, a.name))


def is_enabled(addon: Addon, minor: int, addon_state: dict) -> bool:
    if minor >= addon.always_enabled_since:
        return True
    key = f"{addon.repository}/{addon.alias_of or addon.name}"
    return key in addon_state


def initial_state(minor: int, bundled_config: bool = True) -> dict:
    """Addons enabled right after install. dns comes from the launch configuration bundled with
    the snap (MK microk8s-resources/microk8s.default.yaml); a user's launch configuration
    replaces that one (snap/hooks/install:77-87), so then nothing is enabled here."""
    if not bundled_config:
        return {}
    return {f"{a.repository}/{a.name}": [] for a in _core(minor)
            if a.since <= minor <= a.until and minor >= a.enabled_at_install_since}


def split_status(minor: int, addon_state: dict) -> tuple[list[Addon], list[Addon]]:
    enabled, disabled = [], []
    for addon in catalogue(minor, addon_state):
        (enabled if is_enabled(addon, minor, addon_state) else disabled).append(addon)
    return enabled, disabled


def parse_args(words: list[str], available: list[Addon]) -> list[tuple[str, str, list[str]]]:
    """`name:arg`, `repo/name` and `name arg ...` forms, as microk8s's parse_xable_addon_args.

    Exits 1 (like microk8s) for a bare name found in no repository."""
    names = {a.name for a in available}
    if {w.split(":")[0] for w in words} < names:
        return [_parse_one(w, available) for w in words]
    repo, name, args = _parse_one(words[0], available)
    if args and words[1:]:
        common.out("Can't pass string arguments and flag arguments simultaneously!",
                   "Enable or disable addons with only one argument style at a time:", "",
                   "    microk8s enable foo:'bar'", "or", "    microk8s enable foo --bar", "")
        sys.exit(1)
    return [(repo, name, args or words[1:])]


def _parse_one(word: str, available: list[Addon]) -> tuple[str, str, list[str]]:
    name, *args = word.split(":")
    parts = name.split("/")
    if len(parts) == 2:
        return parts[0], parts[1], args
    if len(parts) != 1:
        common.out(f"Invalid addon name {name}")
        sys.exit(1)
    repos = [a.repository for a in available if a.name == name]
    if not repos:
        common.err(f"Addon {name} was not found in any repository")
        sys.exit(1)
    common.err(f"Infer repository {repos[0]} for addon {name}")
    return repos[0], name, args


_RANGE = re.compile(r"^\d+\.\d+\.\d+\.\d+(-\d+\.\d+\.\d+\.\d+|/\d+)$")


def _metallb_ranges(args: list[str]) -> str:
    # Only the first argument is read (CORE addons/metallb/enable:18); later words are dropped.
    value = args[0].strip() if args else ""
    if not value:
        # microk8s's metallb script prompts for the range on stdin
        print("Enter each IP address range delimited by comma (e.g. '10.64.140.43-10.64.140.49,"
              "192.168.0.105-192.168.0.111'): ", end="", flush=True)
        value = sys.stdin.readline().strip()
    if not value or not all(_RANGE.match(r.strip()) for r in value.split(",")):
        common.out(f"Your input value ({value}) is not a valid IP Range")
        sys.exit(1)
    return value


# Options of the GPU addon's click command. `gpu` up to 1.28: CORE branch 1.28
# addons/gpu/enable:34-40. `nvidia` from 1.29 (also reached through the `gpu` alias): CORE main
# addons/nvidia/enable:118-135, whose hidden old spellings stay accepted.
_GPU_OPTIONS = {"--requires", "--version", "--driver", "--toolkit-version", "--set-as-default-runtime",
                "--no-set-as-default-runtime", "--set", "-f", "--values"}
_NVIDIA_OPTIONS = _GPU_OPTIONS | {
    "--gpu-operator-version", "--gpu-operator-driver", "--gpu-operator-set", "--gpu-operator-values",
    "--gpu-operator", "--no-gpu-operator", "--gpu-operator-toolkit-version",
    "--gpu-operator-set-as-default-runtime", "--gpu-operator-no-set-as-default-runtime", "--network-operator",
    "--no-network-operator", "--network-operator-version", "--network-operator-set",
    "--network-operator-values"}


def _check_gpu_options(target: str, args: list[str]) -> None:
    """click's answer to an option the command does not declare: usage error, exit 2 (derived
    from click's UsageError handling, not from microk8s source)."""
    known = _NVIDIA_OPTIONS if target == "nvidia" else _GPU_OPTIONS
    for word in args:
        option = word.partition("=")[0]
        if option.startswith("-") and option not in known:
            common.err("Usage: enable [OPTIONS] [DRIVER_TYPE]", "Try 'enable --help' for help.", "",
                       f"Error: No such option: {option}")
            sys.exit(2)


def _confirm_storage_removal(args: list[str]) -> None:
    """hostpath-storage's disable script, after deleting the provisioner: `destroy-storage` as
    its first argument, or a yes on stdin, else exit 1 (CORE addons/hostpath-storage/disable:17-22)."""
    if args[:1] == ["destroy-storage"]:
        return
    print(f"Remove PVC storage at {common.snap_common()}/default-storage ? (Y/N): ", end="", flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        sys.exit(1)


def _side_effects(client, key: str, enable: bool, minor: int) -> None:
    """API objects that roles rely on after enabling these addons on a real microk8s."""
    objects = []
    if key == "core/hostpath-storage":
        objects.append(("/apis/storage.k8s.io/v1/storageclasses", {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "microk8s-hostpath",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "microk8s.io/hostpath", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer"}))
    if key == "core/ingress":
        classes = ["public"] + (["nginx"] if minor >= 28 else [])
        for name in classes:
            objects.append(("/apis/networking.k8s.io/v1/ingressclasses", {
                "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": name}, "spec": {"controller": "k8s.io/ingress-nginx"}}))
    for collection, obj in objects:
        if enable:
            client.apply(collection, obj)
        else:
            client.delete(f"{collection}/{obj['metadata']['name']}")


def xable(action: str, words: list[str]) -> int:
    enable = action == "enable"
    minor = common.installed_minor()
    shared = cluster.SharedState.for_this_node()
    state = shared.load()
    available = catalogue(minor, state["addons"])
    by_key = {f"{a.repository}/{a.name}": a for a in available}
    for repo, name, args in parse_args(words, available):
        key = f"{repo}/{name}"
        addon = by_key.get(key)
        if addon is None:
            common.out(f"Addon {key} not found")
            continue
        if is_enabled(addon, minor, state["addons"]) == enable:
            common.out(f"Addon {key} is already {action}d")
            continue
        if addon.name == "storage" and minor >= 24:
            common.out("DEPRECATION WARNING: 'storage' is deprecated and will soon be removed. "
                       "Please use 'hostpath-storage' instead.")
        if addon.name == "gpu" and addon.alias_of:
            common.out("WARNING: The 'gpu' addon has been renamed to 'nvidia'. Please use 'nvidia' instead.")
        target_key = f"{repo}/{addon.alias_of or addon.name}"
        if addon.name == "metallb" and enable:
            args = [_metallb_ranges(args)]
        if enable and (addon.alias_of or addon.name) in ("gpu", "nvidia"):
            _check_gpu_options(addon.alias_of or addon.name, args)
        if addon.always_enabled_since <= minor:
            common.out(f"Addon {key} is always enabled and cannot be disabled")
            return 1
        common.out(f"{'Enabling' if enable else 'Disabling'} {addon.alias_of or addon.name}")
        try:
            _side_effects(shared.client, target_key, enable, minor)
            shared.update(lambda s, k=target_key, a=list(args):
                          s["addons"].__setitem__(k, a) if enable else s["addons"].pop(k, None))
        except ApiError as exc:
            common.out(f"Failed to {action} {name}: {exc}")
            return 1
        if not enable and target_key == "core/hostpath-storage":
            _confirm_storage_removal(args)
        common.out(f"{addon.alias_of or addon.name} is {action}d")
        state = shared.load()
    return 0
