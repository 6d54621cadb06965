# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets whose values are generated once, stored in the cluster and never regenerated."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import (
    ApiException, K8sConnectionError, api_client, api_error_message, require_kubernetes)
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_secrets import (
    GENERATORS, decode_data, encode_data, generate, redact_data)

KEY_NAME = re.compile(r'^[-._a-zA-Z0-9]{1,253}$')
RSA_SIZES = (2048, 3072, 4096)
_CONFLICT_RETRIES = 3

KEY_SPEC = dict(
    name=dict(type='str', required=True),
    generate=dict(type='str', default='password', choices=sorted(GENERATORS)),
    length=dict(type='int'),
)

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    namespace=dict(type='str', required=True),
    keys=dict(type='list', elements='dict', options=KEY_SPEC, default=[], no_log=False),
    labels=dict(type='dict', default={}),
    annotations=dict(type='dict', default={}),
    state=dict(type='str', default='present', choices=['present', 'absent']),
)


def validate_keys(keys):
    """Problems with the declared keys, each naming the key and the fix."""
    problems = []
    seen = set()
    for key in keys:
        name = key['name']
        if not KEY_NAME.match(name):
            problems.append('keys: %r is not a valid Secret key (letters, digits, "-", "_", "."; at most 253).' % name)
        if name in seen:
            problems.append('keys: %r is declared twice.' % name)
        seen.add(name)
        length = key.get('length')
        if key['generate'] == 'rsa_private_key':
            if length is not None and length not in RSA_SIZES:
                problems.append('keys: %r: an RSA key length must be one of %s bits, not %s.'
                                % (name, ', '.join(map(str, RSA_SIZES)), length))
        elif length is not None and not 8 <= length <= 4096:
            problems.append('keys: %r: length must be between 8 and 4096, not %s.' % (name, length))
    return problems


def missing_keys(current_data, keys):
    """The declared keys that the Secret does not hold yet, in declaration order."""
    return [key for key in keys if key['name'] not in (current_data or {})]


def metadata_patch(existing_metadata, labels, annotations):
    """Labels/annotations to add or change (merged, never removed), or None when all are there."""
    patch = {}
    for field, wanted in (('labels', labels), ('annotations', annotations)):
        have = existing_metadata.get(field) or {}
        differing = dict((k, v) for k, v in wanted.items() if have.get(k) != v)
        if differing:
            patch[field] = differing
    return patch or None


class GeneratedSecret(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        import kubernetes  # pylint: disable=import-outside-toplevel
        self.core = kubernetes.client.CoreV1Api(api_client(self.params))

    def read(self):
        try:
            return self.core.read_namespaced_secret(self.params['name'], self.params['namespace']).to_dict()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def result(self, changed, data, generated, before=None):
        keys = sorted(data)
        result = dict(changed=changed, generated=[key['name'] for key in generated],
                      secret=dict(name=self.params['name'], namespace=self.params['namespace'], keys=keys,
                                  fingerprints=redact_data(data)))
        if self.module._diff:
            after = dict(redact_data(data))
            for key in generated:
                after.setdefault(key['name'], '<generated>')
            result['diff'] = dict(before=dict(keys=before) if before is not None else {},
                                  after=dict(keys=after) if self.params['state'] == 'present' else {})
        return result

    def absent(self):
        existing = self.read()
        if existing is None:
            return dict(changed=False, generated=[], secret=None)
        if not self.module.check_mode:
            try:
                self.core.delete_namespaced_secret(self.params['name'], self.params['namespace'])
            except ApiException as exc:
                if exc.status != 404:
                    raise
        result = self.result(True, {}, [], before=redact_data(decode_data(existing.get('data'))))
        result['secret'] = None
        return result

    def present(self):
        for attempt in range(_CONFLICT_RETRIES):
            existing = self.read()
            metadata = (existing or {}).get('metadata') or {}
            current = decode_data((existing or {}).get('data'))
            missing = missing_keys(current, self.params['keys'])
            meta_patch = metadata_patch(metadata, self.params['labels'], self.params['annotations'])
            before = redact_data(current) if existing is not None else None
            if existing is not None and not missing and meta_patch is None:
                return self.result(False, current, [], before)
            if self.module.check_mode:
                return self.result(True, current, missing, before)
            new_values = dict((key['name'], generate(key['generate'], key.get('length'))) for key in missing)
            try:
                if existing is None:
                    self.core.create_namespaced_secret(self.params['namespace'], dict(
                        apiVersion='v1', kind='Secret', type='Opaque', data=encode_data(new_values),
                        metadata=dict(name=self.params['name'], labels=self.params['labels'],
                                      annotations=self.params['annotations'])))
                else:
                    patch_metadata = dict(meta_patch or {}, resourceVersion=metadata['resource_version'])
                    self.core.patch_namespaced_secret(self.params['name'], self.params['namespace'], dict(
                        metadata=patch_metadata, data=encode_data(new_values)))
            except ApiException as exc:
                # 409: created or changed by someone else since the read; read again and never
                # overwrite what they stored.
                if exc.status == 409 and attempt < _CONFLICT_RETRIES - 1:
                    continue
                raise
            return self.result(True, dict(current, **new_values), missing, before)
        raise AssertionError('unreachable: the last attempt returns or raises')


def run(module):
    require_kubernetes(module)
    problems = validate_keys(module.params['keys'])
    if module.params['state'] == 'present' and not module.params['keys']:
        problems.append('keys: declare at least one key to generate when state=present.')
    if problems:
        module.fail_json(msg=' '.join(problems))
    if any(key['generate'] == 'rsa_private_key' for key in module.params['keys']):
        try:
            import cryptography  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
        except ImportError:
            from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel
            module.fail_json(msg=missing_required_lib('cryptography', reason='for generate=rsa_private_key'))
    try:
        secret = GeneratedSecret(module)
        result = secret.present() if module.params['state'] == 'present' else secret.absent()
    except K8sConnectionError as exc:
        module.fail_json(msg=str(exc))
    except ApiException as exc:
        module.fail_json(msg='Secret %s/%s: %s' % (module.params['namespace'], module.params['name'],
                                                   api_error_message(exc)))
    module.exit_json(**result)
