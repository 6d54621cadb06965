#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: onedata_token_info
short_description: Validate a Onedata access token and return its data access scope
version_added: 0.1.0
description:
  - Checks a Onedata access token offline (shape, type, expiry) and, with O(validate_online), asks Onezone for
    its data access scope.
  - Fails with a clear message when the token is malformed, expired, not an access token, unknown to Onezone,
    or when O(space_id) or O(provider_host) are given and the token does not reach them.
  - Returns public facts only (type, expiry, spaces, providers and a fingerprint), never the token, so roles can
    validate a token before passing it on, for example to a Helm chart.
author:
  - sciplat.k8s developers (@sciplat)
extends_documentation_fragment:
  - sciplat.k8s.onedata
options:
  validate_online:
    description:
      - Ask Onezone (O(onezone_host)) about the token. Without it only the offline checks run and RV(scope) is null.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Only reads; behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: sciplat.k8s.onedata_token_secret
'''

EXAMPLES = r'''
- name: Make sure the token can read the Scipion dataset space on its Oneprovider
  sciplat.k8s.onedata_token_info:
    token: "{{ scipion_onedata_token }}"
    onezone_host: onezone.example.org
    space_id: 8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59chd1e2
    provider_host: oneprovider.example.org
  register: onedata_token
  no_log: true

- name: Offline check only (shape, type, expiry)
  sciplat.k8s.onedata_token_info:
    validate_online: false
  environment:
    ONEDATA_TOKEN: "{{ vault_onedata_token }}"
'''

RETURN = r'''
token:
  description: Public facts about the token (never the token).
  returned: always
  type: dict
  contains:
    fingerprint:
      description: C(sha256:) and the first 8 hex characters of the token's SHA-256.
      type: str
    type:
      description: C(accessToken), or C(unknown) for identifier formats newer than this module knows.
      type: str
    serialisation:
      description: C(macaroon-v1) or C(macaroon-v2).
      type: str
    version:
      description: Onedata token version.
      type: int
    persistence:
      description: C(named) or C(temporary).
      type: str
    onezone_domain:
      description: The issuing Onezone, as written in the macaroon location.
      type: str
    caveats:
      description: Kinds of first-party caveats, without their values.
      type: list
      elements: str
    valid_until:
      description: Expiry (Unix time) from the token's time caveat, or null.
      type: int
  sample:
    fingerprint: sha256:e9035eb6
    type: accessToken
    serialisation: macaroon-v1
    version: 2
    persistence: named
    onezone_domain: onezone.example.org
    caveats: [time]
    valid_until: 1795614477
scope:
  description: The token's data access scope according to Onezone; null when O(validate_online=false).
  returned: always
  type: dict
  contains:
    valid_until:
      description: Expiry (Unix time) or null.
      type: int
    readonly:
      description: Whether the token only allows reading.
      type: bool
    spaces:
      description: Spaces in scope, with C(id), C(name), C(providers) (IDs) and C(readonly_providers).
      type: list
      elements: dict
    providers:
      description: Oneproviders in scope, with C(id), C(name), C(domain), C(online) and C(version).
      type: list
      elements: dict
  sample:
    valid_until: null
    readonly: false
    spaces:
      - id: 8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59chd1e2
        name: scipion-data
        providers: [42a2fb7993b8331aa107ff819101b0f1chb73a]
        readonly_providers: []
    providers:
      - id: 42a2fb7993b8331aa107ff819101b0f1chb73a
        name: Example provider
        domain: oneprovider.example.org
        online: true
        version: 21.02.8
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sciplat.k8s.plugins.module_utils.onedata import ONEZONE_ARG_SPEC, run_token_info


def main():
    argument_spec = dict(ONEZONE_ARG_SPEC, validate_online=dict(type='bool', default=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_token_info(module)


if __name__ == '__main__':
    main()
