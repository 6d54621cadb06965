"""Bad input to the sciplat.k8s.microk8s role fails in its validation step, before any change.

Runs the real role with ansible-playbook against this machine (no microk8s here) in check mode,
so that even a validation gap could not change anything; each case must fail on a task of
validate.yml with a message that names the variable (or addon entry) and the allowed values.
"""

from __future__ import annotations

import pytest

from playbooks import run_playbook

VALIDATION_TASKS = ("Validating arguments against arg spec", "Check microk8s_channel", "Check microk8s_admin_user", "Check the shape of microk8s_addons",
                    "Check the timeouts", "Validate microk8s_addons", "Check the version of microk8s_launch_config",
                    "Check the keys of microk8s_launch_config")

CASES = {
    "channel without risk": (
        dict(microk8s_channel="1.32"),
        "Check microk8s_channel",
        ["microk8s_channel is '1.32'", "'<major>.<minor>/<risk>' or 'latest/<risk>'"]),
    "channel with a bad risk": (
        dict(microk8s_channel="1.32/stabel"),
        "Check microk8s_channel",
        ["microk8s_channel is '1.32/stabel'", "stable, candidate, beta, edge"]),
    "unknown addon": (
        dict(microk8s_addons=[{"name": "dns"}, {"name": "ingres"}]),
        "Validate microk8s_addons",
        ["addons[1]: unknown addon 'ingres' for microk8s 1.32; allowed: ", "hostpath-storage", "ingress"]),
    "argument for an addon that takes none": (
        dict(microk8s_addons=[{"name": "hostpath-storage", "args": ["--size", "1Gi"]}]),
        "Validate microk8s_addons",
        ["addons[0]: addon 'hostpath-storage' takes no arguments; remove args"]),
    "addon enabled and disabled": (
        dict(microk8s_addons=[{"name": "storage"}, {"name": "hostpath-storage", "state": "disabled"}]),
        "Validate microk8s_addons",
        ["addon 'hostpath-storage' is declared both enabled and disabled (addons[0] and addons[1])"]),
    "metallb without a range": (
        dict(microk8s_addons=[{"name": "metallb"}]),
        "Validate microk8s_addons",
        ["addons[0]: addon 'metallb' needs args"]),
    "dashboard after 1.35": (
        dict(microk8s_channel="1.36/stable", microk8s_addons=[{"name": "dashboard"}]),
        "Validate microk8s_addons",
        ["unknown addon 'dashboard' for microk8s 1.36"]),
    "addon state typo": (
        dict(microk8s_addons=[{"name": "dns", "state": "on"}]),
        "Validating arguments against arg spec",
        ["value of state must be one of: enabled, disabled, got: on found in microk8s_addons"]),
    "launch config without a version": (
        dict(microk8s_launch_config={"addons": [{"name": "dns"}]}),
        "Check the version of microk8s_launch_config",
        ["microk8s_launch_config must be a mapping with 'version' between 0.1.0 and 0.2.0", "version ''"]),
    "launch config version newer than microk8s knows": (
        dict(microk8s_launch_config={"version": "0.3.0"}),
        "Check the version of microk8s_launch_config",
        ["version '0.3.0'", "The snap install would fail on it"]),
    "launch config version that is not semantic": (
        dict(microk8s_launch_config={"version": 0.2}),
        "Check the version of microk8s_launch_config",
        ["version '0.2'"]),
    "launch config key microk8s does not know": (
        dict(microk8s_launch_config={"version": "0.1.0", "extraKubeletArg": {"--v": "2"}}),
        "Check the keys of microk8s_launch_config",
        ["microk8s_launch_config has keys microk8s does not know: extraKubeletArg.", "extraKubeletArgs"]),
    "hostpath-storage disabled without destroy-storage": (
        dict(microk8s_addons=[{"name": "hostpath-storage", "state": "disabled"}]),
        "Validate microk8s_addons",
        ["addons[0]: disabling addon 'hostpath-storage' deletes the data of its volumes",
         "Declare args: ['destroy-storage'] to confirm"]),
    "nvidia option the 1.28 gpu addon lacks": (
        dict(microk8s_channel="1.28/stable", microk8s_addons=[{"name": "nvidia", "args": ["--network-operator"]}]),
        "Validate microk8s_addons",
        ["addons[0]: addon 'nvidia' on microk8s 1.28: option '--network-operator' does not exist for the gpu addon"]),
    "admin user name": (
        dict(microk8s_admin_user="MIP Admin"),
        "Check microk8s_admin_user",
        ["microk8s_admin_user is 'MIP Admin': use a POSIX user name"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_in_validation(case, tmp_path):
    extra_vars, failing_task, messages = CASES[case]
    play = [{"name": "microk8s role with bad input", "hosts": "all", "gather_facts": False,
             "roles": [{"role": "sciplat.k8s.microk8s"}]}]
    run = run_playbook(play, {}, "--check", workdir=tmp_path, extra_vars=extra_vars, expect_rc=2)
    assert run.recap["localhost"]["failed"] == 1
    assert run.recap["localhost"]["changed"] == 0
    failed_at = [line for line in run.output.splitlines() if line.startswith("TASK [")][-1]
    assert failed_at.startswith("TASK [sciplat.k8s.microk8s : %s" % failing_task), failed_at
    assert failing_task in VALIDATION_TASKS
    for message in messages:
        assert message in run.output, run.output[-3000:]
