# -*- coding: utf-8 -*-
"""The nvidia_gpu_info module entry point with a sysfs-shaped tree and a canned dpkg-query."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciplat.k8s.plugins.modules import nvidia_gpu_info
from ansible_collections.sciplat.k8s.tests.unit.plugins.module_utils.test_nvidia import A100, DPKG, make_sysfs


@pytest.fixture
def node(tmp_path, monkeypatch):
    calls = []

    def run_command(self, args, **kwargs):
        calls.append(args)
        return node.dpkg

    monkeypatch.setattr(nvidia_gpu_info, 'SYSFS', make_sysfs(tmp_path, [A100], {'nouveau': None}))
    monkeypatch.setattr(AnsibleModule, 'get_bin_path', lambda self, name, required=False: '/usr/bin/' + name)
    monkeypatch.setattr(AnsibleModule, 'run_command', run_command)
    node.dpkg = (0, DPKG, '')
    node.calls = calls
    return node


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            nvidia_gpu_info.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def test_reboot_needed_while_nouveau_holds_the_gpu(capsys, node):
    code, result = run(capsys, branch='570')
    assert code == 0 and result['changed'] is False
    assert (result['gpu_present'], result['nouveau_loaded'], result['module_action']) == (True, True, 'reboot')
    assert node.calls == [['/usr/bin/dpkg-query', '-W', '-f', '${Package}\t${Version}\t${db:Status-Abbrev}\n',
                           'nvidia-*', 'libnvidia-*']]


def test_no_matching_package_is_a_fresh_node(capsys, node):
    node.dpkg = (1, '', 'dpkg-query: no packages found matching nvidia-*\n')
    code, result = run(capsys, branch='570')
    assert code == 0 and result['installed_branches'] == [] and result['module_action'] == 'none'


def test_dpkg_failure(capsys, node):
    node.dpkg = (2, '', 'database locked')
    code, result = run(capsys)
    assert code == 1 and result['msg'] == 'dpkg-query failed (2): database locked'


def test_branch_conflict_fails_with_the_facts(capsys, node):
    code, result = run(capsys, branch='580')
    assert code == 1 and 'nvidia_driver_branch_change' in result['msg'] and result['installed_branches'] == ['570']
