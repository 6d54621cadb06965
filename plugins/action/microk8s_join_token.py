# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the microk8s_join_token module and hides its whole result from callbacks and logs.

A module cannot do this itself: marking the token with ``no_log_values`` would mask it in the
registered value too (which the joining nodes need), and Ansible strips ``_ansible_no_log`` from
what a module returns. An action plugin may set it, whatever ``no_log`` the task says.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(self._execute_module(module_name='sciplat.k8s.microk8s_join_token',
                                           module_args=self._task.args, task_vars=task_vars))
        result['_ansible_no_log'] = True
        return result
