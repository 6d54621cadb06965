#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_join
short_description: Make a node a control plane or a worker of a microk8s cluster
version_added: 0.1.0
description:
  - Runs on the joining node. Decides from what the node reports about itself whether it has to join,
    never from the text of an earlier join.
  - A worker is a member when microk8s' C(clustered.lock) exists.
  - A control plane is a member when its datastore nodes (C(high-availability.nodes) of
    C(microk8s status --format yaml)) include an address of the cluster, that is an address of
    O(cluster_nodes) or of the join URLs. A node whose datastore holds only itself needs a join.
  - A status that says high availability is enabled but lists no datastore node means microk8s
    could not query dqlite (lost quorum, a voter down in a two-voter cluster, an overloaded disk).
    The module then fails with RV(reason) C(datastore_unavailable) and changes nothing, also in
    check mode, instead of joining a node that may already be a member.
  - A member reports C(changed=false). A node that is a member in the other role, or a control plane
    of another cluster, makes the module fail with the way out; it never leaves a cluster by itself.
  - Otherwise runs C(microk8s join <url>), with C(--worker) for a worker (never C(--controlplane),
    which is broken upstream), trying the URLs in turn while the cluster agent cannot be reached,
    then checks that the node reports itself a member.
  - The URLs are tried in the order C(microk8s add-node) printed them (the order of C(hostname -I)
    on the control plane, which may start with a bridge or another unreachable address), IPv4
    addresses first. Before each C(microk8s join) the module opens a TCP connection to the cluster
    agent within O(connect_timeout); an address that does not answer is skipped. microk8s join
    itself has no connect timeout and fails only after the kernel gives up (about two minutes),
    with a Python traceback (C(TimeoutError), C(No route to host), C(Network is unreachable),
    C(Connection refused)); such a failure also moves on to the next URL.
  - microk8s 1.29 and later refuse IPv6 join URLs (C(Invalid connection)); such a refusal moves on
    to the next URL too (RV(reason) C(ipv6_refused) when no URL is left).
  - When no URL works, C(msg) names every address tried and why it failed.
  - Each documented failure of C(microk8s join) is explained in C(msg) and classified in
    RV(reason); RV(retry_token) tells whether a fresh token can make the join succeed (spent,
    expired or invalid token, changed certificate), which the C(sciplat.k8s.microk8s_cluster) role
    does once.
author:
  - sciplat.k8s contributors (@sciplat)
options:
  role:
    description:
      - The role the node must have in the cluster.
    type: str
    required: true
    choices: [control_plane, worker]
  join_urls:
    description:
      - Join URLs from M(sciplat.k8s.microk8s_join_token) (RV(sciplat.k8s.microk8s_join_token#module:join_urls)),
        C(<ip>:<port>/<token>/<fingerprint>). Secret.
      - Only needed when the node has to join; in check mode none is needed.
      - The address must be an IP literal (microk8s 1.29 and later refuse host names).
    type: list
    elements: str
    default: []
  cluster_nodes:
    description:
      - The datastore addresses (C(ip:port)) of the cluster as its first control plane reports them,
        for example RV(sciplat.k8s.microk8s_info#module:high_availability.nodes) addresses of that node.
      - Used to recognise a control plane that is already a member before any URL exists.
    type: list
    elements: str
    default: []
  join_address:
    description:
      - Use only the join URL with this IP address of the control plane, for nodes that must join
        through a particular network.
    type: str
  timeout:
    description:
      - Seconds one C(microk8s join) may take before it counts as failed; microk8s itself has no timeout.
    type: int
    default: 300
  connect_timeout:
    description:
      - Seconds to wait for a TCP connection to the cluster agent (port 25000) at a join URL's
        address before running C(microk8s join) there. An address that does not answer in time is
        skipped and the next URL tried, so an unreachable address costs this long instead of the
        kernel's connect timeout.
      - At least 1.
    type: int
    default: 10
  ready_timeout:
    description:
      - Seconds to wait for microk8s to be ready before reading its status, and for the node to report
        itself a member after a join.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: Predicts the join (C(changed), RV(membership)) from the node's state, without a URL.
  diff_mode:
    support: none
    description: Reports no diff.
notes:
  - "Joins must not run concurrently: use C(throttle: 1)."
seealso:
  - module: sciplat.k8s.microk8s_join_token
  - module: sciplat.k8s.microk8s_leave
  - module: sciplat.k8s.microk8s_info
'''

EXAMPLES = r'''
- name: Which nodes have to join (no URL needed in check mode)
  sciplat.k8s.microk8s_join:
    role: worker
    cluster_nodes: "{{ hostvars[groups['control_plane'][0]].first_status.high_availability.nodes | map(attribute='address') }}"
  check_mode: true
  register: join_plan

- name: Join as a worker
  sciplat.k8s.microk8s_join:
    role: worker
    join_urls: "{{ hostvars[groups['control_plane'][0]].join_token.join_urls }}"
  when: join_plan is changed
  throttle: 1
'''

RETURN = r'''
membership:
  description:
    - C(member), C(needs_join) (check mode), C(wrong_role), C(other_cluster), C(not_running),
      C(datastore_unavailable) or C(not_installed) (check mode on a node where microk8s is still to
      be installed).
    - After a join that succeeded, C(status_unreadable) when C(microk8s status) timed out or printed
      something unrecognised until O(ready_timeout).
  returned: always
  type: str
  sample: member
role:
  description: The role asked for.
  returned: always
  type: str
  sample: worker
node_name:
  description: The name microk8s registers the node under (its host name in lower case).
  returned: when microk8s answered
  type: str
  sample: worker1
attempts:
  description:
    - One entry per address tried, without the token, with C(address), C(reason), C(detail) (why
      it failed) and C(rc) when C(microk8s join) ran.
  returned: always
  type: list
  elements: dict
  sample: [{"address": "172.17.0.1", "reason": "unreachable", "detail": "no TCP connection to port 25000 within 10 s"},
           {"address": "10.0.0.10", "reason": "joined"}]
reason:
  description:
    - Why the module failed, for example C(token_invalid), C(node_known), C(not_ha_capable),
      C(agent_port), C(same_address), C(hostname_unresolvable), C(fingerprint), C(unreachable),
      C(low_memory), C(bad_url), C(ipv6_refused), C(agent_error) (the agent failed for another reason
      than the token), C(timeout), C(join_refused), C(wrong_role), C(other_cluster), C(not_running),
      C(datastore_unavailable), C(not_member_after_join) (the join succeeded and C(changed) is true, but
      the node did not report itself a member in time), C(no_url), C(bad_option).
  returned: failure
  type: str
  sample: token_invalid
retry_token:
  description: Whether the join can succeed with a fresh token.
  returned: failure
  type: bool
  sample: true
high_availability:
  description: The node's datastore members after a join (empty lists for a worker).
  returned: when the node joined
  type: dict
  sample: {"voters": ["10.0.0.10:19001", "10.0.0.11:19001"], "standby": [], "spares": []}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s_cluster import ROLES, run_join


def main():
    module = AnsibleModule(
        argument_spec=dict(
            role=dict(type='str', required=True, choices=list(ROLES)),
            join_urls=dict(type='list', elements='str', default=[], no_log=True),
            cluster_nodes=dict(type='list', elements='str', default=[]),
            join_address=dict(type='str'),
            timeout=dict(type='int', default=300),
            connect_timeout=dict(type='int', default=10),
            ready_timeout=dict(type='int', default=120),
        ),
        supports_check_mode=True,
    )
    run_join(module)


if __name__ == '__main__':
    main()
