#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_leave
short_description: Take a node out of a microk8s cluster
version_added: 0.1.0
description:
  - Without O(node), runs on the departing node. A node in a cluster (a worker with C(clustered.lock),
    or a control plane whose datastore has other members) runs C(microk8s leave); a node that is in
    no cluster reports C(changed=false).
  - Without O(node), a control plane whose status says high availability is enabled but lists no
    datastore node (dqlite could not be queried) makes the module fail with RV(reason)
    C(datastore_unavailable) without leaving, instead of taking it for a node in no cluster.
  - With O(node), runs on a remaining control plane and removes the departed node from the cluster
    with C(microk8s remove-node <node>). C(microk8s remove-node) says C(Node <node> does not exist
    in Kubernetes) for any failure of its Kubernetes or datastore queries, for example while the
    datastore elects a leader after a control plane left. So the module reports C(changed=false)
    only when the API server (C(microk8s kubectl get nodes)) no longer lists the node; otherwise it
    runs the removal again until O(ready_timeout), then fails with RV(reason) C(not_confirmed).
  - With O(force), the node's IP address (its Node's C(InternalIP), or O(address)) is passed to
    C(microk8s remove-node --force). When Kubernetes has no Node of that name, microk8s matches its
    argument against the datastore's addresses, so only an address removes the datastore entry of
    a dead control plane.
  - Drain the node first (for example with M(kubernetes.core.k8s_drain)); the
    C(sciplat.k8s.microk8s_cluster) role does drain, leave and remove in that order.
author:
  - sciplat.k8s contributors (@sciplat)
options:
  node:
    description:
      - Name (or IP address) of a node that has left, to remove from the cluster. Run on a control plane.
      - Without it, the node the module runs on leaves its cluster.
    type: str
  force:
    description:
      - With O(node), remove the node even though it is still registered in the datastore
        (C(remove-node --force)), for a machine that is gone for good and never ran C(microk8s leave).
    type: bool
    default: false
  address:
    description:
      - With O(node) and O(force), the departed node's IP address in the datastore, used when
        Kubernetes no longer has its Node (whose C(InternalIP) is used otherwise).
    type: str
  timeout:
    description:
      - Seconds C(microk8s leave) or C(microk8s remove-node) may take.
    type: int
    default: 300
  ready_timeout:
    description:
      - Without O(node), seconds to wait for microk8s to be ready before reading the node's status.
      - With O(node), seconds to keep running the removal again while the API server or the datastore
        does not answer.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Predicts the leave from the node's state; with O(node), assumes the node is still known to the cluster.
  diff_mode:
    support: none
    description: Reports no diff.
notes:
  - The only voter of a cluster that still has other members cannot leave; the module then fails
    with RV(reason) C(last_voter).
seealso:
  - module: sciplat.k8s.microk8s_join
  - module: kubernetes.core.k8s_drain
'''

EXAMPLES = r'''
- name: Leave the cluster
  sciplat.k8s.microk8s_leave:
  register: left

- name: Forget the node on the first control plane
  sciplat.k8s.microk8s_leave:
    node: "{{ left.node_name }}"
  delegate_to: "{{ groups['control_plane'][0] }}"
  when: left is changed

- name: Forget a dead control plane whose Node is already gone, datastore entry included
  sciplat.k8s.microk8s_leave:
    node: cp3
    force: true
    address: 10.0.0.13
  delegate_to: "{{ groups['control_plane'][0] }}"
'''

RETURN = r'''
node_name:
  description: The name microk8s registered the departing node under.
  returned: without O(node), when microk8s answered
  type: str
  sample: worker2
clustered:
  description: Whether the node was in a cluster when the module started (what it leaves); null when its datastore could not be read.
  returned: without O(node)
  type: bool
  sample: true
node:
  description: The node removed from the cluster.
  returned: with O(node)
  type: str
  sample: worker2
runs:
  description: How many times C(microk8s remove-node) ran.
  returned: with O(node), when it ran
  type: int
  sample: 1
reason:
  description:
    - Why the module failed, for example C(last_voter), C(not_clustered), C(not_running),
      C(still_in_dqlite), C(not_confirmed) (the removal did not go through and the API server still
      lists the node, or could not be asked, within O(ready_timeout)), C(datastore_unavailable).
  returned: failure
  type: str
  sample: still_in_dqlite
stdout:
  description: What microk8s printed.
  returned: when a command ran
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s_cluster import run_leave


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type='str'),
            force=dict(type='bool', default=False),
            address=dict(type='str'),
            timeout=dict(type='int', default=300),
            ready_timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    run_leave(module)


if __name__ == '__main__':
    main()
