"""Verify the nvidia role on SIMULATED GPU hosts (see ../simulation/README.md and ../standin/).

After converge and idempotence: the state each host was left in. Then more runs of the role, most in
check mode, read through the json callback: the reboot/branch/force decisions, and failures that must
happen before any change or when the Node does not advertise its GPUs.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra
import yaml

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PACKAGES = ["nvidia-headless-570-server", "nvidia-utils-570-server"]
STANDIN_VERSION = "570.133.20-0sciplat1"


def node(name):
    return testinfra.get_host(f"podman://{name}")


def run_role(*args, extra=None):
    """ansible-playbook converge.yml with args and extra vars; returns (rc, {task: {host: result}})."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "converge.yml"), *args]
    if extra:
        command += ["-e", json.dumps(extra)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    report = json.loads(proc.stdout)
    tasks = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            tasks.setdefault(task["task"]["name"].split(" : ")[-1], {}).update(task["hosts"])
    return proc.returncode, tasks


def changed_hosts(tasks, name):
    return sorted(host for host, result in tasks.get(name, {}).items()
                  if result.get("changed") and not result.get("skipped"))


def installed(host, package):
    result = host.run(f"dpkg-query -W -f '${{Version}} ${{db:Status-Abbrev}}' {package}")
    return result.stdout.strip() if result.rc == 0 else None


def kubectl(*args):
    subprocess.run([os.environ["SCIPLAT_KUBECTL"], f"--kubeconfig={os.environ['KUBECONFIG']}", *args],
                   check=True, capture_output=True, text=True, timeout=60)


def advertise_gpus(count):
    """SIMULATION of the device plugin's report, as prepare.yml does."""
    value = None if count is None else str(count)
    patch = {"status": {"capacity": {"nvidia.com/gpu": value}, "allocatable": {"nvidia.com/gpu": value}}}
    kubectl("patch", "node", "gpunode2", "--subresource=status", "--type=merge", "-p", json.dumps(patch))


@pytest.fixture(scope="module")
def check_run():
    """The whole play in check mode with reboots allowed everywhere."""
    return run_role("--check", extra={"nvidia_reboot": True})


def test_host_without_gpu_was_left_alone():
    cpu = node("cpunode")
    assert not cpu.file("/etc/modprobe.d/sciplat-blacklist-nouveau.conf").exists
    assert [installed(cpu, package) for package in PACKAGES] == [None, None]


@pytest.mark.parametrize("name", ["gpunode1", "gpunode2"])
def test_gpu_hosts_have_the_driver_packages_and_nouveau_blacklisted(name):
    gpu = node(name)
    blacklist = gpu.file("/etc/modprobe.d/sciplat-blacklist-nouveau.conf")
    assert blacklist.mode == 0o644 and "blacklist nouveau\n" in blacklist.content_string
    assert [installed(gpu, package) for package in PACKAGES] == [f"{STANDIN_VERSION} ii"] * 2


def test_addon_enabled_on_the_control_plane_in_host_driver_mode():
    control_plane = node("gpunode2")
    status = yaml.safe_load(control_plane.check_output("microk8s status --wait-ready --timeout 120 --format yaml"))
    assert {"name": "nvidia", "status": "enabled"}.items() <= next(
        addon for addon in status["addons"] if addon["name"] == "nvidia").items()
    recorded = json.loads(control_plane.file("/var/snap/microk8s/common/sciplat-addons.json").content_string)
    assert recorded["addons"]["core/nvidia"] == ["--gpu-operator-driver", "host"]


def test_check_mode_reboots_only_the_host_where_nouveau_holds_the_gpu(check_run):
    rc, tasks = check_run
    assert rc == 0
    decisions = {host: (result["module_action"], result["reason"])
                 for host, result in tasks["Decide whether the installed driver needs a module load or a reboot"].items()
                 if not result.get("skipped")}
    assert decisions["gpunode1"][0] == "reboot" and "nouveau" in decisions["gpunode1"][1]
    assert decisions["gpunode2"] == ("none", "nvidia 570.133.20 is loaded and installed")
    assert "cpunode" not in decisions
    assert changed_hosts(tasks, "Reboot to replace the kernel module, one node at a time") == ["gpunode1"]
    assert changed_hosts(tasks, "Install the host driver packages") == []


def test_check_mode_skips_the_host_without_gpu_with_a_message(check_run):
    tasks = check_run[1]
    message = tasks["Skip hosts without an NVIDIA GPU"]["cpunode"]["msg"]
    assert message.startswith("No NVIDIA PCI device (vendor 0x10de with a display class)") and "nvidia_force" in message
    assert tasks["Skip hosts without an NVIDIA GPU"]["gpunode1"].get("skipped") is True


def test_reboot_task_runs_one_node_at_a_time():
    tasks = yaml.safe_load((ROOT / "roles/nvidia/tasks/kernel_module.yml").read_text())
    [reboot] = [task for task in tasks if "ansible.builtin.reboot" in task]
    assert reboot["throttle"] == 1
    assert "microk8s status --wait-ready" in reboot["ansible.builtin.reboot"]["test_command"]


def test_branch_change_is_predicted_in_check_mode_and_changes_nothing():
    rc, tasks = run_role("--check", "--limit", "gpunode2",
                         extra={"nvidia_driver_branch": "580", "nvidia_driver_branch_change": True, "nvidia_reboot": True})
    assert rc == 0
    assert tasks["Remove the packages of the driver branch being replaced"]["gpunode2"]["changed"] is True
    assert changed_hosts(tasks, "Install the host driver packages") == ["gpunode2"]
    decision = tasks["Decide whether the installed driver needs a module load or a reboot"]["gpunode2"]
    assert (decision["module_action"], decision["installed_version"]) == ("reboot", "pending installation")
    assert changed_hosts(tasks, "Reboot to replace the kernel module, one node at a time") == ["gpunode2"]
    assert [installed(node("gpunode2"), package) for package in PACKAGES] == [f"{STANDIN_VERSION} ii"] * 2


def test_other_branch_without_permission_fails_before_any_change():
    rc, tasks = run_role("--limit", "gpunode2", extra={"nvidia_driver_branch": "580"})
    assert rc == 2
    result = tasks["Inspect the GPUs, the loaded modules and the installed driver packages"]["gpunode2"]
    assert result["failed"] is True and "nvidia_driver_branch_change: true" in result["msg"]
    assert "Install the host driver packages" not in tasks
    assert installed(node("gpunode2"), "nvidia-utils-580-server") is None


def test_forced_install_without_gpu_needs_no_reboot():
    rc, tasks = run_role("--check", "--limit", "cpunode", extra={"nvidia_force": True, "nvidia_reboot": True})
    assert rc == 0
    assert changed_hosts(tasks, "Install the host driver packages") == ["cpunode"]
    decision = tasks["Decide whether the installed driver needs a module load or a reboot"]["cpunode"]
    assert decision["module_action"] == "none" and "no NVIDIA GPU" in decision["reason"]
    assert changed_hosts(tasks, "Reboot to replace the kernel module, one node at a time") == []


def test_verification_fails_when_the_node_does_not_advertise_its_gpus():
    advertise_gpus(None)
    try:
        rc, tasks = run_role("--limit", "gpunode2", extra={"nvidia_verify_timeout": 10})
    finally:
        advertise_gpus(2)
    assert rc == 2
    result = tasks["Check that the Node offers every GPU to Pods"]["gpunode2"]
    assert result["failed"] is True
    assert result["msg"].startswith("Node gpunode2 offers 0 nvidia.com/gpu after 10 s, 2 GPU(s) are on its PCI bus")


def test_verification_fails_for_an_unknown_node_name():
    rc, tasks = run_role("--limit", "gpunode2", extra={"nvidia_node_name": "no-such-node", "nvidia_verify_timeout": 10})
    assert rc == 2
    assert "Node no-such-node was not found" in tasks["Check that the Node offers every GPU to Pods"]["gpunode2"]["msg"]
