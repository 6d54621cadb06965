"""Benchmark: what sciplat.k8s.helm_values_check adds to a release, against the helm task itself.

For each real upstream chart the roles pin (from the offline mirror of SCIPLAT_UPSTREAM, else cloned), one
playbook runs, in this order: an ansible.builtin.ping task (Ansible's own cost for any task: the floor), the values
check, and kubernetes.core.helm_template rendering the same chart with the same values. Rendering on the client is
the cheapest thing any helm task does (an install adds the API round trips and the wait), so the ratio check/helm
printed here is an upper bound of what the check adds to a real release. The values are every leaf of the chart's
own values.yaml plus what it needs to render: the largest key set a release can give, so the check's worst case.

The task times are those the ansible.posix.json callback records; each playbook runs three times in one run of this
script and the medians are printed. Target (issue "values contract"): the check adds at most 0.5 s per release,
read as its task time over the ping floor (any task of its own costs the floor, whatever it does).

Usage: python bench/values_check/run.py      (after `source scripts/lib.sh && activate`, as scripts/test.sh does)
Exit status: 0 when every check passed and every render succeeded (the target is reported, not enforced).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "cluster"), str(ROOT / "tests" / "upstream")]

import mirror  # noqa: E402
import testcluster  # noqa: E402

REPEATS = 3
TARGET_SECONDS = 0.5


def role_pin(role: str) -> tuple[str, str, str]:
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    return tuple(defaults[f"{role}_chart_git_{key}"] for key in ("repo", "commit", "subpath"))


# chart -> (folder, values beyond its defaults that rendering needs)
def charts() -> dict[str, tuple[Path, dict]]:
    return {
        "exaflow": (mirror.pinned_chart(*role_pin("exaflow")), {}),
        "scipion": (mirror.pinned_chart(*role_pin("scipion")), {
            "od": {"dataset": {"spaceIdShort": "5b2f4e8a"}, "project": {"spaceIdShort": "a1b2c3d4"}}}),
        # web_ui off: at the pin its config template fails to render without the role's fix (docs/charts.md).
        "cytomine": (mirror.pinned_chart(*role_pin("cytomine")), {
            "global": {"domainName": "cytomine.example.org"}, "app_engine": {"tasks_namespace": "bench-tasks"},
            "postgresql": {"storageClassName": "bench"}, "mongodb": {"storageClassName": "bench"},
            "pims": {"imageStorage": {"storageClassName": "bench"}, "tempImageStorage": {"storageClassName": "bench"}},
            "web_ui": {"deploy": False}}),
    }


def merged(defaults: dict, extra: dict) -> dict:
    out = dict(defaults)
    for key, value in extra.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


PLAY = """
- name: values check bench
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Floor
      ansible.builtin.ping:

    - name: Values check
      sciplat.k8s.helm_values_check:
        chart_path: "{{ chart }}"
        values: "{{ lookup('ansible.builtin.file', values_file) | from_json }}"
        release: bench

    - name: Render with helm
      kubernetes.core.helm_template:
        chart_ref: "{{ chart }}"
        release_name: bench
        release_namespace: bench
        release_values: "{{ lookup('ansible.builtin.file', values_file) | from_json }}"
        binary_path: "{{ helm }}"
"""


def _time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")


def run_play(workdir: Path, chart: Path, values: dict) -> list[float]:
    values_file = workdir / "values.json"
    values_file.write_text(json.dumps(values))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false")
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"chart={chart}",
                           "-e", f"values_file={values_file}", "-e", f"helm={testcluster.helm_path()}",
                           str(workdir / "play.yml")], capture_output=True, text=True, env=env, check=False)
    try:
        tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    except (ValueError, KeyError, IndexError):
        raise RuntimeError(f"no JSON report (exit {done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    if done.returncode != 0:
        failed = [t["hosts"]["localhost"] for t in tasks if t["hosts"]["localhost"].get("failed")]
        raise RuntimeError(f"the play failed: {json.dumps(failed)[-2000:]}")
    return [(_time(t["task"]["duration"]["end"]) - _time(t["task"]["duration"]["start"])).total_seconds() for t in tasks]


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="values-check-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "play.yml").write_text(PLAY)
        for name, (chart, extra) in charts().items():
            values = merged(yaml.safe_load((chart / "values.yaml").read_text()) or {}, extra)
            runs = [run_play(workdir, chart, values) for dummy in range(REPEATS)]
            floor, check, render = (statistics.median(run[index] for run in runs) for index in range(3))
            rows.append((name, floor, check, render))
    print(f"{'chart':<10} {'ping floor':>10} {'values check':>13} {'over floor':>11} {'helm render':>12} {'check/render':>13}")
    for name, floor, check, render in rows:
        print(f"{name:<10} {floor:>9.3f}s {check:>12.3f}s {check - floor:>10.3f}s {render:>11.3f}s {check / render:>12.2f}x")
    # A task of its own costs at least the floor whatever it does; what the check adds beyond that is its analysis.
    worst = max(check - floor for dummy, floor, check, dummy2 in rows)
    print(f"largest check time over the floor {worst:.3f} s per release (target <= {TARGET_SECONDS} s: "
          f"{'met' if worst <= TARGET_SECONDS else 'missed'}); medians of {REPEATS} runs each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
