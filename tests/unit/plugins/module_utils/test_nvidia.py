# -*- coding: utf-8 -*-
"""Decisions of the nvidia role: GPU detection, branch selection, packages, and whether to load or reboot."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import nvidia


def make_sysfs(root, devices=(), modules=None):
    """A sysfs-shaped tree: devices are (address, vendor, class) and modules {name: version or None}."""
    for address, vendor, pci_class in devices:
        folder = root / 'bus' / 'pci' / 'devices' / address
        folder.mkdir(parents=True)
        (folder / 'vendor').write_text('0x%04x\n' % vendor)
        (folder / 'device').write_text('0x20b5\n')
        (folder / 'class').write_text('0x%06x\n' % pci_class)
    for name, version in (modules or {}).items():
        folder = root / 'module' / name
        folder.mkdir(parents=True)
        if version:
            (folder / 'version').write_text(version + '\n')
    return str(root)


A100 = ('0000:65:00.0', 0x10de, 0x030200)
A100_AUDIO = ('0000:65:00.1', 0x10de, 0x040300)
VGA = ('0000:01:00.0', 0x10de, 0x030000)
INTEL_VGA = ('0000:00:02.0', 0x8086, 0x030000)

DPKG = (
    'nvidia-headless-570-server\t570.133.20-0ubuntu0.24.04.1\tii \n'
    'nvidia-utils-570-server\t570.133.20-0ubuntu0.24.04.1\tii \n'
    'libnvidia-compute-570-server\t570.133.20-0ubuntu0.24.04.1\tii \n'
    'nvidia-dkms-570-server\t570.133.20-0ubuntu0.24.04.1\tii \n'
    'nvidia-headless-550-server\t550.90.07-0ubuntu1\trc \n'
    'nvidia-container-toolkit\t1.17.4-1\tii \n'
)


def test_gpus_are_nvidia_display_functions_only(tmp_path):
    devices = nvidia.read_pci_devices(make_sysfs(tmp_path, [A100, A100_AUDIO, VGA, INTEL_VGA]))
    assert len(devices) == 4
    assert [gpu['address'] for gpu in nvidia.nvidia_gpus(devices)] == ['0000:01:00.0', '0000:65:00.0']


def test_no_pci_bus_means_no_devices(tmp_path):
    assert nvidia.read_pci_devices(str(tmp_path)) == []


def test_unreadable_device_attributes_are_none(tmp_path):
    (tmp_path / 'bus' / 'pci' / 'devices' / 'x').mkdir(parents=True)
    assert nvidia.read_pci_devices(str(tmp_path)) == [dict(address='x', vendor=None, device=None, **{'class': None})]
    assert nvidia.nvidia_gpus(nvidia.read_pci_devices(str(tmp_path))) == []


def test_read_module(tmp_path):
    sysfs = make_sysfs(tmp_path, modules={'nvidia': '570.133.20', 'nouveau': None})
    assert nvidia.read_module(sysfs, 'nvidia') == (True, '570.133.20')
    assert nvidia.read_module(sysfs, 'nouveau') == (True, None)
    assert nvidia.read_module(sysfs, 'absent') == (False, None)


def test_dpkg_parsing_keeps_installed_packages_only():
    packages = nvidia.parse_dpkg(DPKG)
    assert 'nvidia-headless-550-server' not in packages
    assert packages['nvidia-utils-570-server'] == '570.133.20-0ubuntu0.24.04.1'


@pytest.mark.parametrize('debian, upstream', [
    ('570.133.20-0ubuntu0.24.04.1', '570.133.20'), ('1:550.90.07-0ubuntu1', '550.90.07'), ('570.1', '570.1'), (None, None),
])
def test_upstream_version(debian, upstream):
    assert nvidia.upstream_version(debian) == upstream


def test_installed_branches_ignore_non_driver_packages():
    assert nvidia.installed_branches(nvidia.parse_dpkg(DPKG)) == {'570': [
        'libnvidia-compute-570-server', 'nvidia-dkms-570-server', 'nvidia-headless-570-server', 'nvidia-utils-570-server']}


@pytest.mark.parametrize('open_modules, packages', [
    (False, ['nvidia-headless-570-server', 'nvidia-utils-570-server']),
    (True, ['nvidia-headless-570-server-open', 'nvidia-utils-570-server']),
])
def test_driver_packages(open_modules, packages):
    assert nvidia.driver_packages('570', open_modules) == packages


def test_same_branch_is_selected_without_removals():
    assert nvidia.select_branch('570', nvidia.parse_dpkg(DPKG)) == (
        ['nvidia-headless-570-server', 'nvidia-utils-570-server'], [], None)


def test_fresh_node_gets_the_requested_branch():
    install, remove, error = nvidia.select_branch(550, {})
    assert (install, remove, error) == (['nvidia-headless-550-server', 'nvidia-utils-550-server'], [], None)


def test_other_installed_branch_is_refused_unless_allowed():
    packages = nvidia.parse_dpkg(DPKG)
    install, remove, error = nvidia.select_branch('580', packages)
    assert (install, remove) == ([], [])
    assert 'Driver branch 570 is installed' in error and 'nvidia_driver_branch_change: true' in error
    install, remove, error = nvidia.select_branch('580', packages, allow_change=True, open_modules=True)
    assert error is None
    assert install == ['nvidia-headless-580-server-open', 'nvidia-utils-580-server']
    assert remove == ['libnvidia-compute-570-server', 'nvidia-dkms-570-server', 'nvidia-headless-570-server',
                      'nvidia-utils-570-server']


@pytest.mark.parametrize('branch', ['57', '570-server', 'latest', '', '5700'])
def test_malformed_branch(branch):
    install, remove, error = nvidia.select_branch(branch, {})
    assert install == [] and error.startswith('nvidia_driver_branch must be a driver branch of three digits')


def test_installed_driver_version_matches_open_and_proprietary_headless():
    assert nvidia.installed_driver_version(nvidia.parse_dpkg(DPKG), '570') == '570.133.20'
    assert nvidia.installed_driver_version({'nvidia-headless-580-server-open': '580.65.06-0ubuntu1'}, '580') == '580.65.06'
    assert nvidia.installed_driver_version(nvidia.parse_dpkg(DPKG), '550') is None


@pytest.mark.parametrize('gpu, nouveau, loaded, installed, action, words', [
    (False, True, None, '570.1', 'none', 'no NVIDIA GPU'),
    (True, True, None, None, 'none', 'no NVIDIA driver is installed'),
    (True, True, None, '570.1', 'reboot', 'nouveau is loaded'),
    (True, False, None, '570.1', 'load', 'not loaded'),
    (True, False, '550.9', '570.1', 'reboot', 'nvidia 550.9 is loaded but 570.1 is installed'),
    (True, False, '570.1', '570.1', 'none', 'is loaded and installed'),
    (True, False, '570.1', nvidia.PENDING, 'reboot', 'but pending installation is installed'),
    (True, False, None, nvidia.PENDING, 'load', 'not loaded'),
])
def test_module_action(gpu, nouveau, loaded, installed, action, words):
    decided, reason = nvidia.module_action(gpu, nouveau, loaded, installed)
    assert decided == action and words in reason


def test_facts_without_branch(tmp_path):
    facts = nvidia.gpu_node_facts(make_sysfs(tmp_path, [A100]), {})
    assert facts['gpu_present'] is True and facts['branch'] is None and 'module_action' not in facts
    assert facts['gpus'] == [dict(address='0000:65:00.0', vendor='0x10de', device='0x20b5', pci_class='0x030200')]


def test_facts_of_a_node_running_the_installed_driver(tmp_path):
    sysfs = make_sysfs(tmp_path, [A100], {'nvidia': '570.133.20'})
    facts = nvidia.gpu_node_facts(sysfs, nvidia.parse_dpkg(DPKG), '570')
    assert (facts['module_action'], facts['installed_version'], facts['error']) == ('none', '570.133.20', None)
    assert facts['installed_branches'] == ['570']


def test_check_mode_prediction_after_a_branch_change(tmp_path):
    sysfs = make_sysfs(tmp_path, [A100], {'nvidia': '570.133.20'})
    facts = nvidia.gpu_node_facts(sysfs, nvidia.parse_dpkg(DPKG), '580', allow_change=True, driver_changed=True)
    assert facts['module_action'] == 'reboot'
    assert facts['packages'] == ['nvidia-headless-580-server', 'nvidia-utils-580-server']
    assert 'nvidia-utils-570-server' in facts['remove_packages']


def test_branch_conflict_is_reported_as_error(tmp_path):
    facts = nvidia.gpu_node_facts(make_sysfs(tmp_path, [A100]), nvidia.parse_dpkg(DPKG), '580')
    assert facts['error'] and facts['packages'] == []
