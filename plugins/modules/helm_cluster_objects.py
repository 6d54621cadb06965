#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: helm_cluster_objects
short_description: Find the fixed-name cluster-scoped objects of a chart installed several times, and plan their replacement
version_added: 0.2.0
description:
  - Renders a chart (C(helm template)) once per release in O(releases), and once more per release under another
    release name and namespace. A cluster-scoped object that keeps its kind and name in that second rendering has a
    fixed name; every release of the chart makes it, so the second release would fail on helm's ownership check.
  - Which kinds are cluster-scoped comes from the API server's discovery (or from a CustomResourceDefinition the
    chart renders, for a kind the server does not serve yet).
  - Plans what replaces those objects so that the releases can live side by side. A fixed-name
    C(ClusterRoleBinding) becomes one binding per release, of the same role and the release's subjects, a
    C(RoleBinding) of the same name in the release namespace (O(binding_scope=namespace)) or a C(ClusterRoleBinding)
    named C(<name>-<namespace>) (O(binding_scope=cluster)). Every other fixed-name object is made once, as rendered,
    which requires the releases to render it alike.
  - Returns, per release, the objects to leave out of it (for the C(drop) of M(sciplat.k8s.helm_post_renderer)) and
    the hosts of its Ingresses; and the definitions to apply, and the objects an earlier plan made that this one no
    longer makes (labelled C(sciplat.k8s/chart-shared-object=<owner>)).
  - Only reads (helm renders on the client, the API is only asked for discovery and for labelled objects), so it
    never reports a change and works in check mode.
author:
  - sciplat.k8s developers (@sciplat)
options:
  chart:
    description:
      - Absolute path of the chart folder, with its dependencies in C(charts/) (for example the C(path) that
        M(sciplat.k8s.helm_chart) returns).
    type: path
    required: true
  releases:
    description:
      - The releases of the chart that share the cluster.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Release name.
        type: str
        required: true
      namespace:
        description:
          - Release namespace.
        type: str
        required: true
      values:
        description:
          - The release's values, as helm gets them.
        type: dict
        default: {}
  owner:
    description:
      - Value of the label C(sciplat.k8s/chart-shared-object) on the planned definitions, for example the calling role.
        Objects with that label that the plan no longer makes are returned in RV(stale).
    type: str
    required: true
  labels:
    description:
      - More labels for the planned definitions.
    type: dict
    default: {}
  binding_scope:
    description:
      - How a fixed-name C(ClusterRoleBinding) is granted to each release.
    type: str
    choices: [namespace, cluster]
    default: namespace
  binary_path:
    description:
      - The helm 3 binary; default C(helm) on PATH.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - sciplat.k8s.k8s_auth
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Rendering is client-side, as C(helm template) does it, so C(lookup) finds nothing and C(.Capabilities) are helm's
    defaults.
  - A fixed-name cluster-scoped hook is refused, since helm 3 does not pass hooks through a post-renderer.
  - Objects made earlier are looked for among the kinds of the planned definitions and the two binding kinds.
seealso:
  - module: sciplat.k8s.helm_post_renderer
  - module: sciplat.k8s.helm_chart
'''

EXAMPLES = r'''
- name: Find what the Datalabs releases prod and test would both own
  sciplat.k8s.helm_cluster_objects:
    chart: "{{ prepared_chart.path }}"
    releases:
      - {name: prod, namespace: prod, values: {namespace: prod, environment: prod}}
      - {name: test, namespace: test, values: {namespace: test, environment: test}}
    owner: datalab
    labels:
      app.kubernetes.io/managed-by: sciplat.k8s
  register: shared

- name: Make them once, and the bindings per release
  kubernetes.core.k8s:
    definition: "{{ shared.definitions }}"
    apply: true
  when: shared.definitions | length > 0

- name: Install each release without them
  ansible.builtin.include_role:
    name: sciplat.k8s.helm_release
  vars:
    helm_release_name: "{{ item.name }}"
    helm_release_namespace: "{{ item.namespace }}"
    helm_release_post_render:
      drop: "{{ item.drop }}"
  loop: "{{ shared.releases }}"
'''

RETURN = r'''
objects:
  description: Each fixed-name cluster-scoped object the releases render, the releases that render it, and how the plan
    makes it (V(once), or V(per release) for a ClusterRoleBinding).
  returned: always
  type: list
  elements: dict
  sample: [{api_version: rbac.authorization.k8s.io/v1, kind: ClusterRole, name: compute-submission-role,
            releases: [prod, test], made: once}]
definitions:
  description: The objects to apply in their place, labelled; the objects made once come first.
  returned: always
  type: list
  elements: dict
  sample: [{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding,
            metadata: {name: infrastructure-management, namespace: prod, labels: {sciplat.k8s/chart-shared-object: datalab}},
            roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: infrastructure-management-role},
            subjects: [{kind: ServiceAccount, name: infrastructure-service-account, namespace: prod}]}]
stale:
  description: Objects labelled with O(owner) that RV(definitions) no longer make (for example the bindings of the other
    scope), to remove.
  returned: always
  type: list
  elements: dict
  sample: [{api_version: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, name: infrastructure-management-prod,
            namespace: null}]
releases:
  description: Per release, the objects to leave out of it (C(drop), each C(kind) and C(name)) and the hosts of its
    rendered Ingresses (C(hosts)).
  returned: always
  type: list
  elements: dict
  sample: [{name: prod, namespace: prod, drop: [{kind: ClusterRole, name: compute-submission-role}],
            hosts: [datalab.example.org, datalab-docs.example.org]}]
'''

import json
import os
import shutil
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sciplat.k8s.plugins.module_utils.chart_cluster_objects import (
    OWNER_LABEL, PlanError, fixed_name_objects, plan, prune_kinds, stale)
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import (
    AUTH_ARG_SPEC, ApiException, api_client, api_error_message, require_kubernetes)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()

try:
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
except ImportError:  # require_kubernetes reports it
    DynamicClient = ResourceNotFoundError = None

# The second rendering of each release runs under these names instead (the first one that is not the release's).
PROBE_NAMES = ('sciplat-probe-a', 'sciplat-probe-b')


def render(module, helm, chart, name, namespace, values_file):
    rc, out, err = module.run_command([helm, 'template', name, chart, '--namespace', namespace, '--values', values_file])
    if rc != 0:
        module.fail_json(msg='helm could not render chart %s as release %s in namespace %s: %s'
                             % (chart, name, namespace, (err or out).strip()))
    try:
        return [document for document in yaml.safe_load_all(out) if isinstance(document, dict) and document.get('kind')]
    except yaml.YAMLError as error:
        module.fail_json(msg='helm rendered chart %s as release %s into invalid YAML: %s' % (chart, name, error))


def main():
    argument_spec = dict(
        chart=dict(type='path', required=True),
        releases=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            namespace=dict(type='str', required=True),
            values=dict(type='dict', default={}),
        )),
        owner=dict(type='str', required=True),
        labels=dict(type='dict', default={}),
        binding_scope=dict(type='str', choices=['namespace', 'cluster'], default='namespace'),
        binary_path=dict(type='path'),
    )
    argument_spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=YAML_IMPORT_ERROR)
    require_kubernetes(module)
    params = module.params
    if not os.path.isfile(os.path.join(params['chart'], 'Chart.yaml')):
        module.fail_json(msg='%s is not a chart folder (no Chart.yaml)' % params['chart'])
    names = [release['name'] for release in params['releases']]
    if len(set(names)) != len(names):
        module.fail_json(msg='each release needs its own name (got %s)' % ', '.join(names))
    helm = params['binary_path'] or module.get_bin_path('helm', required=True)

    try:
        resources = DynamicClient(api_client(params)).resources
    except ApiException as error:
        module.fail_json(msg='could not read the API server discovery: %s' % api_error_message(error))
    except Exception as error:  # K8sConnectionError, or the HTTP library's own errors when the server is not there
        module.fail_json(msg='could not reach the API server for its discovery: %s' % error)

    def scope_of(api_version, kind):
        try:
            return resources.get(api_version=api_version, kind=kind).namespaced
        except ResourceNotFoundError:
            return None

    workdir = tempfile.mkdtemp(prefix='helm-cluster-objects-')
    try:
        rendered = []
        for release in params['releases']:
            values_file = os.path.join(workdir, '%s.json' % release['name'])
            with open(values_file, 'w') as handle:
                json.dump(release['values'], handle)  # JSON is YAML, and keeps every value's type
            probe = next(name for name in PROBE_NAMES if name not in (release['name'], release['namespace']))
            documents = render(module, helm, params['chart'], release['name'], release['namespace'], values_file)
            probed = render(module, helm, params['chart'], probe, probe, values_file)
            rendered.append({'name': release['name'], 'namespace': release['namespace'], 'rendered': documents,
                             'fixed': fixed_name_objects(documents, probed, scope_of)})
        result = plan(rendered, params['binding_scope'], params['owner'], params['labels'])
    except PlanError as error:
        module.fail_json(msg=str(error))
    except ApiException as error:
        module.fail_json(msg='could not read the API server discovery: %s' % api_error_message(error))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    existing = []
    selector = '%s=%s' % (OWNER_LABEL, params['owner'])
    for api_version, kind in prune_kinds(result['definitions']):
        try:
            items = resources.get(api_version=api_version, kind=kind).get(label_selector=selector).to_dict()['items']
        except ResourceNotFoundError:
            continue  # a kind only a CustomResourceDefinition of the chart defines: nothing can exist yet
        except ApiException as error:
            module.fail_json(msg='could not list the %s objects labelled %s: %s' % (kind, selector, api_error_message(error)))
        existing.extend({'api_version': api_version, 'kind': kind, 'name': item['metadata']['name'],
                         'namespace': item['metadata'].get('namespace')} for item in items)
    module.exit_json(changed=False, stale=stale(result['definitions'], existing), **result)


if __name__ == '__main__':
    main()
