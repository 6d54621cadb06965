#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: onedata_token_secret
short_description: Keep a csi-onedata Secret (Oneprovider host, access token, space ID) in Kubernetes
version_added: 0.1.0
description:
  - Creates, updates or deletes the Opaque Secret that the csi-onedata driver reads through a PersistentVolume's
    C(csi.nodePublishSecretRef), with the keys C(host), C(onedata_token), C(space_id) and C(oneclient_options).
  - Validates the token, host and space ID before any write, optionally asking Onezone about the token's scope.
  - Compares the decoded data with what is stored and writes only when a value differs. Labels and annotations
    are merged into the existing ones; the data keys are owned by this module.
  - Never returns or shows the token or the other values; results and diffs show key names and fingerprints.
author:
  - sciplat.k8s developers (@sciplat)
extends_documentation_fragment:
  - sciplat.k8s.k8s_auth
  - sciplat.k8s.onedata
options:
  name:
    description:
      - Name of the Secret.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the Secret; a PersistentVolume's C(nodePublishSecretRef) names it.
    type: str
    default: default
  state:
    description:
      - V(present) creates or updates the Secret, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  oneclient_options:
    description:
      - Extra oneclient command-line options stored under the C(oneclient_options) key, for example
        C(--force-direct-io) or C(--port 8443).
    type: str
    default: ''
  secret_keys:
    description:
      - Names of the Secret keys, for drivers or charts that expect others.
    type: dict
    default: {}
    suboptions:
      host:
        description: Key holding O(provider_host).
        type: str
        default: host
      token:
        description: Key holding O(token).
        type: str
        default: onedata_token
      space_id:
        description: Key holding O(space_id).
        type: str
        default: space_id
      oneclient_options:
        description: Key holding O(oneclient_options).
        type: str
        default: oneclient_options
  labels:
    description:
      - Labels to set on the Secret (merged into existing labels).
    type: dict
    default: {}
  annotations:
    description:
      - Annotations to set on the Secret (merged into existing annotations).
    type: dict
    default: {}
  validate_online:
    description:
      - Also ask Onezone (O(onezone_host)) whether the token is valid and gives access to O(space_id) on
        O(provider_host) before writing.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Validates and compares as usual, and reports what would change without writing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The diff shows data keys with fingerprints, labels and annotations; never a value.
notes:
  - O(token), O(provider_host) and O(space_id) are required with O(state=present); with O(state=absent) only the
    name and namespace matter.
  - A Secret of another type than C(Opaque) with the same name is not converted; the module fails instead.
seealso:
  - module: sciplat.k8s.onedata_token_info
  - name: csi-onedata
    description: The CSI driver that mounts Onedata spaces with oneclient.
    link: https://github.com/CERIT-SC/csi-onedata
'''

EXAMPLES = r'''
- name: Store the Onedata credentials for a dataset (token from the AWX credential's ONEDATA_TOKEN)
  sciplat.k8s.onedata_token_secret:
    name: onedata-scipion-data
    namespace: scipion
    provider_host: oneprovider.example.org
    space_id: 8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59chd1e2
    oneclient_options: --force-direct-io
    labels:
      app.kubernetes.io/part-of: scipion
  no_log: true

- name: Check the token against Onezone before writing it
  sciplat.k8s.onedata_token_secret:
    name: onedata-shared
    namespace: datasets
    token: "{{ vault_onedata_token }}"
    provider_host: oneprovider.example.org
    space_id: 8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59chd1e2
    validate_online: true
    onezone_host: onezone.example.org
  no_log: true

- name: Remove the Secret
  sciplat.k8s.onedata_token_secret:
    name: onedata-shared
    namespace: datasets
    state: absent
'''

RETURN = r'''
secret:
  description: The Secret as it is (or would be, in check mode) after the task, values replaced by fingerprints.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the Secret.
      type: str
    namespace:
      description: Namespace of the Secret.
      type: str
    type:
      description: Secret type.
      type: str
    data:
      description: Each data key and the fingerprint (C(sha256:) + 8 hex characters) of its value.
      type: dict
    labels:
      description: Labels of the Secret.
      type: dict
    annotations:
      description: Annotations of the Secret.
      type: dict
  sample:
    name: onedata-scipion-data
    namespace: scipion
    type: Opaque
    data:
      host: sha256:6a1f0c2e
      onedata_token: sha256:e9035eb6
      oneclient_options: sha256:e3b0c442
      space_id: sha256:51d9c0a7
    labels: {}
    annotations: {}
changed_keys:
  description: Data keys whose value was added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [onedata_token]
token:
  description:
    - Public facts about the token (never the token), as RV(sciplat.k8s.onedata_token_info#module:token) describes them.
  returned: when O(state=present)
  type: dict
  sample: {fingerprint: "sha256:e9035eb6", type: accessToken, serialisation: macaroon-v1, version: 2, persistence: named,
           onezone_domain: onezone.example.org, caveats: [time], valid_until: 1795614477}
scope:
  description:
    - The token's data access scope according to Onezone, as RV(sciplat.k8s.onedata_token_info#module:scope) describes it.
  returned: when O(validate_online=true)
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.sciplat.k8s.plugins.module_utils.onedata import ONEZONE_ARG_SPEC, run_token_secret


def main():
    argument_spec = dict(AUTH_ARG_SPEC, **ONEZONE_ARG_SPEC)
    argument_spec.update(
        name=dict(type='str', required=True),
        namespace=dict(type='str', default='default'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        oneclient_options=dict(type='str', default=''),
        secret_keys=dict(type='dict', default={}, no_log=False, options=dict(
            host=dict(type='str', default='host', no_log=False),
            token=dict(type='str', default='onedata_token', no_log=False),
            space_id=dict(type='str', default='space_id'),
            oneclient_options=dict(type='str', default='oneclient_options'),
        )),
        labels=dict(type='dict', default={}),
        annotations=dict(type='dict', default={}),
        validate_online=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
    )
    run_token_secret(module)


if __name__ == '__main__':
    main()
