# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sciplat.k8s.plugins.module_utils.values_contract import shape


def values_shape(values):
    if not isinstance(values, dict):
        raise AnsibleFilterError('values_shape expects a mapping, got %s' % type(values).__name__)
    return shape(values)


class FilterModule(object):
    def filters(self):
        return {'values_shape': values_shape}
