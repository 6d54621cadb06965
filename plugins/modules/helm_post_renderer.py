#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: helm_post_renderer
short_description: Write a helm post-renderer that drops and patches objects of a rendered release
version_added: 0.2.0
description:
  - Writes an executable script for helm's C(--post-renderer) (the O(kubernetes.core.helm#module:post_renderer)
    option) that reads the rendered release and leaves out, or patches, the objects O(config) names. It is for
    what a role needs from an upstream chart that the chart's values cannot express.
  - A patch that matches no rendered object fails the release, so a chart change that renames a patched object
    is noticed instead of silently ignored.
  - The script runs with O(python), which needs PyYAML.
author:
  - sciplat.k8s developers (@sciplat)
options:
  dest:
    description:
      - Path of the script. Its folder must exist.
    type: path
    required: true
  python:
    description:
      - Interpreter line of the script, for example the controller's C(ansible_playbook_python).
    type: str
    required: true
  config:
    description:
      - What to change in the rendered release.
    type: dict
    required: true
    suboptions:
      drop:
        description:
          - Objects the release must not make, each with C(kind) and C(name).
        type: list
        elements: dict
        default: []
      drop_namespaces:
        description:
          - Objects aimed at these namespaces are left out.
        type: list
        elements: str
        default: []
      patches:
        description:
          - Each with C(kind), C(name) (optional; every object of the kind when left out), C(merge) (an RFC 7386
            merge patch of the object) and C(containers) (container name, or C(*), mapped to a merge patch of that
            container in the object's Pod template).
        type: list
        elements: dict
        default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: kubernetes.core.helm
'''

EXAMPLES = r'''
- name: Give the GPU instance its GPU and its node, and its own VNC NodePort
  sciplat.k8s.helm_post_renderer:
    dest: /home/admin/.cache/sciplat-k8s/post-renderers/scipion-alice.py
    python: "{{ ansible_playbook_python }}"
    config:
      patches:
        - kind: Deployment
          name: scipion-master
          merge: {spec: {template: {spec: {nodeSelector: {nvidia.com/gpu.present: "true"}}}}}
          containers:
            master: {resources: {limits: {nvidia.com/gpu: 1}}}
        - kind: Service
          name: scipion-vnc
          merge: {spec: {ports: [{name: vnc, port: 5901, nodePort: 32143}]}}
  register: post_renderer

- name: Install with it
  kubernetes.core.helm:
    release_name: alice
    release_namespace: scipion
    chart_ref: /home/admin/.cache/sciplat-k8s/charts/scipion/scipion-docker/v2.0
    post_renderer: "{{ post_renderer.dest }}"
'''

RETURN = r'''
dest:
  description: Path of the script.
  returned: always
  type: str
  sample: /home/admin/.cache/sciplat-k8s/post-renderers/scipion-alice.py
checksum:
  description: sha256 of the script, which changes with the configuration.
  returned: always
  type: str
  sample: sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
'''

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sciplat.k8s.plugins.module_utils.post_render import script


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type='path', required=True),
            python=dict(type='str', required=True),
            config=dict(type='dict', required=True, options=dict(
                drop=dict(type='list', elements='dict', default=[]),
                drop_namespaces=dict(type='list', elements='str', default=[]),
                patches=dict(type='list', elements='dict', default=[]),
            )),
        ),
        supports_check_mode=True,
    )
    dest, config = module.params['dest'], module.params['config']
    for entry in config['drop'] + config['patches']:
        unknown = set(entry) - ({'kind', 'name'} if entry in config['drop'] else {'kind', 'name', 'merge', 'containers'})
        if not entry.get('kind') or unknown:
            module.fail_json(msg='every drop and patch needs a kind and knows only kind, name (and merge, containers for a '
                                 'patch); got %r' % (entry,))
    content = script(module.params['python'], config)
    current = None
    if os.path.exists(dest):
        with open(dest) as handle:
            current = handle.read()
    changed = current != content
    if changed and not module.check_mode:
        with open(dest + '.tmp', 'w') as handle:
            handle.write(content)
        os.chmod(dest + '.tmp', 0o700)
        os.rename(dest + '.tmp', dest)
    result = dict(changed=changed, dest=dest, checksum='sha256:' + hashlib.sha256(content.encode('utf-8')).hexdigest())
    if module._diff:
        result['diff'] = {'before': current or '', 'after': content, 'before_header': dest, 'after_header': dest}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
