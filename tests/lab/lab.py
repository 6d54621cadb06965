#!/usr/bin/env python
"""Node containers with a fixed run id for scripts/quickstart.sh and bench/site_rerun (test-only).

    python tests/lab/lab.py up lab1                       # container sciplat-lab-lab1, hostname lab1
    python tests/lab/lab.py volumes mip-mip-local         # 4 static PersistentVolumes of that class
    python tests/lab/lab.py down --release exaflow/exaflow --release mip/mip --storage-class mip-mip-local
    eval "$(python tests/lab/lab.py cluster start site)"   # a private API server; `cluster stop site` removes it

`up` reuses a container of the same run id while it runs the current node image (so a rerun of the
quickstart finds its converged node) and replaces it otherwise. `volumes` is a STAND-IN for microk8s'
hostpath provisioner: the stand-in's hostpath-storage addon only creates the StorageClass, and the
test cluster runs no provisioner, so the claims of a release are bound to PersistentVolumes made here.
`down` removes what `up`, `volumes` and a site run left in the shared API server and in podman.
`cluster` runs a private instance of the test control plane (tests/cluster) on other ports, for runs
that must not meet other sessions' Nodes and releases; the commands above follow its exported
KUBECONFIG and SCIPLAT_NODES_KUBECONFIG.
See tests/lab/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "nodes"), str(HERE.parent / "cluster")]

import nodes  # noqa: E402  pylint: disable=wrong-import-position
import testcluster  # noqa: E402  pylint: disable=wrong-import-position

VOLUME_LABEL = "io.sciplat.test-lab/storage-class"
# Private control planes sit this far above the shared one's ports (16443, 23790, ...).
PRIVATE_PORT_OFFSET = 1000


def log(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def _container_state(name: str) -> dict | None:
    done = nodes.podman("inspect", "--type", "container", name, check=False)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)[0]


def _remove(node_set: nodes.NodeSet, node: nodes.Node) -> None:
    """Remove one container and its Node and stand-in cluster state from the API server."""
    node_set.nodes = [node]
    node_set.teardown()


def up(run_id: str, hostnames: list[str]) -> nodes.NodeSet:
    """One running container per host name, reused while it runs the current node image."""
    image = nodes.ensure_images()
    private = os.environ.get("SCIPLAT_NODES_KUBECONFIG")
    node_set = nodes.NodeSet(run_id=run_id, image=image, kubeconfig=Path(private) if private else None)
    kept, missing = [], []
    for hostname in hostnames:
        container = f"sciplat-{run_id}-{hostname}"
        state = _container_state(container)
        if state is None:
            missing.append(hostname)
            continue
        node = nodes.Node(container, hostname, "")
        if state["ImageName"] != image:
            log(f"{container} runs {state['ImageName']}, not {image}: replacing it")
            if not state["State"]["Running"]:
                nodes.podman("start", container)
            _remove(node_set, node)
            missing.append(hostname)
            continue
        if not state["State"]["Running"]:
            log(f"starting the stopped container {container}")
            nodes.podman("start", container)
        log(f"reusing {container}")
        kept.append(node)
    node_set.nodes = []
    if missing:
        log(f"starting {', '.join(missing)} ({image})")
        node_set.start(missing)
    for node in kept:
        node.ip = nodes.podman("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{nodes.NETWORK}").IPAddress}}}}',
                               node.container).stdout.decode().strip()
        node_set.nodes.append(node)
        # pylint: disable-next=protected-access
        nodes.NodeSet._wait_booted(node, 90)
    return node_set


def admin_kubeconfig() -> str:
    """The API server the commands act on: $KUBECONFIG (e.g. a private instance) or the shared one."""
    return os.environ.get("KUBECONFIG") or str(testcluster.Cluster().kubeconfig)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(testcluster.kube_tool("kubectl")), f"--kubeconfig={admin_kubeconfig()}", *args],
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done


def volumes(storage_class: str, count: int, size: str = "2Gi") -> list[str]:
    """Static volumes of a class (stand-in for the hostpath provisioner); released ones are freed again."""
    names = [f"{storage_class}-{index}" for index in range(count)]
    manifests = [{
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {VOLUME_LABEL: storage_class}},
        "spec": {"storageClassName": storage_class, "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain",
                 "hostPath": {"path": f"/var/snap/microk8s/common/default-storage/{name}"}},
    } for name in names]
    existing = json.loads(kubectl("get", "pv", "-l", f"{VOLUME_LABEL}={storage_class}", "-o", "json").stdout)["items"]
    for volume in existing:
        # A Retain volume whose claim went away (release uninstalled) would never bind again.
        if volume["status"].get("phase") == "Released":
            kubectl("patch", "pv", volume["metadata"]["name"], "--type=json",
                    "-p", '[{"op": "remove", "path": "/spec/claimRef"}]')
    known = {volume["metadata"]["name"] for volume in existing}
    new = [manifest for manifest in manifests if manifest["metadata"]["name"] not in known]
    if new:
        kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": new}))
    return names


def down(run_id: str, releases: list[str], storage_classes: list[str]) -> None:
    """Remove the releases (namespace/name) with their namespaces, the volumes and the run's containers."""
    helm = testcluster.helm_path()
    env = dict(os.environ, KUBECONFIG=admin_kubeconfig())
    namespaces = []
    for release in releases:
        namespace, name = release.split("/", 1)
        namespaces.append(namespace)
        subprocess.run([str(helm), "uninstall", name, "-n", namespace, "--wait", "--timeout", "2m", "--ignore-not-found"],
                       env=env, capture_output=True, check=False, timeout=180)
    if namespaces:
        # Waited for: a run right after this one recreates them.
        kubectl("delete", "namespace", "--ignore-not-found", "--timeout=120s", *sorted(set(namespaces)), check=False)
    for storage_class in storage_classes:
        kubectl("delete", "pv", "-l", f"{VOLUME_LABEL}={storage_class}", "--ignore-not-found", "--wait=false", check=False)
    containers = nodes.podman("ps", "-a", "--filter", f"label={nodes.LABEL}={run_id}", "--format", "{{.Names}}"
                              ).stdout.decode().split()
    node_set = nodes.NodeSet(run_id=run_id)
    for container in containers:
        state = _container_state(container)
        if state and not state["State"]["Running"]:
            nodes.podman("start", container, check=False)
        node_set.nodes.append(nodes.Node(container, state["Config"]["Hostname"] if state else "", ""))
    node_set.nodes = [node for node in node_set.nodes if node.hostname]
    node_set.teardown()
    log(f"removed {len(containers)} container(s), {len(releases)} release(s), the volumes of "
        f"{', '.join(storage_classes) or 'no class'}")


def private_cluster(name: str) -> testcluster.Cluster:
    return testcluster.Cluster(state=testcluster.state_dir().parent / f"cluster-{name}",
                               ports=testcluster.Ports().shifted(PRIVATE_PORT_OFFSET))


def private_env(cluster: testcluster.Cluster) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig), "K8S_AUTH_KUBECONFIG": str(cluster.kubeconfig),
            "SCIPLAT_NODES_KUBECONFIG": str(cluster.nodes_kubeconfig)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-id", default="lab", help="containers are named sciplat-<run id>-<host name>")
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("up", help="start (or reuse) one node container per host name")
    start.add_argument("hostnames", nargs="+")
    pvs = sub.add_parser("volumes", help="static PersistentVolumes for a StorageClass (hostpath provisioner stand-in)")
    pvs.add_argument("storage_class")
    pvs.add_argument("--count", type=int, default=4)
    stop = sub.add_parser("down", help="remove the run's containers, releases and volumes")
    stop.add_argument("--release", action="append", default=[], help="NAMESPACE/NAME of a helm release to uninstall")
    stop.add_argument("--storage-class", action="append", default=[], help="remove the volumes made for this class")
    private = sub.add_parser("cluster", help="a private test control plane on other ports: start (prints exports), stop")
    private.add_argument("action", choices=("start", "stop"))
    private.add_argument("name")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        for node in up(args.run_id, args.hostnames).nodes:
            print(f"{node.hostname} {node.container} {node.ip}")
    elif args.cmd == "volumes":
        log(f"volumes for {args.storage_class}: {', '.join(volumes(args.storage_class, args.count))}")
    elif args.cmd == "down":
        down(args.run_id, args.release, args.storage_class)
    elif args.action == "start":
        cluster = private_cluster(args.name)
        cluster.start()
        for key, value in private_env(cluster).items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        cluster = private_cluster(args.name)
        cluster.stop()
        shutil.rmtree(cluster.state, ignore_errors=True)
        log(f"stopped and removed {cluster.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
