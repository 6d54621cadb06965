#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_snap
short_description: Install microk8s on a pinned snap channel and hold its refreshes
version_added: 0.1.0
description:
  - Installs the microk8s snap (classic confinement) on I(channel), moves an installed snap to
    I(channel) with C(snap refresh --channel) when it tracks another one (C(snap install) of an
    installed snap does not change its channel), and holds or releases automatic refreshes with
    C(snap refresh --hold|--unhold microk8s) so that a cluster never upgrades itself.
  - Reads the current state from C(snap list microk8s), C(snap info microk8s) and C(snap version).
  - Before the first change it waits (at most I(timeout)) with C(snap wait system seed.loaded)
    until snapd has seeded the system, as on a machine that has just booted for the first time
    or just got snapd; snapd refuses every install until then.
  - Holding one snap needs snapd 2.58 or newer; the module fails before any change on an older
    snapd. snapd reports holds from 2.59 on; with snapd 2.58 the hold is applied on every run
    and reported as a change.
author:
  - sciplat.k8s contributors (@sciplat)
options:
  channel:
    description:
      - Snap channel to track, C(<major>.<minor>/<risk>) or C(latest/<risk>), risk one of
        C(stable), C(candidate), C(beta), C(edge).
    type: str
    required: true
  hold:
    description:
      - C(true) holds automatic refreshes of microk8s indefinitely, C(false) releases a hold.
      - Omit it to leave holds alone.
    type: bool
  timeout:
    description:
      - Upper limit in seconds for each snap command (an install downloads about 200 MB), and
        for the wait until snapd has seeded the system.
    type: int
    default: 900
  retries:
    description:
      - How many times a snap command is repeated when snapd refuses it as conflicting (exit
        code 10), for example C(snap "microk8s" has "auto-refresh" change in progress) or
        C(too early for operation, device not yet seeded). Other failures are not repeated.
    type: int
    default: 6
  retry_delay:
    description:
      - Seconds to wait before each repeat of I(retries).
    type: int
    default: 20
attributes:
  check_mode:
    support: full
    description: Reads the snap state and reports the snap commands that would run, without running them.
  diff_mode:
    support: full
    description: Shows installed, channel and hold before and after.
notes:
  - Changing the channel of a cluster member upgrades that node; do it one node at a time.
seealso:
  - module: sciplat.k8s.microk8s_info
  - module: community.general.snap
'''

EXAMPLES = r'''
- name: Install microk8s 1.32 and keep it there
  sciplat.k8s.microk8s_snap:
    channel: 1.32/stable
    hold: true

- name: Move to 1.33 (the node refreshes now, then stays held)
  sciplat.k8s.microk8s_snap:
    channel: 1.33/stable
    hold: true
'''

RETURN = r'''
actions:
  description: The snap commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: C(install), C(refresh), C(hold) or C(unhold).
      type: str
    argv:
      description: Arguments given to C(snap).
      type: list
      elements: str
    reason:
      description: Why the command is needed.
      type: str
  sample: [{"action": "refresh", "argv": ["refresh", "microk8s", "--channel=1.33/stable"],
            "reason": "tracking 1.32/stable, declared 1.33/stable"}]
channel:
  description: Channel tracked after the run (in check mode, the declared one).
  returned: always
  type: str
  sample: 1.32/stable
previous_channel:
  description: Channel tracked before the run, null when microk8s was not installed.
  returned: always
  type: str
held:
  description: Whether refreshes are held after the run; null when snapd cannot tell.
  returned: always
  type: bool
snapd_version:
  description: Version of snapd, null when unknown.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import (
    Microk8sCli,
    Microk8sError,
    parse_channel,
    plan_snap,
    snap_held,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            channel=dict(type='str', required=True),
            hold=dict(type='bool'),
            timeout=dict(type='int', default=900),
            retries=dict(type='int', default=6),
            retry_delay=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    channel = module.params['channel']
    hold = module.params['hold']
    try:
        parse_channel(channel)
    except ValueError as exc:
        module.fail_json(msg='channel: %s' % exc)
    for option in ('retries', 'retry_delay'):
        if module.params[option] < 0:
            module.fail_json(msg='%s is %s: use 0 or a positive number' % (option, module.params[option]))

    cli = Microk8sCli(module, timeout=module.params['timeout'])
    snap_present = bool(module.get_bin_path('snap'))
    if not snap_present and not module.check_mode:
        module.fail_json(msg='snap is not installed on this node: install snapd first')
    try:
        snapd_version = cli.snapd_version() if snap_present else None
        listed = cli.snap_list() if snap_present else None
        held = snap_held(listed, snapd_version, cli) if listed else None
        actions = plan_snap(listed, channel, hold, snapd_version, held)
    except ValueError as exc:
        module.fail_json(msg='hold: %s' % exc, snapd_version=snapd_version)
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())

    before = dict(installed=listed is not None, channel=listed['tracking'] if listed else None, held=held)
    after = dict(installed=True, channel=channel, held=held if hold is None else hold)
    result = dict(changed=bool(actions), actions=actions, channel=channel,
                  previous_channel=before['channel'], held=after['held'], snapd_version=snapd_version)
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    if module.check_mode or not actions:
        module.exit_json(**result)

    try:
        cli.wait_seeded(module.params['timeout'])
    except Microk8sError as exc:
        module.fail_json(actions_done=[], **exc.fail_kwargs())
    for index, action in enumerate(actions):
        try:
            cli.snap_change(action['argv'], module.params['retries'], module.params['retry_delay'])
        except Microk8sError as exc:
            module.fail_json(actions_done=actions[:index], **exc.fail_kwargs())
    try:
        listed = cli.snap_list()
        result['channel'] = listed['tracking'] if listed else None
        if listed:
            result['held'] = snap_held(listed, snapd_version, cli)
            # snapd < 2.59 cannot report the hold it just applied.
            if result['held'] is None and hold is not None:
                result['held'] = hold
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    if result['channel'] != channel:
        module.fail_json(msg='microk8s tracks %s after the refresh, not %s' % (result['channel'], channel), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
