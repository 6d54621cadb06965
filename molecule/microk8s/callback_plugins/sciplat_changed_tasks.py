# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback for the microk8s molecule scenarios (never shipped: molecule/ is build-ignored).

Appends one JSON line per converge.yml run to $SCIPLAT_CHANGED_TASKS_LOG: whether it ran in
check mode, and every task result that reported a change (host, task name, and the module's
``actions`` when it returns them). The verifiers compare the check-mode run with the real run and
name the tasks a change run touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible import context
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: sciplat_changed_tasks
type: aggregate
short_description: Record changed tasks of molecule converge runs (tests only)
description:
  - Writes one JSON line per converge.yml run to the file named by C(SCIPLAT_CHANGED_TASKS_LOG).
requirements:
  - enable in callbacks_enabled
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'sciplat_changed_tasks'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.playbook = None
        self.changed = []

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)

    def v2_runner_on_ok(self, result):
        if not result._result.get('changed'):
            return
        entry = dict(host=result._host.get_name(), task=result._task.get_name())
        if isinstance(result._result.get('actions'), list):
            entry['actions'] = result._result['actions']
        self.changed.append(entry)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('SCIPLAT_CHANGED_TASKS_LOG')
        if not path or self.playbook != 'converge.yml':
            return
        record = dict(check=bool(context.CLIARGS.get('check')), changed=self.changed)
        with open(path, 'a') as handle:
            handle.write(json.dumps(record) + '\n')
