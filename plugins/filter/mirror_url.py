# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_string
from ansible.module_utils.six import string_types

from ansible_collections.sciplat.k8s.plugins.module_utils.helm_chart import rewrite_url


def mirror_url(url, rewrites):
    if not is_string(url):
        raise AnsibleFilterError('mirror_url expects a URL string, got %s' % type(url).__name__)
    if not isinstance(rewrites, dict) or not all(isinstance(k, string_types) and isinstance(v, string_types)
                                                 for k, v in rewrites.items()):
        raise AnsibleFilterError('mirror_url expects a mapping of URL prefixes to replacements, got %r' % (rewrites,))
    return rewrite_url(url, rewrites)[0]


class FilterModule(object):
    def filters(self):
        return {'mirror_url': mirror_url}
