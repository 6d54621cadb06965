# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.sciplat.k8s.plugins.filter.secrets import FilterModule


def test_the_filter_is_registered_and_refuses_what_k8s_info_never_returns():
    export = FilterModule().filters()['secrets_export_entries']
    assert export([]) == []
    for bad in ({'resources': []}, ['a string']):
        with pytest.raises(AnsibleFilterError, match='resources list of kubernetes.core.k8s_info'):
            export(bad)
