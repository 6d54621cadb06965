#!/usr/bin/env python
"""Benchmark: a second run of playbooks/site.yml on the same inventory against the first one.

One run on the test environment: fresh node containers with the snapd/microk8s TEST DOUBLES
(tests/nodes, started through tests/lab/lab.py), a private instance of the real control plane of
tests/cluster (kube-apiserver etc. on other ports, kwok nodes; started and removed by the run), and
the MIP shape of inventories/test_lab (microk8s, cluster, labels, data layout, Exaflow and MIP on
their real upstream charts, through the offline mirror of SCIPLAT_UPSTREAM:
tests/upstream/mirror.py). site.yml runs twice on the same inventory; the figures are the
wall-clock time of each ansible-playbook process and the task counts of its PLAY RECAP (summed over
hosts). Target: the second run takes at most half the first and changes nothing.

Shapes: `lab` = one node that is control plane and data holder (inventories/test_lab),
`federation` = 1 control plane + 2 data workers (the molecule/site shape).

Usage: python bench/site_rerun/run.py [--shape lab|federation] [--keep]
Exit status: 0 when both runs succeed and the second reports changed=0 (the time ratio is reported,
not enforced); 1 otherwise. Everything the run made is removed at the end unless --keep
(then: python tests/lab/lab.py --run-id benchsite down; python tests/lab/lab.py cluster stop bench).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "lab"), str(ROOT / "tests" / "nodes"), str(ROOT / "tests" / "cluster"),
                str(ROOT / "tests" / "upstream")]

import lab  # noqa: E402  pylint: disable=wrong-import-position
import mirror  # noqa: E402  pylint: disable=wrong-import-position
import nodes  # noqa: E402  pylint: disable=wrong-import-position

RUN_ID = "benchsite"
SHAPES = {
    "lab": {"control_plane": ["benchlab1"], "workers": ["benchlab1"]},
    "federation": {"control_plane": ["benchmaster"], "workers": ["benchworker1", "benchworker2"]},
}
EXAFLOW_NS = "bench-exaflow"
MIP_NS = "bench-mip"
STORAGE_CLASS = f"{MIP_NS}-mip-local"
RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.MULTILINE)
TARGET_RATIO = 0.5


def lab_vars() -> dict:
    """The lab inventory's group_vars (one source for the platform settings)."""
    merged = {}
    for path in sorted((ROOT / "inventories" / "test_lab" / "group_vars" / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()))
    return merged


def inventory(workdir: Path, shape: str, node_set: nodes.NodeSet) -> Path:
    groups = SHAPES[shape]
    kubeconfig = workdir / "site.kubeconfig"
    variables = lab_vars()
    variables.update({
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
        "microk8s_cluster_kubeconfig": str(kubeconfig),
        "exaflow_namespace": EXAFLOW_NS,
        "exaflow_chart_path": str(ROOT / "tests" / "charts" / "exaflow"),
        "data_layout_source_path": str(ROOT / "tests" / "fixtures" / "datasets" / "good"),
        "mip_namespace": MIP_NS,
        "mip_chart_path": str(ROOT / "tests" / "charts" / "mip"),
    })
    hosts = {node.hostname: {"ansible_host": node.container} for node in node_set.nodes}
    control_planes = groups["control_plane"]
    workers = groups["workers"]
    for name in set(control_planes) & set(workers):
        # As in inventories/test_lab: a control plane that holds data is labelled worker by every labelling play.
        hosts[name]["cluster_labels_host_labels"] = {"worker": "true"}
    data = {"all": {"vars": variables, "children": {
        "control_plane": {"hosts": {name: hosts[name] for name in control_planes}},
        "workers": {"hosts": {name: hosts[name] for name in workers}},
        # Cluster formation's group names (playbooks/cluster.yml).
        "microk8s_control_plane": {"children": {"control_plane": {}}},
        "microk8s_workers": {"hosts": {name: {} for name in workers if name not in control_planes}},
    }}}
    path = workdir / "hosts.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def site_run(inventory_path: Path, env: dict, log: Path) -> dict:
    start = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path), "sciplat.k8s.site"],
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    log.write_text(done.stdout + done.stderr)
    counts = {key: 0 for key in ("ok", "changed", "skipped", "failed", "unreachable")}
    for match in RECAP.finditer(done.stdout):
        for key in counts:
            counts[key] += int(match[key])
    return {"rc": done.returncode, "seconds": seconds, **counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="lab")
    parser.add_argument("--keep", action="store_true", help="leave the containers and the private control plane for inspection")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()

    # A private control plane (tests/lab cluster): other sessions' Nodes, releases and load on the shared
    # API server would change the figures and could take the Exaflow NodePort.
    cluster = lab.private_cluster("bench")
    # The first run starts from nothing: no API objects and no containers of an earlier (--keep) run.
    lab.down(RUN_ID, [], [])
    cluster.stop()
    shutil.rmtree(cluster.state, ignore_errors=True)
    cluster.start()
    os.environ.update(lab.private_env(cluster))
    hostnames = sorted(set(SHAPES[args.shape]["control_plane"] + SHAPES[args.shape]["workers"]))
    workdir = Path(tempfile.mkdtemp(prefix="site-rerun-"))
    node_set = lab.up(RUN_ID, hostnames)
    lab.volumes(STORAGE_CLASS, 4)
    hosts = inventory(workdir, args.shape, node_set)
    env = dict(nodes.NodeSet().ansible_env())
    # What the lab inventory reads for its charts (scripts/quickstart.sh exports the same).
    env["SCIPLAT_CHART_MIRROR"] = json.dumps(mirror.chart_mirror())
    if mirror.upstream_dir() is not None:
        env["SCIPLAT_MIP_ASSEMBLED_CHART"] = str(mirror.assembled_mip_chart())
    # The inventory's fetched kubeconfig is the only way to the API server, as on real machines.
    for key in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG"):
        env.pop(key, None)
    try:
        first = site_run(hosts, env, workdir / "first.log")
        second = site_run(hosts, env, workdir / "second.log") if first["rc"] == 0 else None
    finally:
        if not args.keep:
            lab.down(RUN_ID, [], [])
            cluster.stop()
            shutil.rmtree(cluster.state, ignore_errors=True)

    print(f"site.yml rerun, shape {args.shape} ({len(hostnames)} node container(s)), load average "
          f"{load_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; logs in {workdir}")
    print(f"{'run':<8} {'seconds':>8} {'ok':>5} {'changed':>8} {'skipped':>8} {'failed':>7}")
    for name, run in (("first", first), ("second", second)):
        if run:
            print(f"{name:<8} {run['seconds']:>8.1f} {run['ok']:>5} {run['changed']:>8} {run['skipped']:>8} "
                  f"{run['failed'] + run['unreachable']:>7}")
    if first["rc"] != 0 or second is None or second["rc"] != 0:
        print("FAILED: a site.yml run failed; see the logs")
        return 1
    ratio = second["seconds"] / first["seconds"]
    print(f"ratio second/first: {ratio:.2f} (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    if second["changed"]:
        print(f"FAILED: the second run changed {second['changed']} task(s)")
        return 1
    print("second run: changed=0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
