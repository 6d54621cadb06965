# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sciplat.k8s.plugins.module_utils.generated_secret import export_entries


def secrets_export_entries(resources):
    if not isinstance(resources, list) or not all(isinstance(item, dict) for item in resources):
        raise AnsibleFilterError('secrets_export_entries expects the resources list of kubernetes.core.k8s_info')
    return export_entries(resources)


class FilterModule(object):
    def filters(self):
        return {'secrets_export_entries': secrets_export_entries}
