#!/usr/bin/env python
"""Node containers for the tests: images, containers, inventories, ansible-playbook.

Test-only (never shipped in the collection). The node image is a Debian bookworm root file
system made by debootstrap and imported into podman (no container registry is reachable here);
the derived image adds the TEST DOUBLES of snapd and microk8s from tests/nodes/standin/.
See tests/nodes/README.md.

    python tests/nodes/nodes.py build     # pre-build (or re-import) both images
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = Path(os.environ.get("SCIPLAT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sciplat-k8s")
IMAGES_DIR = CACHE / "images"
CONTAINERS_CONF = HERE / "containers.conf"
STANDIN_DIR = HERE / "standin"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# systemd runs as PID 1 so that services and handlers behave as on a VM; python3-apt serves
# Ansible's apt module, openssl the stand-in cluster agent's certificate, python3-yaml the
# stand-in's launch configuration files.
BASE_PACKAGES = sorted([
    "ca-certificates", "dbus", "iproute2", "iputils-ping", "openssl", "procps", "python3",
    "python3-apt", "python3-yaml", "sudo", "systemd", "systemd-sysv",
])
# Bump when the way the root file system is prepared changes, so the cached image is rebuilt.
BASE_RECIPE = "1"

NETWORK = "sciplat-test"
SUBNET = "10.89.77.0/24"
GATEWAY = "10.89.77.1"
LABEL = "io.sciplat.test-node"


def log(msg: str) -> None:
    print(f"[nodes] {msg}", file=sys.stderr, flush=True)


def podman_env() -> dict:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = True, capture: bool = True, input: bytes | None = None,
           timeout: float | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], env=podman_env(), input=input, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, check=False)
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if capture else ""
        raise RuntimeError(f"podman {' '.join(args)} failed ({proc.returncode}): {err.strip()}")
    return proc


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def _sha(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:12]


def base_hash() -> str:
    return _sha([SUITE.encode(), MIRROR.encode(), BASE_RECIPE.encode(), "\n".join(BASE_PACKAGES).encode()])


def base_image() -> str:
    return f"localhost/sciplat-node-base:{base_hash()}"


def _debootstrap(target: Path) -> None:
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
           str(target), MIRROR]
    log("running " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace")[-4000:]
        raise RuntimeError(f"debootstrap failed ({proc.returncode}):\n{tail}")
    # systemd generates a fresh machine-id per container when the file is empty.
    (target / "etc/machine-id").write_text("")
    (target / "etc/hostname").unlink(missing_ok=True)
    (target / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\ndeb {MIRROR} {SUITE}-updates main\n"
        f"deb http://deb.debian.org/debian-security {SUITE}-security main\n")
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (target / sub).glob("*"):
            if entry.is_file():
                entry.unlink()


def ensure_base_image() -> str:
    name = base_image()
    if image_exists(name):
        return name
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    tarball = IMAGES_DIR / f"sciplat-node-base-{base_hash()}.tar"
    if not tarball.exists():
        start = time.monotonic()
        with tempfile.TemporaryDirectory(dir=IMAGES_DIR, prefix="rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            _debootstrap(rootfs)
            partial = tarball.with_suffix(".tar.partial")
            subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
            partial.rename(tarball)
        log(f"debootstrap + tar took {time.monotonic() - start:.0f}s ({tarball})")
    start = time.monotonic()
    podman("import", "--change", 'CMD ["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
           str(tarball), name)
    log(f"imported {name} in {time.monotonic() - start:.1f}s")
    return name


# ------------------------------------------------------------------ stand-in image

SNAPD_DEB_VERSION = "2.63+sciplat.standin1"
_DEB_CONTROL = f"""Package: snapd
Version: {SNAPD_DEB_VERSION}
Architecture: all
Maintainer: sciplat.k8s tests <tests@sciplat.invalid>
Depends: python3, python3-yaml, openssl, iproute2
Section: admin
Priority: optional
Description: TEST DOUBLE of snapd and the microk8s snap (sciplat.k8s tests only)
 Provides /usr/bin/snap and, once `snap install microk8s` ran, /snap/bin/microk8s.
 They follow the documented command-line behaviour on top of a real Kubernetes API
 server run by the test harness. This is NOT snapd and NOT microk8s.
"""


def _standin_files() -> list[Path]:
    return sorted(p for p in STANDIN_DIR.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def node_hash() -> str:
    parts = [base_hash().encode(), _DEB_CONTROL.encode()]
    for file in _standin_files():
        parts += [str(file.relative_to(STANDIN_DIR)).encode(), file.read_bytes()]
    return _sha(parts)


def node_image() -> str:
    return f"localhost/sciplat-node:{node_hash()}"


def build_snapd_deb(dest: Path) -> Path:
    """The test-only `snapd` package: so that `apt: name=snapd` finds snapd installed."""
    pkg = dest / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(_DEB_CONTROL)
    lib = pkg / "usr/lib/sciplat-standin"
    shutil.copytree(STANDIN_DIR / "lib", lib, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pkg / "usr/bin").mkdir(parents=True)
    shutil.copy2(STANDIN_DIR / "snap", pkg / "usr/bin/snap")
    (pkg / "etc/profile.d").mkdir(parents=True)
    shutil.copy2(STANDIN_DIR / "apps-bin-path.sh", pkg / "etc/profile.d/apps-bin-path.sh")
    for folder in ("snap/bin", "var/lib/snapd"):
        (pkg / folder).mkdir(parents=True)
    deb = dest / "snapd.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(pkg), str(deb)],
                   check=True, capture_output=True)
    return deb


def ensure_node_image() -> str:
    name = node_image()
    if image_exists(name):
        return name
    base = ensure_base_image()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sciplat-node-") as tmp:
        context = Path(tmp)
        build_snapd_deb(context)
        shutil.copy2(STANDIN_DIR / "Containerfile", context / "Containerfile")
        podman("build", "--pull=never", "--build-arg", f"BASE={base}", "-t", name, str(context))
    log(f"built {name} in {time.monotonic() - start:.1f}s")
    return name


def ensure_images() -> str:
    """Both images, built or re-imported as needed; returns the node image to run."""
    return ensure_node_image()


# ------------------------------------------------------------------ the real cluster's facts

def _testcluster():
    """helper module of the real control plane (tests/cluster/testcluster.py)."""
    sys.path.insert(0, str(ROOT / "tests/cluster"))
    import testcluster  # noqa: PLC0415 - optional until the cluster is used
    return testcluster


def ensure_network() -> None:
    tc = _testcluster()
    tc.ensure_node_network(tc.state_dir())


# ------------------------------------------------------------------ containers

@dataclass
class Node:
    container: str
    hostname: str
    ip: str

    def exec(self, *cmd: str, input: str | None = None, check: bool = False, user: str | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess:
        args = ["exec", "-i"] + (["--user", user] if user else []) + [self.container, *cmd]
        proc = subprocess.run(["podman", *args], env=podman_env(), input=input, text=True,
                              capture_output=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.hostname}: {' '.join(cmd)} exited {proc.returncode}\n"
                               f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def sh(self, script: str, **kwargs) -> subprocess.CompletedProcess:
        return self.exec("bash", "-c", script, **kwargs)

    def write(self, path: str, content: str) -> None:
        self.exec("bash", "-c", f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}'", input=content, check=True)


class NodeSet:
    """Node containers of one test (or one test module): start, inventory, playbooks, teardown."""

    def __init__(self, run_id: str | None = None, image: str | None = None,
                 kubeconfig: Path | None = None, kubectl: Path | None = None, helm: Path | None = None):
        self.run_id = run_id or f"{os.getpid()}-{int(time.time() * 1000) % 100000000}"
        self.image = image
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        self.helm = helm
        self.nodes: list[Node] = []

    def _mounts(self) -> list[str]:
        tc = _testcluster()
        kubeconfig = self.kubeconfig or tc.Cluster().nodes_kubeconfig
        kubectl = self.kubectl or tc.kube_tool("kubectl")
        helm = self.helm or tc.helm_path()
        args = ["-v", f"{kubeconfig}:/etc/sciplat-standin/kubeconfig:ro"]
        for tool, path in (("kubectl", kubectl), ("helm", helm)):
            if Path(path).exists():
                args += ["-v", f"{path}:/opt/sciplat-standin/bin/{tool}:ro"]
        return args

    def start(self, hostnames: list[str] | dict[str, str | None], timeout: float = 90) -> list[Node]:
        """Start one container per host name (alphanumeric), with a fixed IP where one is given."""
        wanted = hostnames if isinstance(hostnames, dict) else {h: None for h in hostnames}
        image = self.image or ensure_images()
        ensure_network()
        mounts = self._mounts()
        started = []
        for hostname, ip in wanted.items():
            if not hostname.isalnum():
                raise ValueError(f"node host names must be alphanumeric: {hostname!r}")
            container = f"sciplat-{self.run_id}-{hostname}"
            args = ["run", "-d", "--name", container, "--hostname", hostname, "--network", NETWORK,
                    "--systemd=always", "--label", f"{LABEL}={self.run_id}", *mounts]
            if ip:
                args += ["--ip", ip]
            podman(*args, image, "/sbin/init")
            address = podman("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
                             container).stdout.decode().strip()
            node = Node(container, hostname, address)
            self.nodes.append(node)
            started.append(node)
        for node in started:
            self._wait_booted(node, timeout)
        return started

    @staticmethod
    def _wait_booted(node: Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = node.exec("systemctl", "is-system-running", timeout=30).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{node.hostname}: systemd did not finish booting in {timeout}s (state {state!r})")

    def node(self, hostname: str) -> Node:
        return next(n for n in self.nodes if n.hostname == hostname)

    def inventory(self, path: Path, groups: dict[str, list[str]] | None = None,
                  host_vars: dict[str, dict] | None = None, group_vars: dict | None = None) -> Path:
        """An Ansible inventory reaching the containers through containers.podman.podman."""
        def host_entry(node: Node) -> dict:
            return {"ansible_host": node.container, "sciplat_test_ip": node.ip, **(host_vars or {}).get(node.hostname, {})}

        groups = groups or {"nodes": [n.hostname for n in self.nodes]}
        data = {"all": {"vars": {"ansible_connection": "containers.podman.podman",
                                 "ansible_python_interpreter": "/usr/bin/python3", **(group_vars or {})},
                        "children": {group: {"hosts": {h: host_entry(self.node(h)) for h in members}}
                                     for group, members in groups.items()}}}
        path.write_text(json.dumps(data, indent=2))
        return path

    def ansible_env(self) -> dict:
        tc = _testcluster()
        env = podman_env()
        venv = Path(os.environ.get("SCIPLAT_VENV") or ROOT / ".venv")
        collections = CACHE / "collections"
        link = collections / "ansible_collections/sciplat/k8s"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(ROOT)
        site = next((venv / "lib").glob("python3*/site-packages"), venv)
        env.update(tc.Cluster().env())
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
        env["ANSIBLE_COLLECTIONS_PATH"] = f"{collections}:{site}"
        env["ANSIBLE_NOCOLOR"] = "1"
        env["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
        return env

    def ansible_playbook(self, playbook: Path, inventory: Path, *args: str,
                         extra_vars: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
        cmd = [str(Path(os.environ.get("SCIPLAT_VENV") or ROOT / ".venv") / "bin/ansible-playbook"),
               "-i", str(inventory), str(playbook), *args]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        return subprocess.run(cmd, env=self.ansible_env(), text=True, capture_output=True, timeout=timeout, check=False)

    def teardown(self) -> None:
        """Remove the containers and what their stand-ins left in the shared API server."""
        names = [n.hostname for n in self.nodes]
        for node in self.nodes:
            cluster_id = node.exec("cat", "/var/snap/microk8s/current/var/sciplat-standin/cluster-id").stdout.strip()
            if cluster_id:
                self._kubectl("delete", "configmap", "-n", "kube-system", "--ignore-not-found",
                              f"sciplat-standin-microk8s-{cluster_id}")
        podman("rm", "-f", "-t", "0", *[n.container for n in self.nodes], check=False)
        if names:
            self._kubectl("delete", "node", "--ignore-not-found", *names)
        self.nodes = []

    @staticmethod
    def _kubectl(*args: str) -> None:
        tc = _testcluster()
        kubeconfig = tc.Cluster().kubeconfig
        if kubeconfig.exists():
            subprocess.run([str(tc.kube_tool("kubectl")), f"--kubeconfig={kubeconfig}", *args],
                           capture_output=True, check=False, timeout=60)


def remove_leftovers() -> int:
    """Containers of earlier runs (any run id), e.g. after an interrupted test session."""
    ids = podman("ps", "-aq", "--filter", f"label={LABEL}").stdout.decode().split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids, check=False)
    return len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build or re-import the node images; prints the node image name")
    sub.add_parser("clean", help="remove node containers left by interrupted runs")
    sub.add_parser("env", help="print shell exports for molecule scenarios (image, kubeconfig, tools)")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        start = time.monotonic()
        base_cached = image_exists(base_image())
        log(f"base image {base_image()} ({'cached' if base_cached else 'building'})")
        name = ensure_images()
        log(f"node image {name} ready in {time.monotonic() - start:.1f}s")
        print(name)
    elif args.cmd == "env":
        tc = _testcluster()
        env = NodeSet().ansible_env()
        exports = {"SCIPLAT_NODE_IMAGE": ensure_images(), "SCIPLAT_NODES_KUBECONFIG": tc.Cluster().nodes_kubeconfig,
                   "SCIPLAT_KUBECTL": tc.kube_tool("kubectl"), "SCIPLAT_HELM": tc.helm_path(),
                   **{k: env[k] for k in ("CONTAINERS_CONF", "ANSIBLE_COLLECTIONS_PATH", "KUBECONFIG")}}
        for key, value in exports.items():
            print(f"export {key}={shlex.quote(str(value))}")
    else:
        log(f"removed {remove_leftovers()} container(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
