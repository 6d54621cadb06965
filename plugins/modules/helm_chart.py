#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: helm_chart
short_description: Make a chart folder ready for helm, with its dependencies built, through a mirror
version_added: 0.2.0
description:
  - Takes a chart folder (O(path)), or pulls chart O(name) at O(version) from the chart repository O(repo_url)
    into O(cache_dir), and returns the folder to install from.
  - When the chart declares dependencies, they are built with C(helm dependency build) in a copy in O(cache_dir),
    never taken as vendored. helm runs with a private repository configuration, so the user's helm repositories
    and cache are not touched.
  - Fixes of upstream bugs (O(fixes)) are applied to such a copy too.
  - Every chart repository URL, and every archive URL in the repositories' indexes, goes through O(repo_rewrites)
    first, so a site without internet access serves them from a mirror. Chart.yaml and Chart.lock are not
    changed, so helm still checks the lock against the dependencies.
  - A prepared copy is kept per content and mirror, so a rerun with the same chart reads nothing from the
    network and reports no change. The cache is not managed state, so the module works in check mode too.
author:
  - sciplat.k8s developers (@sciplat)
options:
  path:
    description:
      - Absolute path of a chart folder (holding C(Chart.yaml)).
      - Mutually exclusive with O(repo_url).
    type: path
  repo_url:
    description:
      - Chart repository to pull O(name) from, as the chart's publisher gives it (before O(repo_rewrites)).
    type: str
  name:
    description:
      - Chart name in O(repo_url).
    type: str
  version:
    description:
      - Exact chart version in O(repo_url), a pin, so that a rerun installs the same chart.
    type: str
  repo_rewrites:
    description:
      - Chart repository URL prefixes mapped to what replaces them, for example C(https://nerc-ceh.github.io/charts)
        to C(http://mirror.example.org/nerc-ceh). The longest matching prefix wins.
    type: dict
    default: {}
  fixes:
    description:
      - Fixes of upstream bugs that stop the chart from rendering, applied to a copy in O(cache_dir); the chart's own
        files are never changed. Each replaces the Python regular expression C(regexp) with C(replace) in C(file)
        (relative to the chart folder).
      - A fix that matches nothing fails, since the chart is then not the one the fix was written for.
    type: list
    elements: dict
    default: []
    suboptions:
      file:
        description:
          - The file to change, relative to the chart folder.
        type: str
        required: true
      regexp:
        description:
          - Python regular expression of the text to replace.
        type: str
        required: true
      replace:
        description:
          - The replacement; C(\1) and the like refer to groups of O(fixes[].regexp).
        type: str
        required: true
  cache_dir:
    description:
      - Folder for pulled charts and build copies.
    type: path
    required: true
  binary_path:
    description:
      - The helm 3 binary; default C(helm) on PATH.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Dependencies that come from a folder (C(file://)) are refused when a build copy is needed.
  - OCI dependencies are left to helm as they are; O(repo_rewrites) does not apply to them.
seealso:
  - module: kubernetes.core.helm
  - name: helm dependency build
    description: What builds the dependencies.
    link: https://helm.sh/docs/helm/helm_dependency_build/
'''

EXAMPLES = r'''
- name: Build the dependencies of a cloned chart from a mirror of their chart repository
  sciplat.k8s.helm_chart:
    path: /home/admin/.cache/sciplat-k8s/charts/datalab/helm/datalab
    repo_rewrites:
      https://nerc-ceh.github.io/charts: http://charts.mirror.example.org/nerc-ceh
    cache_dir: /home/admin/.cache/sciplat-k8s/charts
  register: chart

- name: Pull a pinned chart from its repository
  sciplat.k8s.helm_chart:
    repo_url: https://nerc-ceh.github.io/charts
    name: metadata-catalogue
    version: 1.15.0
    cache_dir: /home/admin/.cache/sciplat-k8s/charts
  register: chart

- name: Install from the prepared folder
  kubernetes.core.helm:
    release_name: catalogue
    release_namespace: datalab
    chart_ref: "{{ chart.path }}"
'''

RETURN = r'''
path:
  description: The chart folder to install from (O(path) itself when the chart has no dependencies).
  returned: always
  type: str
  sample: /home/admin/.cache/sciplat-k8s/charts/built/datalab-3f1c0e9a2b7d4c55
digest:
  description: sha256 over the source chart's files (without built dependencies), which identifies its content.
  returned: always
  type: str
  sample: sha256:5d41402abc4b2a76b9719d911017c592ae8a7e9b6d1c5d7e0f3a2b4c6d8e0f12
has_schema:
  description: Whether the chart or one of its subcharts ships a C(values.schema.json).
  returned: always
  type: bool
  sample: false
dependencies:
  description: The chart's dependencies as built, with the URL their repository was read from.
  returned: always
  type: list
  elements: dict
  sample: [{name: metadata-catalogue, version: 1.15.0, repository: "https://nerc-ceh.github.io/charts",
            fetched_from: "http://charts.mirror.example.org/nerc-ceh"}]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.urls import open_url

from ansible_collections.sciplat.k8s.plugins.module_utils.helm_chart import (
    HAS_YAML, YAML_IMPORT_ERROR, ChartError, ChartPreparer)

INDEX_TIMEOUT_SECONDS = 60


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            repo_url=dict(type='str'),
            name=dict(type='str'),
            version=dict(type='str'),
            repo_rewrites=dict(type='dict', default={}),
            fixes=dict(type='list', elements='dict', default=[], options=dict(
                file=dict(type='str', required=True),
                regexp=dict(type='str', required=True),
                replace=dict(type='str', required=True),
            )),
            cache_dir=dict(type='path', required=True),
            binary_path=dict(type='path'),
        ),
        mutually_exclusive=[('path', 'repo_url')],
        required_one_of=[('path', 'repo_url')],
        required_by={'repo_url': ('name', 'version')},
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=YAML_IMPORT_ERROR)
    params = module.params
    if params['path'] and not params['path'].startswith('/'):
        module.fail_json(msg='path must be absolute (got %s)' % params['path'])
    helm = params['binary_path'] or module.get_bin_path('helm', required=True)

    def fetch(url):
        return open_url(url, timeout=INDEX_TIMEOUT_SECONDS).read().decode('utf-8')

    def run(argv, env):
        return module.run_command(argv, environ_update=env)

    preparer = ChartPreparer(params['cache_dir'], helm, params['repo_rewrites'], fetch, run)
    try:
        if params['path']:
            result = preparer.prepare_folder(params['path'], params['fixes'])
        else:
            result = preparer.pull(params['repo_url'], params['name'], params['version'], params['fixes'])
    except ChartError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
