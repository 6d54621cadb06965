# -*- coding: utf-8 -*-
"""Parsers and decisions of module_utils/microk8s.py against the documented output forms.

The fixtures under fixtures/microk8s/ are written from the formats in canonical/microk8s
(scripts/wrappers/status.py, version.py) and snapd's `snap list`/`snap info`/`snap version`.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import subprocess

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils import microk8s as m

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'microk8s')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def status(name):
    return m.parse_status(fixture(name))


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['status_single_fresh_1.32.yaml', 'status_ha_3_voters.yaml',
                                  'status_legacy_1.23.yaml'])
def test_status_parser_agrees_with_a_yaml_parser_on_well_formed_output(name):
    doc = yaml.safe_load(fixture(name))
    parsed = status(name)
    assert parsed['running'] is doc['microk8s']['running']
    assert [(a['name'], a['status']) for a in parsed['addons']] == [(a['name'], a['status']) for a in doc['addons']]
    assert [a['description'] for a in parsed['addons']] == [str(a['description']) for a in doc['addons']]
    assert parsed['high_availability']['nodes'] == doc['high-availability'].get('nodes', [])
    assert parsed['high_availability']['dqlite'] is doc['high-availability']['enabled']


def test_fresh_single_node_is_running_in_dqlite_mode_but_not_highly_available():
    parsed = status('status_single_fresh_1.32.yaml')
    assert parsed['state'] == 'running'
    assert parsed['is_worker'] is False
    ha = parsed['high_availability']
    assert ha['dqlite'] is True
    assert ha['enabled'] is False
    assert ha['voters'] == ['10.89.77.11:19001']
    assert ha['standby'] == [] and ha['spares'] == []
    assert m.addon_names(parsed['addons'], 'enabled') == ['dns', 'ha-cluster', 'helm', 'helm3']
    registry = [a for a in parsed['addons'] if a['name'] == 'registry'][0]
    assert registry['description'] == 'Private image registry exposed on localhost:32000'
    assert registry['repository'] == 'core'


def test_three_voters_make_a_highly_available_cluster():
    ha = status('status_ha_3_voters.yaml')['high_availability']
    assert ha['enabled'] is True
    assert ha['voters'] == ['10.89.77.11:19001', '10.89.77.12:19001', '10.89.77.13:19001']
    assert ha['standby'] == ['10.89.77.14:19001']
    assert ha['spares'] == ['10.89.77.15:19001']
    argocd = [a for a in status('status_ha_3_voters.yaml')['addons'] if a['name'] == 'argocd'][0]
    assert argocd['repository'] == 'community'


def test_not_ready_output_with_misindented_message_has_no_addons():
    # Releases without the high-availability block print the message one column deeper than `running:`
    # (MK scripts/wrappers/status.py print_yaml at 0ce10100); PyYAML refuses that.
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(fixture('status_not_ready.txt'))
    parsed = status('status_not_ready.txt')
    assert parsed['state'] == 'not_ready'
    assert parsed['running'] is False
    assert parsed['addons'] is None
    assert parsed['message'].startswith('microk8s is not running. Use microk8s inspect')
    assert parsed['high_availability']['voters'] == ['10.89.77.11:19001']


def test_not_ready_message_after_the_high_availability_block_is_read():
    # Written (not recorded) from MK scripts/wrappers/status.py print_yaml (canonical/microk8s d099c907): the message
    # comes after the high-availability block at its indentation, so YAML puts it in that block.
    text = fixture('status_not_ready_ha_block.txt')
    assert 'message' in yaml.safe_load(text)['high-availability']
    parsed = status('status_not_ready_ha_block.txt')
    assert parsed['state'] == 'not_ready' and parsed['addons'] is None
    assert parsed['message'] == 'microk8s is not running. Use microk8s inspect for a deeper inspection.'
    assert parsed['high_availability']['voters'] == ['10.89.77.11:19001']


def test_stopped_node_prints_a_message_instead_of_yaml():
    parsed = status('status_stopped.txt')
    assert parsed['state'] == 'stopped'
    assert parsed['running'] is False
    assert parsed['addons'] is None


def test_worker_only_node_is_recognised_whatever_the_rc():
    for rc in (0, 1):
        parsed = m.parse_status(fixture('status_worker.txt'), rc)
        assert parsed['state'] == 'worker'
        assert parsed['is_worker'] is True
        assert parsed['addons'] is None
    older = 'This MicroK8s deployment is acting as a node in a cluster. Please use the master node.\n'
    assert m.parse_status(older)['is_worker'] is True


def test_legacy_status_without_repository_defaults_to_core():
    parsed = status('status_legacy_1.23.yaml')
    assert {a['repository'] for a in parsed['addons']} == {'core'}
    assert parsed['high_availability']['dqlite'] is False
    assert parsed['high_availability']['nodes'] == []


def test_unrecognised_status_output_raises():
    with pytest.raises(m.Microk8sError) as info:
        m.parse_status('Traceback (most recent call last):\n  boom\n', 1)
    assert 'unrecognised output' in info.value.msg
    assert info.value.rc == 1


def test_running_node_with_empty_addon_section():
    parsed = m.parse_status('microk8s:\n  running: True\nhigh-availability:\n  enabled: False\naddons:\n')
    assert parsed['state'] == 'running'
    assert parsed['addons'] == []


# --------------------------------------------------------------------------------------------
# version, channel, snap
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('MicroK8s v1.32.3 revision 7964\n', dict(version='1.32.3', revision='7964')),
    ('MicroK8s v1.26.1 revision: 4595\n  - K8s: v1.26.1\n', dict(version='1.26.1', revision='4595')),
    ('command not found', None),
])
def test_parse_version(text, expected):
    assert m.parse_version(text) == expected


@pytest.mark.parametrize('text, expected', [
    ('v1.32.3', (1, 32, 3)), ('2.58.3+22.04', (2, 58, 3)), ('1.29', (1, 29)), ('unavailable', None), (None, None),
])
def test_version_tuple(text, expected):
    assert m.version_tuple(text) == expected


@pytest.mark.parametrize('channel, expected', [
    ('1.32/stable', (1, 32)), ('1.28/edge', (1, 28)), ('latest/stable', None), ('latest/beta', None),
])
def test_valid_channels(channel, expected):
    assert m.parse_channel(channel) == expected


@pytest.mark.parametrize('channel', ['1.32', 'stable', '1.32/stabel', 'v1.32/stable', '1/stable', '', None,
                                     '1.32/stable/hotfix', 'latest'])
def test_invalid_channels_name_the_allowed_forms(channel):
    with pytest.raises(ValueError) as info:
        m.parse_channel(channel)
    assert "'<major>.<minor>/<risk>' or 'latest/<risk>'" in str(info.value)


def test_snap_list_with_hold_note():
    listed = m.parse_snap_list(fixture('snap_list_held.txt'))
    assert listed == dict(name='microk8s', version='v1.32.3', revision='7964', tracking='1.32/stable',
                          publisher='canonical✓', notes=['classic', 'held'], classic=True, held=True)


def test_snap_list_before_hold_notes():
    listed = m.parse_snap_list(fixture('snap_list_2.58.txt'))
    assert listed['tracking'] == '1.28/stable'
    assert listed['held'] is False
    assert m.parse_snap_list('') is None
    assert m.parse_snap_list('Name  Version  Rev  Tracking  Publisher  Notes\ncore  16  1  latest/stable  canonical  base\n') is None


def test_snap_info_top_level_fields():
    info = m.parse_snap_info(fixture('snap_info_held.txt'))
    assert info['tracking'] == '1.32/stable'
    assert info['hold'] == 'forever'
    assert info['installed'].startswith('v1.32.3')
    assert '1.31/stable' not in info


def test_snapd_version():
    assert m.parse_snapd_version(fixture('snap_version.txt')) == '2.58.3+22.04'
    assert m.parse_snapd_version('snap    2.63\nsnapd   unavailable\nseries  -\n') is None


class FakeCli(object):
    def __init__(self, info):
        self.info = info

    def snap_info(self, name):
        return self.info


def test_snap_held_by_snapd_version():
    listed = m.parse_snap_list(fixture('snap_list_2.58.txt'))
    assert m.snap_held(listed, '2.61', FakeCli({})) is False
    assert m.snap_held(listed, '2.58.3', FakeCli({})) is None
    assert m.snap_held(listed, '2.58.3', FakeCli({'hold': 'forever'})) is True
    assert m.snap_held(m.parse_snap_list(fixture('snap_list_held.txt')), '2.63', None) is True


# --------------------------------------------------------------------------------------------
# snap plan
# --------------------------------------------------------------------------------------------

def listed(tracking):
    return dict(name='microk8s', version='v1.32.3', revision='1', tracking=tracking, publisher='canonical',
                notes=['classic'], classic=True, held=False)


def test_fresh_node_installs_then_holds():
    actions = m.plan_snap(None, '1.32/stable', True, '2.63', None)
    assert [a['argv'] for a in actions] == [
        ['install', 'microk8s', '--classic', '--channel=1.32/stable'],
        ['refresh', '--hold', 'microk8s'],
    ]


def test_channel_change_refreshes_and_keeps_an_existing_hold():
    actions = m.plan_snap(listed('1.31/stable'), '1.32/stable', True, '2.63', True)
    assert [a['action'] for a in actions] == ['refresh']
    assert actions[0]['argv'] == ['refresh', 'microk8s', '--channel=1.32/stable']
    assert actions[0]['reason'] == 'tracking 1.31/stable, declared 1.32/stable'


def test_converged_snap_needs_nothing():
    assert m.plan_snap(listed('1.32/stable'), '1.32/stable', True, '2.63', True) == []
    assert m.plan_snap(listed('1.32/stable'), '1.32/stable', None, '2.40', None) == []
    assert m.plan_snap(listed('1.32/stable'), '1.32/stable', False, '2.63', False) == []


def test_hold_on_old_snapd_fails_naming_the_minimum():
    with pytest.raises(ValueError) as info:
        m.plan_snap(listed('1.32/stable'), '1.32/stable', True, '2.57.6', False)
    assert 'snapd >= 2.58' in str(info.value) and '2.57.6' in str(info.value)


def test_snapd_258_cannot_report_holds_so_the_hold_is_reapplied():
    actions = m.plan_snap(listed('1.32/stable'), '1.32/stable', True, '2.58.3', None)
    assert [a['action'] for a in actions] == ['hold']
    assert 'cannot report' in actions[0]['reason']


def test_unhold():
    actions = m.plan_snap(listed('1.32/stable'), '1.32/stable', False, '2.63', True)
    assert [a['argv'] for a in actions] == [['refresh', '--unhold', 'microk8s']]


# --------------------------------------------------------------------------------------------
# addon names, validation, plan
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name, version, expected', [
    ('storage', '1.23.17', 'storage'),
    ('storage', '1.24.0', 'hostpath-storage'),
    ('hostpath-storage', '1.23', 'storage'),
    ('gpu', '1.28.9', 'gpu'),
    ('gpu', '1.29.1', 'nvidia'),
    ('nvidia', '1.28', 'gpu'),
    ('helm', '1.24', 'helm3'),
    ('helm', '1.32.3', 'helm3'),
    ('core/storage', '1.30', 'core/hostpath-storage'),
    ('community/argocd', '1.30', 'community/argocd'),
    ('gpu', None, 'nvidia'),
])
def test_canonical_addon_name(name, version, expected):
    assert m.canonical_addon_name(name, version) == expected


def test_core_addons_follow_renames_and_removals():
    assert 'storage' in m.core_addons_for('1.23') and 'hostpath-storage' not in m.core_addons_for('1.23')
    assert 'nvidia' in m.core_addons_for('1.29') and 'gpu' not in m.core_addons_for('1.29')
    assert 'dashboard' in m.core_addons_for('1.35') and 'dashboard' not in m.core_addons_for('1.36')


def fresh_addons():
    return status('status_single_fresh_1.32.yaml')['addons']


def entry(name, state='enabled', args=None):
    return dict(name=name, state=state, args=m.normalize_args(args))


def test_valid_declaration_has_no_errors():
    declared = [entry('dns'), entry('storage'), entry('gpu', args=['--gpu-operator-driver', 'host']),
                entry('metallb', args='10.64.140.43-10.64.140.49'), entry('dashboard', 'disabled')]
    assert m.validate_addons(declared, '1.32.3', fresh_addons()) == []


def test_unknown_addon_lists_the_allowed_ones():
    errors = m.validate_addons([entry('ingres')], '1.32.3', fresh_addons())
    assert len(errors) == 1
    assert errors[0].startswith("addons[0]: unknown addon 'ingres' for microk8s 1.32; allowed: cert-manager, ")
    assert 'hostpath-storage' in errors[0] and 'registry' in errors[0]


def test_addon_not_offered_by_the_node_is_unknown_even_if_it_exists_elsewhere():
    # argocd exists in the community repository, which this node has not enabled.
    errors = m.validate_addons([entry('community/argocd')], '1.32.3', fresh_addons())
    assert "unknown addon 'community/argocd'" in errors[0]
    ha_addons = status('status_ha_3_voters.yaml')['addons']
    assert m.validate_addons([entry('community/argocd')], '1.32.3', ha_addons) == []
    assert m.validate_addons([entry('community/argocd'), entry('argocd', 'disabled')], '1.32.3', ha_addons) == [
        "addons[1]: addon 'argocd' is declared both enabled and disabled (addons[0] and addons[1]); "
        "declare it once with state enabled or disabled"]
    assert m.validate_addons([entry('dns'), entry('core/dns')], '1.32.3', ha_addons) == [
        "addons[1]: addon 'core/dns' is declared twice (also addons[0]); declare it once"]


def test_arguments_for_an_addon_that_takes_none():
    errors = m.validate_addons([entry('hostpath-storage', args=['--x'])], '1.32.3', fresh_addons())
    assert errors == ["addons[0]: addon 'hostpath-storage' takes no arguments; remove args (got ['--x'])"]


def test_same_addon_enabled_and_disabled_also_through_a_rename():
    errors = m.validate_addons([entry('storage'), entry('hostpath-storage', 'disabled')], '1.32.3', fresh_addons())
    assert errors == ["addons[1]: addon 'hostpath-storage' is declared both enabled and disabled "
                      "(addons[0] and addons[1]); declare it once with state enabled or disabled"]


def test_metallb_without_a_range_would_prompt():
    errors = m.validate_addons([entry('metallb')], '1.32.3', fresh_addons())
    assert len(errors) == 1 and "needs args" in errors[0] and 'metallb' in errors[0]
    assert m.validate_addons([entry('metallb', 'disabled')], '1.32.3', fresh_addons()) == []


def test_builtin_helm_cannot_be_disabled_from_125():
    errors = m.validate_addons([entry('helm3', 'disabled')], '1.32.3', fresh_addons())
    assert errors and 'built into microk8s 1.32' in errors[0]
    legacy = status('status_legacy_1.23.yaml')['addons']
    assert m.validate_addons([entry('helm3', 'disabled')], '1.23.17', legacy) == []


def test_args_on_a_disabled_addon_are_refused():
    errors = m.validate_addons([entry('dns', 'disabled', ['1.1.1.1'])], '1.32.3', fresh_addons())
    assert errors and 'args are only used to enable' in errors[0]


def test_static_catalog_when_microk8s_is_not_installed():
    assert m.validate_addons([entry('dashboard')], '1.36', None)[0].startswith(
        "addons[0]: unknown addon 'dashboard' for microk8s 1.36")
    assert m.validate_addons([entry('hostpath-storage'), entry('dns')], '1.32', None) == []


def test_plan_only_touches_what_differs_disables_first():
    declared = [entry('dns'), entry('hostpath-storage'), entry('ha-cluster', 'disabled'), entry('ingress'),
                entry('registry', 'disabled')]
    actions = m.plan_addons(declared, '1.32.3', fresh_addons(), {})
    assert [(a['action'], a['name']) for a in actions] == [
        ('disable', 'ha-cluster'), ('enable', 'hostpath-storage'), ('enable', 'ingress')]


def test_plan_maps_old_names():
    actions = m.plan_addons([entry('storage'), entry('gpu', args=['--gpu-operator-driver', 'host'])],
                            '1.32.3', fresh_addons(), {})
    assert [(a['name'], a['args']) for a in actions] == [
        ('hostpath-storage', []), ('nvidia', ['--gpu-operator-driver', 'host'])]


def test_changed_args_disable_then_enable_and_unchanged_args_do_nothing():
    enable_metallb = dict(action='enable', name='metallb', key='core/metallb', args=[])
    addons = m.apply_plan_to_available(fresh_addons(), [enable_metallb])
    recorded = {'core/metallb': ['10.0.0.1-10.0.0.9']}
    same = m.plan_addons([entry('metallb', args='10.0.0.1-10.0.0.9')], '1.32.3', addons, recorded)
    assert same == []
    changed = m.plan_addons([entry('metallb', args='10.0.0.1-10.0.0.20')], '1.32.3', addons, recorded)
    assert [(a['action'], a['args']) for a in changed] == [('disable', []), ('enable', ['10.0.0.1-10.0.0.20'])]
    assert changed[0]['reason'] == "enabled with arguments ['10.0.0.1-10.0.0.9'], declared ['10.0.0.1-10.0.0.20']"


def test_enabled_addon_without_record_is_reenabled_only_when_args_are_declared():
    assert m.plan_addons([entry('dns')], '1.32.3', fresh_addons(), {}) == []
    actions = m.plan_addons([entry('dns', args=['10.0.0.53'])], '1.32.3', fresh_addons(), {})
    assert [(a['action'], a['name']) for a in actions] == [('disable', 'dns'), ('enable', 'dns')]
    assert 'unknown arguments' in actions[0]['reason']


def test_record_follows_the_plan():
    record = m.apply_plan_to_record({'core/dns': ['1.1.1.1'], 'core/ingress': []}, [
        dict(action='disable', name='dns', key='core/dns', args=[]),
        dict(action='enable', name='dns', key='core/dns', args=['8.8.8.8']),
        dict(action='disable', name='ingress', key='core/ingress', args=[])])
    assert record == {'core/dns': ['8.8.8.8']}


def test_record_file_roundtrip_is_private(tmp_path):
    path = str(tmp_path / 'common' / 'sciplat-addons.json')
    assert m.read_addon_record(path) == {}
    m.write_addon_record({'metallb': ['10.0.0.1-10.0.0.9']}, path)
    assert m.read_addon_record(path) == {'metallb': ['10.0.0.1-10.0.0.9']}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, 'w') as handle:
        handle.write('{not json')
    assert m.read_addon_record(path) == {}


def test_check_mode_prediction_for_a_fresh_install():
    predicted = m.predicted_status_addons('1.32')
    assert m.addon_names(predicted, 'enabled') == ['dns', 'helm', 'helm3']
    actions = m.plan_addons([entry('dns'), entry('ingress')], '1.32', predicted, {})
    assert [(a['action'], a['name']) for a in actions] == [('enable', 'ingress')]
    older = m.plan_addons([entry('dns')], '1.26', m.predicted_status_addons('1.26'), {})
    assert [(a['action'], a['name']) for a in older] == [('enable', 'dns')]


def test_diff_shows_status_and_recorded_args():
    actions = m.plan_addons([entry('ingress'), entry('dns', args=['9.9.9.9'])], '1.32.3', fresh_addons(), {})
    diff = m.addons_diff([entry('ingress'), entry('dns', args=['9.9.9.9'])], '1.32.3', fresh_addons(), {}, actions)
    assert diff['before'] == {'ingress': dict(status='disabled', args=None), 'dns': dict(status='enabled', args=None)}
    assert diff['after'] == {'ingress': dict(status='enabled', args=[]), 'dns': dict(status='enabled', args=['9.9.9.9'])}


# --------------------------------------------------------------------------------------------
# runner, with real processes
# --------------------------------------------------------------------------------------------

class ProcessModule(object):
    """Just what Microk8sCli uses of AnsibleModule, running real processes."""

    check_mode = False

    def get_bin_path(self, name):
        return shutil.which(name)

    def run_command(self, cmd, data=None, environ_update=None):
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.run(cmd, input=data, env=env, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def script(tmp_path, body):
    path = tmp_path / 'microk8s'
    path.write_text('#!/bin/sh\n' + body)
    path.chmod(0o755)
    return str(path)


def test_runner_stops_a_hanging_command(tmp_path):
    cli = m.Microk8sCli(ProcessModule(), binary=script(tmp_path, 'sleep 30\n'), timeout=1)
    with pytest.raises(m.Microk8sError) as info:
        cli.run(['status'])
    assert 'did not finish within 1 seconds' in info.value.msg


def test_runner_reads_status_and_passes_wait_ready_with_a_timeout(tmp_path):
    log = tmp_path / 'args'
    body = 'echo "$@" > %s\ncat %s\n' % (log, os.path.join(FIXTURES, 'status_single_fresh_1.32.yaml'))
    cli = m.Microk8sCli(ProcessModule(), binary=script(tmp_path, body))
    parsed = cli.status(wait_ready_timeout=45)
    assert parsed['state'] == 'running'
    assert log.read_text().split() == ['status', '--format', 'yaml', '--wait-ready', '--timeout', '45']


def test_runner_raises_with_output_when_a_checked_command_fails(tmp_path):
    cli = m.Microk8sCli(ProcessModule(), binary=script(
        tmp_path, 'echo "Addon $2 was not found in any repository" >&2\nexit 1\n'))
    with pytest.raises(m.Microk8sError) as info:
        cli.enable('nope')
    assert info.value.rc == 1
    assert 'Addon nope was not found in any repository' in info.value.msg


def test_runner_reports_missing_microk8s(tmp_path):
    cli = m.Microk8sCli(ProcessModule(), binary='')
    assert cli.status()['state'] == 'not_installed'
    with pytest.raises(m.Microk8sError):
        cli.run(['version'])


# --------------------------------------------------------------------------------------------
# addon argument contracts (canonical/microk8s-core-addons scripts)
# --------------------------------------------------------------------------------------------

def enabled_metallb():
    return m.apply_plan_to_available(fresh_addons(), [dict(action='enable', name='metallb', key='core/metallb')])


def test_metallb_ranges_become_its_one_argument():
    ranges = ['10.0.0.1-10.0.0.9', '10.0.1.0/24']
    actions = m.plan_addons([entry('metallb', args=ranges)], '1.32.3', fresh_addons(), {})
    assert [(a['action'], a['args']) for a in actions] == [('enable', ['10.0.0.1-10.0.0.9,10.0.1.0/24'])]
    recorded = m.apply_plan_to_record({}, actions)
    assert m.plan_addons([entry('metallb', args=ranges)], '1.32.3', enabled_metallb(), recorded) == []
    # A record of separate words is what the script really got only the first range of.
    redo = m.plan_addons([entry('metallb', args=ranges)], '1.32.3', enabled_metallb(),
                         {'core/metallb': ranges})
    assert [(a['action'], a['args']) for a in redo] == [('disable', []), ('enable', ['10.0.0.1-10.0.0.9,10.0.1.0/24'])]


def test_nvidia_options_are_spelled_as_gpu_options_up_to_128():
    assert m.addon_command_args('gpu', ['--gpu-operator-driver', 'host', '--gpu-operator-set=a=b'], '1.28.9') == [
        '--driver', 'host', '--set=a=b']
    assert m.addon_command_args('nvidia', ['--gpu-operator-driver', 'host'], '1.29') == ['--gpu-operator-driver', 'host']
    actions = m.plan_addons([entry('nvidia', args=['--gpu-operator-driver', 'host'])], '1.28.9',
                            [dict(name='gpu', repository='core', description='', version='', status='disabled')], {})
    assert [(a['name'], a['args']) for a in actions] == [('gpu', ['--driver', 'host'])]


def test_option_the_gpu_addon_lacks_is_refused_naming_the_entry():
    errors = m.validate_addons([entry('dns'), entry('nvidia', args=['--network-operator'])], '1.28', None)
    assert len(errors) == 1
    assert errors[0].startswith("addons[1]: addon 'nvidia' on microk8s 1.28: option '--network-operator' does not "
                                "exist for the gpu addon of microk8s 1.28 and older")
    assert m.validate_addons([entry('nvidia', args=['--network-operator'])], '1.29', None) == []


def test_disabling_hostpath_storage_must_confirm_destroying_its_data():
    enabled = m.apply_plan_to_available(fresh_addons(), [dict(action='enable', name='hostpath-storage')])
    for name in ('hostpath-storage', 'storage'):
        errors = m.validate_addons([entry(name, 'disabled')], '1.32.3', enabled)
        assert len(errors) == 1 and "disabling addon '%s' deletes the data of its volumes" % name in errors[0]
        assert "args: ['destroy-storage']" in errors[0]
        assert m.validate_addons([entry(name, 'disabled', ['yes'])], '1.32.3', enabled) == errors
    confirmed = [entry('hostpath-storage', 'disabled', ['destroy-storage'])]
    assert m.validate_addons(confirmed, '1.32.3', enabled) == []
    actions = m.plan_addons(confirmed, '1.32.3', enabled, {})
    assert [(a['action'], a['name'], a['args']) for a in actions] == [
        ('disable', 'hostpath-storage', ['destroy-storage'])]


def test_user_launch_config_replaces_the_bundled_one_that_enables_dns():
    assert m.predicted_enabled_at_install('1.32', {}) == ['dns', 'helm', 'helm3']
    user = {'version': '0.1.0', 'addons': [{'name': 'ingress'}, {'name': 'dashboard', 'disable': True}]}
    assert m.predicted_enabled_at_install('1.32', user) == ['ingress', 'helm', 'helm3']
    predicted = m.predicted_status_addons('1.32', user)
    actions = m.plan_addons([entry('dns'), entry('ingress')], '1.32', predicted, {})
    assert [(a['action'], a['name']) for a in actions] == [('enable', 'dns')]


def test_version_from_the_snap_when_microk8s_has_no_version_command():
    assert m.version_from_snap(dict(listed('1.24/stable'), version='v1.24.17')) == '1.24.17'
    assert m.version_from_snap(dict(listed('1.24/stable'), version='-')) == '1.24'
    assert m.version_from_snap(dict(listed('latest/edge'), version='-')) is None
    assert m.version_from_snap(None) is None


def test_addon_commands_get_their_args_and_an_empty_stdin(tmp_path):
    body = 'echo "$@"\nwhile read -r line; do echo "read [$line]"; done\necho "end of input"\n'
    cli = m.Microk8sCli(ProcessModule(), binary=script(tmp_path, body))
    rc, out, err = cli.disable('hostpath-storage', ['destroy-storage'])
    lines = out.splitlines()
    assert lines[0] == 'disable hostpath-storage destroy-storage'
    assert lines[-1] == 'end of input' and all(line == 'read []' for line in lines[1:-1])


# --------------------------------------------------------------------------------------------
# snapd's retryable errors
# --------------------------------------------------------------------------------------------

class SnapModule(ProcessModule):
    def __init__(self, snap):
        self.snap = snap

    def get_bin_path(self, name):
        return self.snap if name == 'snap' else ProcessModule.get_bin_path(self, name)


def conflicting_snap(tmp_path, refusals, rc=10, text='snap "microk8s" has "auto-refresh" change in progress'):
    """A snap that refuses `refusals` times with `text`, then succeeds; calls are counted."""
    count = tmp_path / 'count'
    count.write_text('0')
    path = tmp_path / 'snap'
    path.write_text('#!/bin/sh\nn=$(cat %s); echo $((n + 1)) > %s\n'
                    'if [ "$n" -lt %d ]; then echo "error: %s" >&2; exit %d; fi\necho done\n'
                    % (count, count, refusals, text.replace('"', '\\"'), rc))
    path.chmod(0o755)
    return m.Microk8sCli(SnapModule(str(path))), count


@pytest.mark.parametrize('rc,retries,delay,expected', [
    (10, 3, 7, 7), (10, 0, 7, None), (1, 3, 7, None), (64, 3, 7, None)])
def test_only_snapds_retryable_exit_code_is_repeated(rc, retries, delay, expected):
    assert m.snap_retry_wait(rc, 0, retries, delay) == expected


def test_conflicting_change_is_repeated_until_snapd_accepts_it(tmp_path):
    cli, count = conflicting_snap(tmp_path, 2)
    waits = []
    rc, out, err = cli.snap_change(['install', 'microk8s'], retries=3, delay=5, sleep=waits.append)
    assert (rc, out.strip(), waits, count.read_text().strip()) == (0, 'done', [5, 5], '3')


def test_spent_retries_fail_naming_snapds_error(tmp_path):
    cli, count = conflicting_snap(tmp_path, 9, text='too early for operation, device not yet seeded or device '
                                                    'model not acknowledged')
    with pytest.raises(m.Microk8sError) as info:
        cli.snap_change(['install', 'microk8s'], retries=2, delay=0, sleep=lambda seconds: None)
    assert info.value.rc == 10 and count.read_text().strip() == '3'
    assert info.value.msg.startswith('snap install microk8s failed (rc=10): error: too early for operation, '
                                     'device not yet seeded')
    assert 'refused the change as conflicting 3 time(s)' in info.value.msg


def test_other_snap_failures_are_not_repeated(tmp_path):
    cli, count = conflicting_snap(tmp_path, 9, rc=1, text='snap "microk8s" not found')
    with pytest.raises(m.Microk8sError) as info:
        cli.snap_change(['install', 'microk8s'], retries=5, delay=0, sleep=lambda seconds: None)
    assert count.read_text().strip() == '1' and 'conflicting' not in info.value.msg
