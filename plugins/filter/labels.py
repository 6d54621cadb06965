# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.sciplat.k8s.plugins.module_utils.node_labels import (
    DEFAULT_ALLOWED_RESERVED_PREFIXES, normalize_labels)


def label_problems(labels, allow_reserved_prefixes=None):
    if allow_reserved_prefixes is not None and not isinstance(allow_reserved_prefixes, (list, tuple)):
        raise AnsibleFilterError('label_problems expects a list of allowed reserved prefixes, got %r'
                                 % (allow_reserved_prefixes,))
    prefixes = DEFAULT_ALLOWED_RESERVED_PREFIXES if allow_reserved_prefixes is None else tuple(allow_reserved_prefixes)
    return normalize_labels(labels, prefixes)[1]


class FilterModule(object):
    def filters(self):
        return {'label_problems': label_problems}
