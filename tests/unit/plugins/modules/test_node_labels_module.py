# -*- coding: utf-8 -*-
"""The module entry point: option parsing and the failures that must happen before any request."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciplat.k8s.plugins.modules import node_labels

pytest.importorskip('kubernetes')


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            node_labels.main()
    result = json.loads(capsys.readouterr().out)
    return info.value.code, result


def test_invalid_labels_fail_before_connecting(capsys, tmp_path):
    # The kubeconfig does not exist: reaching it would produce a different message.
    code, result = run(capsys, kubeconfig=str(tmp_path / 'absent'), labels={
        'worker1': {'worker': True, 'kubernetes.io/hostname': 'x'},
        'worker2': {'zone': 'two words'},
    })
    assert code == 1
    assert result['msg'].startswith('Invalid labels, nothing was changed: ')
    assert result['errors'] == [
        "node 'worker1', label 'kubernetes.io/hostname': prefix 'kubernetes.io' is reserved for Kubernetes "
        "components; add it to allow_reserved_prefixes if setting it by hand is intended",
        "node 'worker2', label 'zone': value 'two words' must be 63 characters or less, consist of alphanumeric "
        "characters, '-', '_' or '.', and start and end with an alphanumeric character (or be empty)",
    ]


def test_allowed_reserved_prefix_passes_validation_and_reaches_the_connection(capsys, tmp_path):
    code, result = run(capsys, kubeconfig=str(tmp_path / 'absent'), allow_reserved_prefixes=['kubernetes.io'],
                       labels={'worker1': {'kubernetes.io/role': 'worker'}})
    assert code == 1
    assert 'Could not load a Kubernetes configuration' in result['msg']


def test_unknown_option_values_are_refused(capsys):
    code, result = run(capsys, labels={'n1': {}}, missing='sometimes')
    assert code == 1
    assert 'missing' in result['msg'] and 'fail, ignore' in result['msg']
