"""Benchmark: sciplat.k8s.node_labels against the usual ways of labelling many Nodes.

One run on the test cluster's real kube-apiserver (tests/cluster), with N Nodes (default 200)
created for the run and deleted afterwards:

  (a) no-op reconcile: every node already has its labels.
      - sciplat.k8s.node_labels, one playbook task for all nodes
      - a `kubectl label --overwrite` shell loop, one kubectl per node
      - the same kubectl command as an Ansible task looped over the nodes, as kubespray labels nodes
      - a kubernetes.core.k8s task looped over the nodes
  (b) the same with K (default 10) of the N nodes needing one more label.

Timings go straight to the API server. Request counts come from separate runs of the module
through a counting reverse proxy on loopback (tests/integration/api_counting_proxy.py), and are
asserted: the no-op run makes exactly one request (the LIST) and no write; the K-changed run
makes one LIST and exactly K PATCH requests. A playbook's time is its task's duration as the
ansible.posix.json callback records it (the frame a user sees: one task in a play that is
running anyway); whole-process times, which add ~0.5 s of ansible-playbook start-up, are
printed too, and so is an ansible.builtin.ping task run just before the module in the same
play: Ansible's own cost for any task, the floor under every playbook figure. Ratio targets: no-op >= 30x faster than the kubectl loop, K-changed >= 10x faster
than the kubernetes.core.k8s loop.

Usage: python bench/node_labels/run.py [--nodes 200] [--changed 10]
Exit status: 0 when the request-count assertions hold (targets are reported, not enforced),
1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "cluster"), str(ROOT / "tests" / "integration")]

import testcluster  # noqa: E402
from api_counting_proxy import CountingProxy  # noqa: E402

PREFIX = "nlbench-"
BENCH_LABEL = "k8s.sciplat.io/bench"  # marks the run's Nodes so cleanup deletes only them
MANAGED = "k8s.sciplat.io/managed-labels"
BASE_LABELS = {"worker": "true", "k8s.sciplat.io/federation": "bench"}
EXTRA_LABEL = ("smpc_player", "true")
MODULE_REPEATS = 3  # the module runs take well under a second: report the median of three

MODULE_PLAY = """
- name: node_labels
  hosts: localhost
  gather_facts: false
  tasks:
    # Ansible's own cost of running any module task, measured in the same play; it also warms the
    # play up so the module's task is timed as one task among others, which is how it is used.
    - name: Floor
      ansible.builtin.ping:

    - name: Reconcile all node labels in one task
      sciplat.k8s.node_labels:
        labels: "{{ lookup('ansible.builtin.file', desired_file) | from_json }}"
        exclusive: true
"""

KUBECTL_TASK_LOOP_PLAY = """
- name: kubectl label task loop (kubespray's way)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Label each node with kubectl label --overwrite
      ansible.builtin.command:
        argv: "{{ ['kubectl', 'label', '--overwrite', 'node', item.key]
                  + item.value | dict2items | map('join', '=') | sort }}"
      loop: "{{ lookup('ansible.builtin.file', desired_file) | from_json | dict2items }}"
      changed_when: true
"""

K8S_LOOP_PLAY = """
- name: kubernetes.core.k8s loop
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Label each node with kubernetes.core.k8s
      kubernetes.core.k8s:
        state: present
        definition:
          apiVersion: v1
          kind: Node
          metadata:
            name: "{{ item.key }}"
            labels: "{{ item.value }}"
      loop: "{{ lookup('ansible.builtin.file', desired_file) | from_json | dict2items }}"
"""


class Run(NamedTuple):
    tasks: list  # seconds of each task, as the ansible.posix.json callback recorded them
    wall: float  # seconds of the whole ansible-playbook process
    result: dict  # the contender's (the last task's) result

    @property
    def task(self) -> float:
        return self.tasks[-1]


class Bench:
    def __init__(self, nodes: int, changed: int, workdir: Path):
        cluster = testcluster.Cluster()
        cluster.start()
        self.kubeconfig = str(cluster.kubeconfig)
        self.server = cluster.server
        self.env = {**os.environ, **cluster.env()}
        self.env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
                        ANSIBLE_DEPRECATION_WARNINGS="false", ANSIBLE_LOCALHOST_WARNING="false")
        self.kubectl = str(testcluster.kube_tool("kubectl"))
        self.names = ["%s%03d" % (PREFIX, i) for i in range(nodes)]
        self.changed_names = self.names[:changed]
        self.workdir = workdir
        self.failures: list[str] = []
        (workdir / "module.yml").write_text(MODULE_PLAY)
        (workdir / "k8s_loop.yml").write_text(K8S_LOOP_PLAY)
        (workdir / "kubectl_task_loop.yml").write_text(KUBECTL_TASK_LOOP_PLAY)

    # -- cluster objects

    def kubectl_run(self, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
        done = subprocess.run([self.kubectl, *args], input=stdin, capture_output=True, text=True,
                              env=env or self.env, check=False)
        if done.returncode != 0:
            raise RuntimeError("kubectl %s failed: %s" % (" ".join(args), done.stderr.strip()))
        return done.stdout

    def delete_nodes(self) -> None:
        self.kubectl_run("delete", "nodes", "-l", BENCH_LABEL, "--wait=false", "--ignore-not-found")

    def create_nodes(self) -> None:
        self.delete_nodes()
        items = [{"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": name, "labels": {BENCH_LABEL: "node-labels", "kubernetes.io/hostname": name,
                                                        "kubernetes.io/os": "linux", "team": "set-by-hand"}}}
                 for name in self.names]
        self.kubectl_run("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        # kwok initialises each new Node's status once; wait for that so it does not race the runs.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = json.loads(self.kubectl_run("get", "nodes", "-l", BENCH_LABEL, "-o", "json"))["items"]
            ready = sum(1 for n in listed if any(c["type"] == "Ready" and c["status"] == "True"
                                                 for c in n.get("status", {}).get("conditions", [])))
            if ready == len(self.names):
                return
            time.sleep(1)
        raise RuntimeError("kwok did not initialise the bench Nodes within 120 s")

    def node_labels(self) -> dict[str, dict]:
        listed = json.loads(self.kubectl_run("get", "nodes", "-l", BENCH_LABEL, "-o", "json"))["items"]
        return {n["metadata"]["name"]: n["metadata"].get("labels", {}) for n in listed}

    # -- desired states

    def desired(self, with_extra: bool) -> dict[str, dict]:
        states = {}
        for name in self.names:
            labels = dict(BASE_LABELS)
            if with_extra and name in self.changed_names:
                labels[EXTRA_LABEL[0]] = EXTRA_LABEL[1]
            states[name] = labels
        return states

    def write_desired(self, state: dict) -> Path:
        path = self.workdir / "desired.json"
        path.write_text(json.dumps(state))
        return path

    # -- the contenders

    def playbook(self, playbook: str, state: dict, kubeconfig: str | None = None) -> Run:
        """Runs a playbook whose last task is the contender."""
        env = dict(self.env, K8S_AUTH_KUBECONFIG=kubeconfig or self.kubeconfig)
        cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", "desired_file=%s" % self.write_desired(state), str(self.workdir / playbook)]
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.monotonic() - started
        try:
            tasks = json.loads(done.stdout)["plays"][0]["tasks"]
            result = tasks[-1]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise RuntimeError("%s produced no JSON report (exit %d): %s" % (playbook, done.returncode,
                                                                             (done.stdout + done.stderr)[-2000:]))
        if done.returncode != 0 or result.get("failed"):
            raise RuntimeError("%s failed: %s" % (playbook, json.dumps(result)[-2000:]))
        seconds = [(_time(t["task"]["duration"]["end"]) - _time(t["task"]["duration"]["start"])).total_seconds()
                   for t in tasks]
        return Run(seconds, wall, result)

    def module(self, state: dict, kubeconfig: str | None = None) -> Run:
        return self.playbook("module.yml", state, kubeconfig)

    def module_median(self, state: dict) -> tuple[float, float, float]:
        """Median seconds of (the module's task, the ping task before it, the whole process)."""
        runs = [self.module(state) for repeat in range(MODULE_REPEATS)]
        return (statistics.median(r.task for r in runs), statistics.median(r.tasks[0] for r in runs),
                statistics.median(r.wall for r in runs))

    def kubectl_loop(self, state: dict) -> float:
        script = "".join(
            "kubectl label --overwrite node %s %s >/dev/null\n"
            % (name, " ".join("%s=%s" % item for item in sorted(labels.items())))
            for name, labels in state.items())
        path = self.workdir / "kubectl_loop.sh"
        path.write_text("set -e\n" + script)
        started = time.monotonic()
        subprocess.run(["bash", str(path)], env=self.env, check=True)
        return time.monotonic() - started

    def counted_module_run(self, state: dict) -> tuple[list, dict]:
        with CountingProxy(self.kubeconfig) as proxy:
            result = self.module(state, kubeconfig=str(proxy.kubeconfig)).result
            return list(proxy.requests), result

    def check(self, condition: bool, message: str) -> None:
        print("  [%s] %s" % ("ok" if condition else "FAILED", message))
        if not condition:
            self.failures.append(message)

    def expect_state(self, state: dict, what: str) -> None:
        labels = self.node_labels()
        wrong = [name for name, want in state.items()
                 if any(labels[name].get(k) != v for k, v in want.items()) or labels[name].get("team") != "set-by-hand"]
        self.check(not wrong, "%s: all %d nodes carry the declared labels and keep their own (%d wrong)"
                   % (what, len(state), len(wrong)))


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.rstrip("Z"))


def ratio_line(label: str, slow: float, fast: float, target: float | None = None) -> str:
    ratio = slow / fast
    verdict = "" if target is None else ("  target >= %gx: %s" % (target, "met" if ratio >= target else "MISSED"))
    return "  %-58s %7.1fx%s" % (label, ratio, verdict)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-node-labels-") as tmp:
        bench = Bench(args.nodes, args.changed, Path(tmp))
        base, extra = bench.desired(False), bench.desired(True)
        n, k = args.nodes, args.changed
        print("node_labels benchmark: %d Nodes on kube-apiserver %s (%s); %d CPUs, load average %.1f"
              % (n, testcluster.KUBERNETES_VERSION, bench.server, os.cpu_count(), os.getloadavg()[0]))
        bench.create_nodes()
        try:
            initial = bench.module(base)
            bench.check(len([x for x in initial.result["nodes"].values() if x["patched"]]) == n,
                        "initial apply patched all %d nodes (%.2f s)" % (n, initial.task))

            print("\n(a) no-op reconcile")
            requests, result = bench.counted_module_run(base)
            bench.check(not result["changed"], "module reports changed=false")
            bench.check([(r.method, r.path) for r in requests] == [("GET", "/api/v1/nodes")],
                        "module made exactly one request, the LIST, and no write: %s"
                        % [(r.method, r.path) for r in requests])
            noop_task, floor, noop_wall = bench.module_median(base)
            kubectl_noop = bench.kubectl_loop(base)
            kubectl_task_noop = bench.playbook("kubectl_task_loop.yml", base).task
            k8s_noop = bench.playbook("k8s_loop.yml", base).task
            bench.expect_state(base, "after the no-op runs")

            print("\n(b) %d of %d nodes changed" % (k, n))
            changed_task = []
            for repeat in range(MODULE_REPEATS):
                bench.module(base)  # back to the base state (exclusive removes the extra label)
                run = bench.module(extra)
                changed_task.append(run.task)
            patched = sorted(name for name, node in run.result["nodes"].items() if node["patched"])
            bench.check(patched == bench.changed_names, "module patched exactly the %d changed nodes" % k)
            bench.module(base)
            requests, result = bench.counted_module_run(extra)
            methods = [r.method for r in requests]
            bench.check(methods.count("PATCH") == k and methods.count("GET") == 1 and len(methods) == k + 1,
                        "module made one LIST and exactly %d PATCH requests (%d requests: %s)"
                        % (k, len(methods), {m: methods.count(m) for m in sorted(set(methods))}))
            bench.expect_state(extra, "after the module")
            bench.module(base)
            kubectl_changed = bench.kubectl_loop(extra)
            bench.module(base)
            kubectl_task_changed = bench.playbook("kubectl_task_loop.yml", extra).task
            bench.expect_state(extra, "after the kubectl task loop")
            bench.module(base)
            k8s_changed = bench.playbook("k8s_loop.yml", extra).task
            bench.expect_state(extra, "after the kubernetes.core.k8s loop")
        finally:
            bench.delete_nodes()

    changed_median = statistics.median(changed_task)
    # Other work on the machine stretches every figure; the load average says how much to trust them.
    print("\nload average at the end: %.1f (1 min), %.1f (5 min)" % os.getloadavg()[:2])
    print("\nTimes (s)                                     no-op     %d changed" % k)
    print("  sciplat.k8s.node_labels, one task          %7.2f   %7.2f   (median of %d; whole ansible-playbook "
          "process %.2f)" % (noop_task, changed_median, MODULE_REPEATS, noop_wall))
    print("  kubectl label --overwrite shell loop       %7.2f   %7.2f" % (kubectl_noop, kubectl_changed))
    print("  kubectl label task loop (kubespray)        %7.2f   %7.2f" % (kubectl_task_noop, kubectl_task_changed))
    print("  kubernetes.core.k8s loop, one task         %7.2f   %7.2f" % (k8s_noop, k8s_changed))
    print("  ansible.builtin.ping task in the same play %7.2f             (Ansible's floor for any task)" % floor)
    print("\nRatios (how many times faster node_labels is)")
    print(ratio_line("no-op vs kubectl label task loop (kubespray)", kubectl_task_noop, noop_task, 30))
    print(ratio_line("no-op vs kubectl shell loop", kubectl_noop, noop_task, 30))
    print(ratio_line("no-op vs kubernetes.core.k8s loop", k8s_noop, noop_task))
    print(ratio_line("%d changed vs kubernetes.core.k8s loop" % k, k8s_changed, changed_median, 10))
    print(ratio_line("%d changed vs kubectl shell loop" % k, kubectl_changed, changed_median))
    print(ratio_line("no-op vs kubectl shell loop, whole ansible-playbook process", kubectl_noop, noop_wall))
    print(ratio_line("kubectl shell loop vs the ping floor (the most any task could reach)", kubectl_noop, floor))
    if bench.failures:
        print("\nFAILED: %s" % "; ".join(bench.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
