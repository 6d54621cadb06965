"""Run playbooks from integration tests the way users do: ansible-playbook, with the recap parsed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                        r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.MULTILINE)


@dataclass
class PlaybookRun:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(host["failed"] + host["unreachable"] for host in self.recap.values())


def run_playbook(playbook, env: dict[str, str], *args: str, workdir: Path, inventory: str | Path = "localhost,",
                 extra_vars: dict | None = None, expect_rc: int | None = 0, json_callback: bool = False) -> PlaybookRun:
    """Run `playbook` (a path, or plays as Python data written to workdir) and parse the PLAY RECAP.

    `args` are passed on (--check, --diff, -vvv, --tags ...). With `json_callback` the output is that of
    ansible.posix.json (every task result as AWX and log shippers keep it) and the counts come from its stats.
    Fails the test, with the output, when the exit code is not `expect_rc` (None accepts any).
    """
    if not isinstance(playbook, (str, Path)):
        path = workdir / "playbook.yml"
        path.write_text(yaml.safe_dump(playbook, sort_keys=False))
        playbook = path
    command = ["ansible-playbook", "-i", str(inventory), str(playbook), *args]
    if str(inventory) == "localhost,":
        # Modules that talk to the API run on the controller, in the venv that has the kubernetes client.
        command += ["-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    if extra_vars:
        vars_file = workdir / "extra_vars.yml"
        vars_file.write_text(yaml.safe_dump(extra_vars))
        command += ["-e", f"@{vars_file}"]
    run_env = dict(os.environ, **env)
    run_env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    run_env["ANSIBLE_NOCOLOR"] = "1"
    run_env["ANSIBLE_LOCALHOST_WARNING"] = "0"
    if json_callback:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    done = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False, cwd=workdir)
    output = done.stdout + done.stderr
    if json_callback:
        stats = json.loads(done.stdout)["stats"] if done.stdout.strip() else {}
        recap = {host: {"ok": counts["ok"], "changed": counts["changed"], "unreachable": counts["unreachable"],
                        "failed": counts["failures"], "skipped": counts["skipped"]} for host, counts in stats.items()}
    else:
        recap = {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
                 for m in RECAP_LINE.finditer(done.stdout)}
    if expect_rc is not None and done.returncode != expect_rc:
        raise AssertionError(f"ansible-playbook exited {done.returncode}, expected {expect_rc}:\n{output[-8000:]}")
    return PlaybookRun(done.returncode, output, recap)


def write_inventory(workdir: Path, variables: dict, groups: dict[str, list[str]]) -> Path:
    """workdir/hosts.yml: `variables` for all hosts, and each group's hosts (reached through their own connection vars)."""
    path = workdir / "hosts.yml"
    children = {group: {"hosts": {name: None for name in hosts}} for group, hosts in groups.items()}
    path.write_text(yaml.safe_dump({"all": {"vars": variables, "children": children}}))
    return path
