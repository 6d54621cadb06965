#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_info
short_description: Read the state of microk8s on a node
version_added: 0.1.0
description:
  - Reports whether microk8s is installed and running, its version and snap channel, whether
    snap refreshes are held, the datastore (dqlite) members and their roles, the addons, and
    whether the node is a worker of a cluster.
  - Reads C(microk8s status --format yaml), C(microk8s version), C(snap list microk8s) and
    C(snap version) only. Handles the outputs of a stopped node and of a worker-only node,
    which print a message instead of a status.
  - Never changes anything; always returns C(changed=false).
author:
  - sciplat.k8s contributors (@sciplat)
options:
  wait_ready_timeout:
    description:
      - Seconds to wait for microk8s to become ready before reading the status
        (C(microk8s status --wait-ready --timeout)).
      - C(0) reads the status as it is now.
    type: int
    default: 0
  timeout:
    description:
      - Upper limit in seconds for each command the module runs.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Reads only; reports the same in check mode.
  diff_mode:
    support: none
    description: Not supported; the module never changes anything.
notes:
  - Run it with root privileges (C(become)); C(microk8s status) needs them or membership in
    the C(microk8s) group.
seealso:
  - module: sciplat.k8s.microk8s_addons
  - module: sciplat.k8s.microk8s_snap
'''

EXAMPLES = r'''
- name: Read microk8s state
  sciplat.k8s.microk8s_info:
    wait_ready_timeout: 120
  register: microk8s

- name: Fail on a node that is not running
  ansible.builtin.assert:
    that: microk8s.running or microk8s.is_worker
    fail_msg: "microk8s is {{ microk8s.state }} on {{ inventory_hostname }}"

- name: Show the datastore voters
  ansible.builtin.debug:
    var: microk8s.high_availability.voters
'''

RETURN = r'''
installed:
  description: Whether the microk8s snap is installed.
  returned: always
  type: bool
state:
  description:
    - C(running), C(not_ready) (services up but not ready), C(stopped) (C(microk8s stop)),
      C(worker) (a worker-only node, which has no local status) or C(not_installed).
  returned: always
  type: str
  sample: running
running:
  description: Whether microk8s reports itself running (false on a worker, which cannot tell).
  returned: always
  type: bool
is_worker:
  description: Whether the node is a worker-only member of a cluster.
  returned: always
  type: bool
clustered:
  description: Whether the node is part of a cluster of more than one node.
  returned: always
  type: bool
message:
  description: What microk8s printed instead of a status (stopped, worker, not ready), else null.
  returned: always
  type: str
version:
  description: Installed microk8s version without the leading C(v).
  returned: always
  type: str
  sample: 1.32.3
revision:
  description: Installed snap revision.
  returned: always
  type: str
  sample: "7964"
channel:
  description: Snap channel the installation tracks.
  returned: always
  type: str
  sample: 1.32/stable
held:
  description:
    - Whether snap refreshes of microk8s are held. Null when unknown (snapd older than 2.59
      does not report holds, or microk8s is not installed).
  returned: always
  type: bool
snapd_version:
  description: Version of snapd, null when snapd is not installed or not running.
  returned: always
  type: str
  sample: 2.63
high_availability:
  description: Datastore members as microk8s reports them.
  returned: always
  type: dict
  contains:
    enabled:
      description: True when the cluster is highly available (more than two voters).
      type: bool
    dqlite:
      description: The raw C(high-availability.enabled) flag (dqlite mode, true on every fresh install).
      type: bool
    nodes:
      description: Members with C(address) and C(role) (voter, standby, spare).
      type: list
      elements: dict
    voters:
      description: Addresses of the voters.
      type: list
      elements: str
    standby:
      description: Addresses of the standby members.
      type: list
      elements: str
    spares:
      description: Addresses of the spare members.
      type: list
      elements: str
addons:
  description: Addon names by status; both lists are empty when microk8s is not running.
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
  sample: {"enabled": ["dns", "ha-cluster", "helm", "helm3"], "disabled": ["ingress", "metallb"]}
addon_details:
  description: The addons with C(name), C(repository), C(description), C(version) and C(status).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import (
    Microk8sCli,
    Microk8sError,
    node_facts,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            wait_ready_timeout=dict(type='int', default=0),
            timeout=dict(type='int', default=120),
        ),
        supports_check_mode=True,
    )
    cli = Microk8sCli(module, timeout=module.params['timeout'])
    try:
        facts = node_facts(cli, wait_ready_timeout=module.params['wait_ready_timeout'])
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(changed=False, **facts)


if __name__ == '__main__':
    main()
