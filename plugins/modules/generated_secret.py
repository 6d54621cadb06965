#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: generated_secret
short_description: A Kubernetes Secret whose values are generated once and never regenerated
version_added: 0.1.0
description:
  - Makes sure a Secret holds every declared key. A key that is missing gets a strong random value; a key that
    exists is never changed, so passwords, signing keys and cookie secrets survive every rerun of a playbook.
  - Values never leave the module. Results and diffs carry key names and short SHA-256 fingerprints only; read
    values with M(kubernetes.core.k8s_info) under C(no_log) where a chart needs them in its values.
  - Labels and annotations are added or updated, never removed. The module adds the label
    C(sciplat.k8s/generated-secret=true), which the export playbook selects by, and the annotation
    C(sciplat.k8s/generated-keys), the record of every key it generated.
  - A recorded key that is gone from the Secret is not generated again, because whatever was set up with the old
    value (a database password, a signing key) still uses it. The module fails naming the Secret and the keys,
    with the two ways on, restoring the keys from an export (O(values), through C(playbooks/secrets_restore.yml))
    or dropping the record with C(kubectl annotate) to accept new values.
author:
  - sciplat.k8s developers (@sciplat)
extends_documentation_fragment:
  - sciplat.k8s.k8s_auth
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports which keys would be generated without writing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows key names and fingerprints, C(<generated>) for keys a check run would generate.
options:
  name:
    description: Name of the Secret.
    type: str
    required: true
  namespace:
    description: Namespace of the Secret. It must exist.
    type: str
    required: true
  keys:
    description:
      - The keys the Secret must hold and how to generate each one when it is missing.
      - Required (non-empty) with O(state=present).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The Secret key.
        type: str
        required: true
      generate:
        description:
          - V(password) letters and digits; V(hex) hexadecimal characters; V(uuid) a random UUID;
            V(base64_bytes) random bytes, base64 encoded (O(keys[].length) counts bytes, for example a
            32-byte cookie secret); V(rsa_private_key) an unencrypted PKCS#8 PEM key (O(keys[].length) in bits).
        type: str
        default: password
        choices: [base64_bytes, hex, password, rsa_private_key, uuid]
      length:
        description:
          - Characters, bytes or bits depending on O(keys[].generate). Defaults are 32 characters for V(password),
            64 for V(hex), 32 bytes for V(base64_bytes) and 2048 bits for V(rsa_private_key).
        type: int
  labels:
    description: Labels to set on the Secret.
    type: dict
    default: {}
  annotations:
    description: Annotations to set on the Secret.
    type: dict
    default: {}
  values:
    description:
      - Values for declared keys that the Secret lacks, used instead of generated ones (the restore of an export).
      - A key the Secret holds with another value fails the run; stored values are never overwritten.
    type: dict
    default: {}
  state:
    description:
      - V(absent) deletes the Secret and with it every generated value.
    type: str
    default: present
    choices: [absent, present]
requirements:
  - cryptography (Python library), only for V(rsa_private_key)
'''

EXAMPLES = r'''
- name: Database and Keycloak credentials for MIP, generated on the first run only
  sciplat.k8s.generated_secret:
    name: mip-secret
    namespace: mip
    keys:
      - name: platform-backend-db.DB_ADMIN_PASSWORD
      - name: platform-backend-db.PLATFORM_DB_PASSWORD
        length: 40

- name: An oauth2-proxy cookie secret of 32 random bytes
  sciplat.k8s.generated_secret:
    name: oauth2-proxy
    namespace: cellxgene
    keys:
      - name: cookie-secret
        generate: base64_bytes
        length: 32
    labels:
      app.kubernetes.io/part-of: cellxgene
'''

RETURN = r'''
generated:
  description: The keys that this run wrote (or would write, in check mode), generated or taken from O(values).
  returned: always
  type: list
  elements: str
  sample: [platform-backend-db.DB_ADMIN_PASSWORD]
secret:
  description: The Secret as it is after the run, without values. V(null) after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the Secret.
      type: str
      sample: mip-secret
    namespace:
      description: Namespace of the Secret.
      type: str
      sample: mip
    keys:
      description: Every key the Secret holds, including keys not declared here.
      type: list
      elements: str
      sample: [platform-backend-db.DB_ADMIN_PASSWORD]
    fingerprints:
      description: Key to C(sha256:) and the first 8 hex digits of the value's SHA-256.
      type: dict
      sample: {platform-backend-db.DB_ADMIN_PASSWORD: "sha256:3f1c9a0b"}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.generated_secret import ARGUMENT_SPEC, run
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import AUTH_ARG_SPEC


def main():
    module = AnsibleModule(argument_spec=dict(AUTH_ARG_SPEC, **ARGUMENT_SPEC), supports_check_mode=True)
    run(module)


if __name__ == '__main__':
    main()
