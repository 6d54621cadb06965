#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_addons
short_description: Reconcile the microk8s addons of a cluster with a declared list
version_added: 0.1.0
description:
  - Enables and disables microk8s addons so that each declared addon has its declared state,
    and only those whose state differs are touched. Addons that are not declared are left alone.
  - Reads the current state from C(microk8s status --format yaml) only.
  - Maps renamed addons to the names of the installed microk8s version in both directions
    (C(storage) and C(hostpath-storage) at 1.24, C(gpu) and C(nvidia) at 1.29); C(helm) always
    means Helm 3 (C(helm3)).
  - microk8s ignores the arguments given to an addon that is already enabled. So the module
    records the arguments it enabled each addon with in a state file on the node
    (I(state_file)), and when an enabled addon is declared with other arguments than the
    recorded ones (or has no record, for example C(dns) that microk8s 1.27+ enables at install),
    it disables the addon and enables it again with the declared arguments. Addons declared
    without I(args) are never re-enabled.
  - Validates the whole list before any change. Unknown addon names (the allowed ones are those
    C(microk8s status) lists on the node), arguments for an addon that takes none, an addon
    declared twice or both enabled and disabled, C(metallb) without an address range (it would
    wait for input), options the installed C(gpu)/C(nvidia) addon does not have, disabling
    C(hostpath-storage) without C(args=[destroy-storage]), and disabling C(helm)/C(helm3) on 1.25
    or newer (built in) all fail with a message naming the entry.
  - Reads the microk8s version from C(microk8s version), or from C(snap list microk8s) on
    releases without that command (1.24).
  - Addon commands get an empty standard input, so a script that prompts fails at once instead
    of waiting until I(timeout).
  - Refuses to run on a worker-only node, which has no addons of its own.
author:
  - sciplat.k8s contributors (@sciplat)
options:
  addons:
    description:
      - The addons to reconcile.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Addon name as microk8s knows it, optionally with its repository (C(community/argocd)).
        type: str
        required: true
      state:
        description:
          - Whether the addon must be enabled or disabled.
        type: str
        choices: [enabled, disabled]
        default: enabled
      args:
        description:
          - Arguments passed after the addon name to C(microk8s enable), for example
            C(['10.64.140.43-10.64.140.49']) for C(metallb) or C(['--gpu-operator-driver', 'host'])
            for C(nvidia). A string is one argument.
          - For C(state=enabled), leave out to accept whatever arguments the addon has.
          - C(metallb) reads one argument only, so a list of ranges is joined with C(,) into one
            (C([10.0.0.1-10.0.0.9, 10.0.1.0/24]) becomes C(10.0.0.1-10.0.0.9,10.0.1.0/24)); that
            joined form is what is recorded and compared.
          - C(nvidia) is the C(gpu) addon on microk8s 1.28 and older, whose options have no
            C(--gpu-operator-) prefix; the module rewrites C(--gpu-operator-driver) to C(--driver)
            and so on, and refuses options C(gpu) does not have (for example the network operator's).
          - For C(state=disabled) only C(hostpath-storage) (or C(storage)) takes args, and it
            requires C([destroy-storage]). Disabling it deletes the data of its volumes; microk8s
            would ask on standard input otherwise and fail.
        type: raw
  wait_ready_timeout:
    description:
      - Seconds to wait for microk8s to be ready before reading its status; the module fails if
        it is not ready by then.
    type: int
    default: 300
  timeout:
    description:
      - Upper limit in seconds for each C(microk8s enable) or C(microk8s disable).
    type: int
    default: 600
  assume_version:
    description:
      - microk8s version (C(1.32) or C(1.32.3)) used to map names and predict defaults when
        microk8s is not installed yet, which only happens in check mode on a fresh node.
      - Ignored once microk8s is installed.
    type: str
  assume_launch_config:
    description:
      - The launch configuration the node will be installed with, for the same check-mode
        prediction as I(assume_version). A fresh install enables C(dns) only through the launch
        configuration bundled with microk8s (1.27+); a user launch configuration replaces it, so
        then only the addons it lists are predicted enabled.
      - Omit it, or give an empty mapping, when no launch configuration is written.
      - Ignored once microk8s is installed.
    type: dict
  state_file:
    description:
      - File recording the arguments each addon was enabled with by this module (JSON, mode
        0600). It lives in the snap's common directory, which survives snap refreshes.
    type: path
    default: /var/snap/microk8s/common/sciplat-addons.json
attributes:
  check_mode:
    support: full
    description: Reads the status and reports the commands that would run, without running them.
  diff_mode:
    support: full
    description: Shows, per declared addon, its status and recorded arguments before and after.
notes:
  - Run it on one control plane node per cluster (addons are cluster-wide), with C(become).
seealso:
  - module: sciplat.k8s.microk8s_info
'''

EXAMPLES = r'''
- name: Addons of a MIP node (seed 001)
  sciplat.k8s.microk8s_addons:
    addons:
      - name: dns
      - name: helm3
      - name: ingress
      - name: hostpath-storage

- name: GPU with host drivers, a load balancer range, no dashboard
  sciplat.k8s.microk8s_addons:
    addons:
      - name: nvidia
        args: [--gpu-operator-driver, host]
      - name: metallb
        args: [10.64.140.43-10.64.140.49, 192.168.0.105-192.168.0.111]
      - name: dashboard
        state: disabled

- name: Remove the hostpath provisioner and the data of its volumes
  sciplat.k8s.microk8s_addons:
    addons:
      - name: hostpath-storage
        state: disabled
        args: [destroy-storage]
'''

RETURN = r'''
actions:
  description: The commands run (in check mode, that would run), disables first.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(enable) or C(disable).
      type: str
    name:
      description: Addon name used for the installed version.
      type: str
    args:
      description: Arguments passed to C(microk8s enable) or C(microk8s disable).
      type: list
      elements: str
    reason:
      description: Why the command is needed.
      type: str
  sample: [{"action": "enable", "name": "hostpath-storage", "args": [], "reason": "disabled, declared enabled"}]
version:
  description: microk8s version the names were mapped for.
  returned: always
  type: str
  sample: 1.32.3
addons:
  description: Addon names by status after the run (in check mode, as predicted).
  returned: always
  type: dict
  contains:
    enabled:
      description: Enabled addons.
      type: list
      elements: str
    disabled:
      description: Disabled addons.
      type: list
      elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import (
    STATE_NOT_INSTALLED,
    STATE_RUNNING,
    STATE_STOPPED,
    STATE_WORKER,
    Microk8sCli,
    Microk8sError,
    addon_names,
    addons_diff,
    apply_plan_to_available,
    apply_plan_to_record,
    normalize_args,
    plan_addons,
    predicted_status_addons,
    read_addon_record,
    validate_addons,
    write_addon_record,
)

ADDON_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', choices=['enabled', 'disabled'], default='enabled'),
    args=dict(type='raw'),
)


def current_addons(module, cli):
    """(version, addons from status) of the node, failing on states without addons."""
    status = cli.status(wait_ready_timeout=module.params['wait_ready_timeout'])
    state = status['state']
    if state == STATE_NOT_INSTALLED:
        if not module.check_mode:
            module.fail_json(msg='microk8s is not installed on this node; install it first '
                                 '(sciplat.k8s.microk8s_snap or the sciplat.k8s.microk8s role)')
        version = module.params['assume_version']
        return version, predicted_status_addons(version, module.params['assume_launch_config'])
    if state == STATE_WORKER:
        module.fail_json(msg='this node is a worker-only member of a cluster and has no addons of its own; '
                             'run microk8s_addons on a control plane node', message=status['message'])
    if state == STATE_STOPPED:
        module.fail_json(msg='microk8s is stopped on this node; start it (microk8s start) before managing addons',
                         message=status['message'])
    if state != STATE_RUNNING:
        module.fail_json(msg='microk8s is not ready after %s seconds (wait_ready_timeout)'
                             % module.params['wait_ready_timeout'], message=status['message'])
    return cli.installed_version(), status['addons']


def main():
    module = AnsibleModule(
        argument_spec=dict(
            addons=dict(type='list', elements='dict', required=True, options=ADDON_SPEC),
            wait_ready_timeout=dict(type='int', default=300),
            timeout=dict(type='int', default=600),
            assume_version=dict(type='str'),
            assume_launch_config=dict(type='dict'),
            state_file=dict(type='path', default='/var/snap/microk8s/common/sciplat-addons.json'),
        ),
        supports_check_mode=True,
    )
    declared = [dict(name=entry['name'], state=entry['state'], args=normalize_args(entry['args']))
                for entry in module.params['addons']]
    cli = Microk8sCli(module, timeout=module.params['timeout'])
    try:
        version, available = current_addons(module, cli)
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())

    errors = validate_addons(declared, version, available)
    if errors:
        module.fail_json(msg='addons: ' + '; '.join(errors), errors=errors)

    state_file = module.params['state_file']
    recorded = read_addon_record(state_file)
    actions = plan_addons(declared, version, available, recorded)
    predicted = apply_plan_to_available(available, actions)
    result = dict(changed=bool(actions), actions=actions, version=version,
                  addons=dict(enabled=addon_names(predicted, 'enabled'), disabled=addon_names(predicted, 'disabled')))
    if module._diff:
        result['diff'] = addons_diff(declared, version, available, recorded, actions)
    if module.check_mode or not actions:
        module.exit_json(**result)

    for index, action in enumerate(actions):
        try:
            if action['action'] == 'disable':
                cli.disable(action['name'], action['args'])
            else:
                cli.enable(action['name'], action['args'])
        except Microk8sError as exc:
            module.fail_json(actions_done=actions[:index], **exc.fail_kwargs())
        # Record after every command so that a later failure leaves a true record behind.
        recorded = apply_plan_to_record(recorded, [action])
        write_addon_record(recorded, state_file)

    try:
        after = cli.status(wait_ready_timeout=module.params['wait_ready_timeout'])
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    result['addons'] = dict(enabled=addon_names(after['addons'], 'enabled'),
                            disabled=addon_names(after['addons'], 'disabled'))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
