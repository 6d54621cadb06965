#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_join_token
short_description: Create a microk8s join token on a control plane
version_added: 0.1.0
description:
  - Generates a random token (letters and digits, at least 32 characters) on the controller side of the
    module and registers it with C(microk8s add-node --token <token> --token-ttl <ttl> --format json)
    on a running control plane.
  - Returns the join URLs (C(<ip>:25000/<token>/<fingerprint>), one per IP address of the control
    plane) for M(sciplat.k8s.microk8s_join) on the joining nodes.
  - The URLs hold the token. The module's action plugin marks the whole result as C(no_log), whatever
    the task says, so callbacks and logs show nothing of it, while a registered variable keeps the
    URLs for the joining nodes (pass them through C(hostvars), never through files).
  - Every run creates a new token, so the module always reports a change. Run it only when a node
    has to join; M(sciplat.k8s.microk8s_join) in check mode tells which ones do.
author:
  - sciplat.k8s contributors (@sciplat)
options:
  ttl:
    description:
      - Seconds the token stays valid; it can be used by several joins until then.
      - V(0) creates a single-use token without expiry, spent by the first join that presents it,
        even when that join then fails.
    type: int
    default: 600
  token_length:
    description:
      - Number of random characters of the token; microk8s refuses fewer than 32.
    type: int
    default: 48
attributes:
  action:
    support: full
    description: An action plugin of the same name runs the module and hides its result from callbacks and logs.
  check_mode:
    support: full
    description: Reports a change and returns no URL.
  diff_mode:
    support: none
    description: Reports no diff.
notes:
  - Run it on a control plane; a worker or a stopped node cannot create tokens.
  - Joins must run one at a time; see the C(sciplat.k8s.microk8s_cluster) role.
seealso:
  - module: sciplat.k8s.microk8s_join
  - module: sciplat.k8s.microk8s_leave
'''

EXAMPLES = r'''
- name: Create a join token on the first control plane
  sciplat.k8s.microk8s_join_token:
    ttl: 300
  run_once: true
  delegate_to: "{{ groups['control_plane'][0] }}"
  register: join_token
  no_log: true

- name: Join the workers with it, one at a time
  sciplat.k8s.microk8s_join:
    role: worker
    join_urls: "{{ join_token.join_urls }}"
  throttle: 1
'''

RETURN = r'''
join_urls:
  description:
    - One C(<ip>:<port>/<token>/<fingerprint>) per IP address of the control plane, in the order
      C(microk8s add-node) prints them. Secret. Empty in check mode.
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.10:25000/<token>/4f3c6b2a19de"]
fingerprint:
  description: Prefix of the SHA-256 of the control plane's certificate that the joining node verifies.
  returned: success
  type: str
  sample: 4f3c6b2a19de
ttl:
  description: Seconds the token is valid, C(0) for a single-use token.
  returned: success
  type: int
  sample: 600
single_use:
  description: Whether the token is spent by the first join that presents it.
  returned: success
  type: bool
  sample: false
expires_at:
  description: Expiry as seconds since the epoch, null for a single-use token.
  returned: success
  type: int
  sample: 1767225600
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s_cluster import run_join_token


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ttl=dict(type='int', default=600),
            token_length=dict(type='int', default=48, no_log=False),
        ),
        supports_check_mode=True,
    )
    run_join_token(module)


if __name__ == '__main__':
    main()
