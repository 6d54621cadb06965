#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: helm_release_guard
short_description: Recover a helm release that an interrupted or failed operation left behind
version_added: 0.2.0
description:
  - Reads the release's history (C(helm history)) before an install or upgrade. A release whose newest revision is
    C(deployed), or that does not exist, is left alone.
  - A newest revision left C(pending-install), C(pending-upgrade) or C(pending-rollback) by a run that was killed
    or lost the API server makes every later install or upgrade fail with "another operation is in progress". One
    left C(failed) looks converged to M(kubernetes.core.helm) when the values did not change.
  - Such a release goes back to the newest revision that was deployed (C(helm rollback)); when none ever was (the
    first install did not finish), it is uninstalled so that the install starts again. The install or upgrade that
    follows then applies the wanted values.
  - A pending revision younger than O(stale_after) may belong to a helm operation that is still running in another
    run. It is never touched; the module fails and says to wait.
author:
  - sciplat.k8s developers (@sciplat)
options:
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
  stale_after:
    description:
      - How old a pending revision must be before it is taken as abandoned, as a Go duration (C(10m), C(1h)) or
        seconds. Give the longest time a helm operation on this release may take (its wait timeout).
    type: str
    default: 15m
  recover:
    description:
      - Roll back or uninstall as described. When false, the module fails instead and names the command to run.
    type: bool
    default: true
  tmp_dir:
    description:
      - A folder for helm's values files, made readable by its owner only. What an interrupted run left in it and
        is older than O(stale_after) is removed first. Give the same folder as C(TMPDIR) to the helm task.
    type: path
  binary_path:
    description:
      - The helm 3 binary; default C(helm) on PATH.
    type: path
  kubeconfig:
    description:
      - Kubeconfig file helm uses. Default C(K8S_AUTH_KUBECONFIG), then helm's own default.
    type: path
  context:
    description:
      - Context of the kubeconfig. Default C(K8S_AUTH_CONTEXT), then the kubeconfig's current context.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Predicts the rollback or uninstall and changes nothing.
  diff_mode:
    support: full
    details: Shows the release's status and revision before and after.
  platform:
    platforms: posix
notes:
  - Reads only the history's revision numbers, statuses and times, never the release's values.
seealso:
  - module: kubernetes.core.helm
  - module: sciplat.k8s.helm_chart
'''

EXAMPLES = r'''
- name: Recover the release before it is upgraded
  sciplat.k8s.helm_release_guard:
    name: mip
    namespace: mip
    stale_after: 10m

- name: Deploy it
  kubernetes.core.helm:
    release_name: mip
    release_namespace: mip
    chart_ref: /var/cache/charts/mip
'''

RETURN = r'''
action:
  description: What was done, or would be in check mode.
  returned: always
  type: str
  choices: [none, rollback, uninstall]
  sample: rollback
status:
  description: Status of the newest revision as found, empty when the release does not exist.
  returned: always
  type: str
  sample: pending-upgrade
revision:
  description: The newest revision as found, 0 when the release does not exist.
  returned: always
  type: int
  sample: 3
target:
  description: The revision a rollback returned to, 0 otherwise.
  returned: always
  type: int
  sample: 2
command:
  description: The helm command that was run (or would be), empty when none.
  returned: always
  type: str
  sample: helm rollback mip 2 --namespace mip
removed:
  description: What was removed from O(tmp_dir) (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/root/.cache/sciplat-k8s/helm-tmp/tmpq1w2e3r4.yml]
'''

import json
import time

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.sciplat.k8s.plugins.module_utils.helm_release_state import (
    ReleaseStateError, command, describe, duration_seconds, plan, private_tmp_dir)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            namespace=dict(type='str', required=True),
            stale_after=dict(type='str', default='15m'),
            recover=dict(type='bool', default=True),
            tmp_dir=dict(type='path'),
            binary_path=dict(type='path'),
            kubeconfig=dict(type='path', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
            context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        stale_after = duration_seconds(params['stale_after'])
    except ReleaseStateError as error:
        module.fail_json(msg='stale_after: %s' % error)
    helm = [params['binary_path'] or module.get_bin_path('helm', required=True)]
    if params['kubeconfig']:
        helm += ['--kubeconfig', params['kubeconfig']]
    if params['context']:
        helm += ['--kube-context', params['context']]

    tmp_changed, removed = private_tmp_dir(params['tmp_dir'], stale_after, module.check_mode) if params['tmp_dir'] else (
        False, [])

    rc, out, err = module.run_command(helm + ['history', params['name'], '--namespace', params['namespace'],
                                              '--output', 'json', '--max', '20'])
    if rc != 0 and 'release: not found' in err:
        history = []
    elif rc != 0:
        module.fail_json(msg='helm could not read the history of release %s/%s: %s'
                         % (params['namespace'], params['name'], (err or out).strip()))
    else:
        history = json.loads(out or '[]')
    try:
        found = plan(history, time.time(), stale_after)
    except ReleaseStateError as error:
        module.fail_json(msg=str(error))

    result = dict(changed=tmp_changed, action='none', status=found['status'] or '', revision=found['revision'] or 0,
                  target=found['target'] or 0, command='', removed=removed)
    if found['action'] == 'none':
        module.exit_json(**result)
    message = describe(found, params['name'], params['namespace'])
    if found['action'] == 'wait':
        module.fail_json(msg='%s; once it is older than %s s without a run working on it, the next run recovers it.'
                         % (message, int(stale_after)), **result)
    argv = command(found['action'], params['name'], params['namespace'], found['target'])
    result.update(action=found['action'], command=' '.join(['helm'] + argv))
    if not params['recover']:
        module.fail_json(msg='%s. recover is off: run %s, then run again.' % (message, result['command']), **result)
    after = ('deployed revision %d (rolled back)' % found['target'] if found['action'] == 'rollback'
             else 'not installed (to be installed again)')
    result.update(changed=True, msg=message,
                  diff=dict(before='%s revision %d\n' % (found['status'], found['revision']), after=after + '\n'))
    if module.check_mode:
        module.exit_json(**result)
    rc, out, err = module.run_command(helm + argv)
    if rc != 0:
        module.fail_json(msg='%s, but %s failed: %s' % (message, result['command'], (err or out).strip()), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
