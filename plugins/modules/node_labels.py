#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: node_labels
short_description: Declare the labels of many Kubernetes Nodes in one task, including removals
version_added: 0.1.0
description:
  - Sets and removes labels on Kubernetes Nodes from one mapping of node name to labels.
  - Reads all Nodes with a single LIST request (narrowed by a field selector when only one node is declared), then
    sends one JSON merge patch per node that differs and nothing for nodes that are already right.
  - Every patch carries the C(resourceVersion) that was read, so a concurrent change makes the API server answer
    409 Conflict instead of being overwritten; the module then re-reads that node, recomputes its patch and tries
    again (up to O(retries) times). Transient server errors (429, 500, 502, 503, 504) are retried with backoff.
  - The label keys the module sets are recorded on each Node in the annotation C(k8s.sciplat.io/managed-labels).
    Labels set by anyone else (kubelet, microk8s, people) are never changed or removed unless declared explicitly,
    and O(exclusive=true) removes only recorded labels that are no longer declared.
  - Every node name, label key and value is validated before the first request, and all errors are reported
    together, each naming its node and key.
author:
  - sciplat.k8s contributors (@sciplat)
extends_documentation_fragment:
  - sciplat.k8s.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reads the Nodes and reports exactly what would change, without writing.
  diff_mode:
    support: full
    description: Shows, per changed node, the labels and the managed keys before and after.
options:
  labels:
    description:
      - Mapping of node name to the labels wanted on that node.
      - "Each label maps a key to its value. A string, number or boolean sets the label (V(true) becomes C(true),
        numbers their decimal form); V(null) or C({state: absent}) removes it; C({value: X}) or
        C({value: X, state: present}) sets it."
      - A node may map to an empty mapping or V(null), which together with O(exclusive=true) removes every label this
        module set on it.
      - Declaring a label that exists already (with any value) makes it managed by this module from then on.
    type: dict
    required: true
  exclusive:
    description:
      - Also remove labels that this module set earlier (recorded in the annotation) but that are no longer
        declared for the node.
      - Labels that this module did not set are never removed by this option.
    type: bool
    default: false
  exclusive_scope:
    description:
      - Which nodes O(exclusive) applies to.
      - V(declared) cleans only the nodes named in O(labels).
      - V(cluster) also removes all managed labels from nodes that are not named in O(labels) (for example a host
        that left the inventory).
    type: str
    choices: [declared, cluster]
    default: declared
  missing:
    description:
      - What to do when a node named in O(labels) does not exist.
      - V(fail) fails before any change and lists every missing node.
      - V(ignore) skips those nodes with a warning and returns them in RV(missing).
    type: str
    choices: [fail, ignore]
    default: fail
  allow_reserved_prefixes:
    description:
      - Label key prefixes under C(kubernetes.io) and C(k8s.io) that may be set anyway. Keys with any other prefix
        in those reserved domains are refused, because Kubernetes components own them.
      - Entries are whole prefixes (the part before C(/)), for example C(topology.kubernetes.io).
    type: list
    elements: str
    default: [node-role.kubernetes.io]
  retries:
    description:
      - How many times to re-read and re-patch a node after a 409 Conflict, and how many times to retry a request
        after a transient server error.
    type: int
    default: 5
notes:
  - Node names are the names C(kubectl get nodes) shows, which can differ from inventory host names.
  - Quote values that YAML would read as numbers with a different spelling, such as C("1.10") (YAML reads
    V(1.10) as the number 1.1).
  - The module needs C(list), C(get) and C(patch) on C(nodes) (cluster scope).
seealso:
  - name: Labels and selectors
    description: The syntax rules for label keys and values that this module enforces.
    link: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/
  - module: kubernetes.core.k8s
'''

EXAMPLES = r'''
- name: Label the seed 001 MIP nodes
  sciplat.k8s.node_labels:
    kubeconfig: /home/mipadmin/.kube/config
    labels:
      master1:
        master: true
      worker1:
        worker: true
        smpc_player: true
      worker2:
        worker: true

- name: Remove one label, set a node role, keep everything else
  sciplat.k8s.node_labels:
    labels:
      worker2:
        smpc_player: null
        node-role.kubernetes.io/worker: ""

- name: Make the declared labels the only managed ones (removes smpc_player from worker1 if it was set here)
  sciplat.k8s.node_labels:
    exclusive: true
    labels:
      master1: {master: "true"}
      worker1: {worker: "true"}
      worker2: {worker: "true"}

- name: Preview a change with --check --diff, tolerating nodes that have not joined yet
  sciplat.k8s.node_labels:
    missing: ignore
    labels:
      worker3:
        gpu: {value: nvidia, state: present}
  check_mode: true
'''

RETURN = r'''
nodes:
  description:
    - Per node considered (declared and found, plus undeclared nodes cleaned by O(exclusive_scope=cluster)),
      what was (in check mode, would be) done.
  returned: always
  type: dict
  contains:
    added:
      description: Labels that did not exist, with their new values.
      type: dict
      sample: {worker: "true"}
    changed:
      description: Labels whose value changed, each with C(before) and C(after).
      type: dict
      sample: {zone: {before: a, after: b}}
    removed:
      description: Labels removed, with the values they had.
      type: dict
      sample: {smpc_player: "true"}
    managed:
      description: The label keys recorded as managed by this module after the run.
      type: list
      elements: str
      sample: [smpc_player, worker]
    patched:
      description: Whether the node was (in check mode, would be) patched. Can be true with no label change when
        only the record of managed keys changes, for example when adopting a label that had the declared value.
      type: bool
  sample:
    worker1:
      added: {smpc_player: "true"}
      changed: {}
      removed: {}
      managed: [smpc_player, worker]
      patched: true
missing:
  description: Declared nodes that do not exist (only non-empty with O(missing=ignore)).
  returned: always
  type: list
  elements: str
  sample: [worker3]
conflicts:
  description: How many 409 Conflicts were resolved by re-reading a node and patching again.
  returned: always
  type: int
  sample: 0
transient_retries:
  description: How many requests were retried after a transient server error.
  returned: success
  type: int
  sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.sciplat.k8s.plugins.module_utils.node_labels import (
    DEFAULT_ALLOWED_RESERVED_PREFIXES,
    run_module,
)


def main():
    argument_spec = dict(
        AUTH_ARG_SPEC,
        labels=dict(type='dict', required=True),
        exclusive=dict(type='bool', default=False),
        exclusive_scope=dict(type='str', choices=['declared', 'cluster'], default='declared'),
        missing=dict(type='str', choices=['fail', 'ignore'], default='fail'),
        allow_reserved_prefixes=dict(type='list', elements='str', default=list(DEFAULT_ALLOWED_RESERVED_PREFIXES)),
        retries=dict(type='int', default=5),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module)


if __name__ == '__main__':
    main()
