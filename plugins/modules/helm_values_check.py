#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: helm_values_check
short_description: Refuse values keys that a chart does not read, before anything is deployed
version_added: 0.2.0
description:
  - helm renders a values file full of invented keys without a word, and C(helm lint) passes it, so a mistyped
    key, or one that a newer chart commit dropped, deploys and does nothing. This module reads the chart's own
    files and fails, naming each key path, the chart and the nearest real keys, when a leaf of O(values) is
    neither defined by the chart's C(values.yaml) (its subcharts' under their alias, C(global) shared) nor read
    by one of its templates, nor inside a subtree the chart takes whole.
  - Templates are read as they are written, C(.Values.a.b), C($.Values.a.b), C(index .Values "a" "b"),
    C(hasKey)/C(get)/C(dig), variables bound to part of the values, and the context of C(with) blocks. Values
    consumed whole (C(toYaml), C(toJson), C(tpl), C(include), C(range), C(merge), ...) or defaulting to C({}) or
    null make their subtree free-form.
  - A string where the chart's default is a boolean fails too, since templates take C("false") as true.
  - When the chart (or a subchart) ships C(values.schema.json), the values merged over the chart's defaults are
    validated against it as well (needs the Python C(jsonschema) library; without it the schema is skipped with a
    warning).
  - Only reads files; never reports a change. The values are never returned or logged.
author:
  - sciplat.k8s developers (@sciplat)
options:
  chart_path:
    description:
      - The chart folder, with its dependencies built (as M(sciplat.k8s.helm_chart) returns it).
    type: path
    required: true
  values:
    description:
      - The values the release will get, or their shape (filter P(sciplat.k8s.values_shape#filter)), which is all the
        key check needs and holds no secret.
    type: dict
    required: true
  user_values:
    description:
      - The part of O(values) the user gave (or its shape), so that the message tells the user's keys from the role's.
    type: dict
    default: {}
  schema_values:
    description:
      - The values themselves, for a chart that ships C(values.schema.json) (RV(sciplat.k8s.helm_chart#module:has_schema));
        hidden from logs. Without them such a schema is not checked, with a warning.
    type: dict
  accept:
    description:
      - Dotted key paths (and the subtrees below them) to accept anyway, for charts that read values in ways the
        analysis cannot see.
    type: list
    elements: str
    default: []
  release:
    description:
      - Release name and chart source, for the message.
    type: str
    default: ''
  user_values_name:
    description:
      - Name of the variable the user sets the values in, for the message.
    type: str
    default: values
  accept_name:
    description:
      - Name of the variable that holds O(accept), for the message.
    type: str
    default: accept
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: sciplat.k8s.helm_chart
  - module: kubernetes.core.helm
'''

EXAMPLES = r'''
- name: Check the values against the chart before the release is touched
  sciplat.k8s.helm_values_check:
    chart_path: "{{ chart.path }}"
    values: "{{ mip_role_values | combine(mip_values, recursive=true) }}"
    user_values: "{{ mip_values }}"
    release: mip (https://github.com/Medical-Informatics-Platform/mip.git@0a4f2881...:deployment/kubernetes)
    user_values_name: mip_values
'''

RETURN = r'''
checked:
  description: Number of leaf key paths checked.
  returned: always
  type: int
  sample: 42
problems:
  description: Each problem, with C(path), C(problem) (V(unknown), V(not_boolean) or V(schema)), C(message) and the
    C(suggestions) of nearby real keys. Never holds a value.
  returned: always
  type: list
  elements: dict
  sample: [{path: smpc.enabeld, problem: unknown, message: "smpc.enabeld is not read by the chart (did you mean smpc.enabled?)",
            suggestions: [smpc.enabled]}]
'''

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sciplat.k8s.plugins.module_utils.values_contract import (
    HAS_YAML, YAML_IMPORT_ERROR, ChartFiles, ChartModel, check_values, coalesce, format_problem, leaves, schema_problems)

try:
    import jsonschema  # noqa: F401  pylint: disable=unused-import
except ImportError:
    HAS_JSONSCHEMA = False
else:
    HAS_JSONSCHEMA = True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            chart_path=dict(type='path', required=True),
            values=dict(type='dict', required=True),
            user_values=dict(type='dict', default={}),
            schema_values=dict(type='dict', no_log=True),
            accept=dict(type='list', elements='str', default=[]),
            release=dict(type='str', default=''),
            user_values_name=dict(type='str', default='values'),
            accept_name=dict(type='str', default='accept'),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=YAML_IMPORT_ERROR)
    params = module.params
    try:
        model = ChartModel(ChartFiles.from_folder(params['chart_path']))
    except (OSError, ValueError) as error:
        module.fail_json(msg='could not read the chart in %s: %s' % (params['chart_path'], error),
                         exception=traceback.format_exc())
    problems = check_values(model, params['values'], params['accept'])
    user_paths = set(path.replace('\0', '.') for path in leaves(params['user_values']))
    for problem in problems:
        problem['message'] = format_problem(problem)
        problem['from_user'] = problem['path'] in user_paths
    if model.schemas:
        if not HAS_JSONSCHEMA:
            module.warn('the chart ships values.schema.json, which is not checked: install the Python jsonschema library')
        elif params['schema_values'] is None:
            module.warn('the chart ships values.schema.json, which is not checked: schema_values is not given')
        else:
            defaults = ChartFiles.from_folder(params['chart_path']).yaml('values.yaml') or {}
            problems.extend({'path': message.split(':', 1)[0], 'problem': 'schema', 'message': message, 'suggestions': [],
                             'from_user': True}
                            for message in schema_problems(model, coalesce(defaults, params['schema_values'])))
    result = dict(changed=False, checked=len(leaves(params['values'])),
                  problems=[dict((k, v) for k, v in p.items() if k != 'got') for p in problems])
    if problems:
        chart = '%s-%s' % (model.chart.get('name', '?'), model.chart.get('version', '?'))
        lines = ['- %s (%s)' % (p['message'], 'from %s' % params['user_values_name'] if p['from_user'] else 'set by the role')
                 for p in problems]
        module.fail_json(msg='Release %s: %d values key(s) do not fit chart %s:\n%s\nFix %s; for a key the chart reads in a way '
                             'this check cannot see, list its path in %s.' % (
                                 params['release'], len(problems), chart, '\n'.join(lines), params['user_values_name'],
                                 params['accept_name']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
