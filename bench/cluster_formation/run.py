#!/usr/bin/env python
"""Benchmark: cluster formation time of the microk8s_cluster role with 2, 4 and 8 workers.

For each size, fresh node containers (tests/nodes NodeSet: Debian userland with the snapd/microk8s
TEST DOUBLES, Nodes in the real API server of tests/cluster, made Ready by kwok): one control plane
and N workers, microk8s installed on all of them beforehand (in parallel, not timed: installing is
per node and the same whatever the cluster's size). The figure is the wall-clock time of one
`ansible-playbook` process running the role sciplat.k8s.microk8s_cluster on that inventory:
preflight, probe, the joins, the wait for every joined node's Node to register and be Ready, the
report. The stand-in's kubelet registers a joined node's Node 5 s after its join (its default,
tests/nodes/README.md). Target: (1+8) / (1+2) <= 1.3, i.e. formation time does not grow with the
number of workers.

Ansible runs a task on 5 hosts at a time unless told otherwise (`forks`); the run passes `--forks`
(default 10, more than the 9 hosts of the largest size), as a federation of that size would set it.

Usage: python bench/cluster_formation/run.py [--workers 2 4 8] [--forks 10] [--keep]
Needs the test cluster and the node images (eval "$(python tests/cluster/testcluster.py env)";
eval "$(python tests/nodes/nodes.py env)"). Exit status: 0 when every formation succeeds (the ratio
is reported, not enforced); 1 otherwise. The containers and their Nodes are removed after each size
unless --keep.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "nodes")]

import nodes  # noqa: E402  pylint: disable=wrong-import-position

CHANNEL = "1.32/stable"
TARGET_RATIO = 1.3
PLAY = [{"name": "Form the cluster", "hosts": "control_plane:workers", "gather_facts": False,
         "roles": [{"role": "sciplat.k8s.microk8s_cluster"}]}]


def install(node: nodes.Node) -> None:
    node.exec("snap", "install", "microk8s", "--classic", f"--channel={CHANNEL}", check=True)
    node.exec("microk8s", "status", "--wait-ready", "--timeout", "120", check=True)


def form(workers: int, forks: int, workdir: Path, keep: bool) -> dict:
    """Start 1 + `workers` fresh containers, install microk8s, time the cluster role once."""
    # Host names become Node names in the shared API server: unique per run.
    prefix = "cf" + secrets.token_hex(2)
    master = f"{prefix}m"
    names = [f"{prefix}w{i}" for i in range(1, workers + 1)]
    node_set = nodes.NodeSet(run_id=f"bench-{prefix}")
    try:
        started = node_set.start([master, *names])
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(install, started))
        inventory = node_set.inventory(workdir / f"hosts-{workers}.json",
                                       groups={"control_plane": [master], "workers": names},
                                       group_vars={"microk8s_cluster_ready_timeout": 120})
        playbook = workdir / "form.yml"
        playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))
        load = os.getloadavg()[0]
        start = time.monotonic()
        done = node_set.ansible_playbook(playbook, inventory, f"--forks={forks}")
        seconds = time.monotonic() - start
        (workdir / f"form-{workers}.log").write_text(done.stdout + done.stderr)
        joined = sum(1 for name in names
                     if node_set.node(name).exec("test", "-e", "/var/snap/microk8s/current/var/lock/clustered.lock")
                     .returncode == 0)
        return {"workers": workers, "rc": done.returncode, "seconds": seconds, "joined": joined, "load": load}
    finally:
        if not keep:
            node_set.teardown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--forks", type=int, default=10, help="hosts Ansible runs a task on at a time")
    parser.add_argument("--keep", action="store_true", help="leave the containers of every size running")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cluster-formation-"))
    nodes.ensure_images()
    runs = [form(count, args.forks, workdir, args.keep) for count in args.workers]

    print(f"microk8s_cluster formation, 1 control plane + N workers (node containers, stand-ins), "
          f"forks {args.forks}; logs in {workdir}")
    print(f"{'workers':>7} {'seconds':>8} {'joined':>7} {'rc':>3} {'load':>5}")
    for run in runs:
        print(f"{run['workers']:>7} {run['seconds']:>8.1f} {run['joined']:>7} {run['rc']:>3} {run['load']:>5.1f}")
    failed = [run for run in runs if run["rc"] != 0 or run["joined"] != run["workers"]]
    if failed:
        print("FAILED: a formation failed or left workers out; see the logs")
        return 1
    by_size = {run["workers"]: run["seconds"] for run in runs}
    if 2 in by_size and 8 in by_size:
        ratio = by_size[8] / by_size[2]
        print(f"ratio (1+8)/(1+2): {ratio:.2f} (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
