# -*- coding: utf-8 -*-
"""microk8s_info, microk8s_addons and microk8s_snap run end to end against command-line fakes.

TEST DOUBLES: the `microk8s` and `snap` executables written by the fixtures below are fakes
that keep their state in a JSON file and print the documented output forms (status --format
yaml, the worker and stopped messages, version, snap list/version). They let the unit tests run
the real modules as processes would; the node-container stand-ins (tests/nodes/standin) serve
the molecule scenarios.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciplat.k8s.plugins.modules import microk8s_addons, microk8s_info, microk8s_snap

FAKE_MICROK8S = r'''#!{python}
# TEST DOUBLE of microk8s for unit tests: state in $FAKE_STATE (JSON), calls logged.
import json, os, sys
path = os.environ['FAKE_STATE']
state = json.load(open(path))
args = sys.argv[1:]
state.setdefault('calls', []).append(args)
def save():
    json.dump(state, open(path, 'w'))
save()
if state.get('worker'):
    print('This MicroK8s deployment is acting as a node in a cluster.')
    print('Please use the control plane node.')
    sys.exit(0)
if args[0] == 'version':
    if state['version'].startswith('1.24.'):
        print("'version' is not a valid MicroK8s subcommand.")
        sys.exit(1)
    print('MicroK8s v%s revision 7964' % state['version'])
    sys.exit(0)
if state.get('stopped'):
    print('microk8s is not running, try microk8s start')
    sys.exit(1 if args[0] in ('enable', 'disable') else 0)
if args[0] == 'status':
    print('microk8s:')
    print('  running: True')
    print('high-availability:')
    print('  enabled: True')
    print('  nodes:')
    for address, role in state['nodes']:
        print('    - address: %s' % address)
        print('      role: %s' % role)
    print('addons:')
    addons = sorted(state['addons'].items(), key=lambda kv: (kv[1] != 'enabled', kv[0]))
    for name, status in addons:
        print('  - name: %s' % name)
        print('    repository: core')
        print('    description: %s addon' % name)
        print('    version: 1.0.0')
        print('    status: %s' % status)
    sys.exit(0)
if args[0] in ('enable', 'disable'):
    name = args[1]
    if name not in state['addons']:
        sys.stderr.write('Addon %s was not found in any repository\n' % name)
        sys.exit(1)
    wanted = args[0] + 'd'
    if state['addons'][name] == wanted:
        print('Addon core/%s is already %s' % (name, wanted))
        sys.exit(0)
    state['addons'][name] = wanted
    save()
    sys.exit(0)
sys.exit(2)
'''

FAKE_SNAP = r'''#!{python}
# TEST DOUBLE of snap for unit tests: state in $FAKE_STATE (JSON), calls logged.
import json, os, sys
path = os.environ['FAKE_STATE']
state = json.load(open(path))
args = sys.argv[1:]
state.setdefault('snap_calls', []).append(args)
json.dump(state, open(path, 'w'))
snap = state.get('snap')
if args[0] in ('install', 'refresh') and state.get('conflicts'):
    state['conflicts'] -= 1
    json.dump(state, open(path, 'w'))
    sys.stderr.write('error: snap "microk8s" has "auto-refresh" change in progress\n')
    sys.exit(10)
if args[0] == 'version':
    print('snap    %s\nsnapd   %s\nseries  16' % (state['snapd'], state['snapd']))
elif args[:2] == ['list', 'microk8s']:
    if not snap:
        sys.stderr.write('error: no matching snaps installed\n')
        sys.exit(1)
    notes = 'classic,held' if snap['held'] else 'classic'
    print('Name      Version  Rev   Tracking     Publisher   Notes')
    print('microk8s  v%s  7964  %s  canonical**  %s' % (state['version'], snap['tracking'], notes))
elif args[:2] == ['info', 'microk8s']:
    print('name:      microk8s')
elif args[0] == 'install':
    state['snap'] = dict(tracking=args[3].split('=', 1)[1], held=False)
elif args[:2] == ['refresh', '--hold']:
    snap['held'] = True
elif args[:2] == ['refresh', '--unhold']:
    snap['held'] = False
elif args[0] == 'refresh':
    snap['tracking'] = args[2].split('=', 1)[1]
json.dump(state, open(path, 'w'))
'''

FRESH_132 = dict(
    version='1.32.3',
    nodes=[['10.89.77.11:19001', 'voter']],
    addons={'dns': 'enabled', 'ha-cluster': 'enabled', 'helm': 'enabled', 'helm3': 'enabled',
            'hostpath-storage': 'disabled', 'ingress': 'disabled', 'metallb': 'disabled',
            'nvidia': 'disabled', 'dashboard': 'disabled', 'registry': 'disabled'},
    snapd='2.63',
    snap=dict(tracking='1.32/stable', held=True),
)


class Node(object):
    """A fake node: bin directory on PATH and the fakes' state file."""

    def __init__(self, tmp_path, monkeypatch):
        self.bin = tmp_path / 'bin'
        self.bin.mkdir()
        self.state_path = tmp_path / 'fake-state.json'
        self.record = str(tmp_path / 'common' / 'sciplat-addons.json')
        for name, text in (('microk8s', FAKE_MICROK8S), ('snap', FAKE_SNAP)):
            path = self.bin / name
            path.write_text(text.replace('{python}', sys.executable))
            path.chmod(0o755)
        monkeypatch.setenv('FAKE_STATE', str(self.state_path))
        monkeypatch.setenv('PATH', '%s:%s' % (self.bin, os.environ['PATH']))

    def set(self, **state):
        self.state_path.write_text(json.dumps(state))

    @property
    def state(self):
        return json.loads(self.state_path.read_text())

    def changing_calls(self):
        return [call for call in self.state.get('calls', []) if call[0] in ('enable', 'disable')]


@pytest.fixture
def node(tmp_path, monkeypatch):
    return Node(tmp_path, monkeypatch)


def run(capsys, module, check=False, diff=False, **args):
    if check:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    return info.value.code, json.loads(capsys.readouterr().out)


# --------------------------------------------------------------------------------------------
# microk8s_info
# --------------------------------------------------------------------------------------------

def test_info_on_a_fresh_node(node, capsys):
    node.set(**FRESH_132)
    code, result = run(capsys, microk8s_info)
    assert code == 0
    assert result['changed'] is False
    assert result['state'] == 'running' and result['running'] is True
    assert result['version'] == '1.32.3' and result['revision'] == '7964'
    assert result['channel'] == '1.32/stable' and result['held'] is True and result['snapd_version'] == '2.63'
    assert result['clustered'] is False and result['is_worker'] is False
    assert result['high_availability']['enabled'] is False
    assert result['high_availability']['voters'] == ['10.89.77.11:19001']
    assert result['addons']['enabled'] == ['dns', 'ha-cluster', 'helm', 'helm3']
    assert 'ingress' in result['addons']['disabled']


def test_info_on_a_worker_and_on_a_stopped_node(node, capsys):
    node.set(worker=True, **FRESH_132)
    code, result = run(capsys, microk8s_info)
    assert code == 0
    assert (result['state'], result['is_worker'], result['clustered']) == ('worker', True, True)
    assert result['addons'] == dict(enabled=[], disabled=[])
    node.set(stopped=True, **FRESH_132)
    code, result = run(capsys, microk8s_info)
    assert (result['state'], result['running'], result['clustered']) == ('stopped', False, False)


def test_info_in_a_three_voter_cluster(node, capsys):
    state = dict(FRESH_132, nodes=[['10.0.0.%d:19001' % i, 'voter'] for i in (1, 2, 3)] + [['10.0.0.4:19001', 'spare']])
    node.set(**state)
    code, result = run(capsys, microk8s_info)
    assert result['clustered'] is True
    assert result['high_availability']['enabled'] is True
    assert result['high_availability']['spares'] == ['10.0.0.4:19001']


# --------------------------------------------------------------------------------------------
# microk8s_addons
# --------------------------------------------------------------------------------------------

DECLARED = [dict(name='dns'), dict(name='storage'), dict(name='ingress'),
            dict(name='metallb', args='10.64.140.43-10.64.140.49'), dict(name='dashboard', state='disabled')]


def test_addons_check_mode_predicts_and_changes_nothing(node, capsys):
    node.set(**FRESH_132)
    code, result = run(capsys, microk8s_addons, check=True, diff=True, addons=DECLARED, state_file=node.record)
    assert code == 0 and result['changed'] is True
    assert [(a['action'], a['name'], a['args']) for a in result['actions']] == [
        ('enable', 'hostpath-storage', []), ('enable', 'ingress', []),
        ('enable', 'metallb', ['10.64.140.43-10.64.140.49'])]
    assert result['diff']['before']['metallb'] == dict(status='disabled', args=None)
    assert result['diff']['after']['metallb'] == dict(status='enabled', args=['10.64.140.43-10.64.140.49'])
    assert node.changing_calls() == []
    assert not os.path.exists(node.record)


def test_addons_converge_then_rerun_changes_nothing(node, capsys):
    node.set(**FRESH_132)
    code, result = run(capsys, microk8s_addons, addons=DECLARED, state_file=node.record)
    assert code == 0 and result['changed'] is True
    assert node.changing_calls() == [['enable', 'hostpath-storage'], ['enable', 'ingress'],
                                     ['enable', 'metallb', '10.64.140.43-10.64.140.49']]
    assert set(result['addons']['enabled']) >= {'hostpath-storage', 'ingress', 'metallb', 'dns'}
    with open(node.record) as handle:
        assert json.load(handle)['addons'] == {'core/hostpath-storage': [], 'core/ingress': [],
                                               'core/metallb': ['10.64.140.43-10.64.140.49']}
    assert stat.S_IMODE(os.stat(node.record).st_mode) == 0o600

    code, result = run(capsys, microk8s_addons, addons=DECLARED, state_file=node.record)
    assert code == 0 and result['changed'] is False and result['actions'] == []
    assert len(node.changing_calls()) == 3


def test_addons_changed_args_disable_then_enable(node, capsys):
    node.set(**FRESH_132)
    run(capsys, microk8s_addons, addons=DECLARED, state_file=node.record)
    moved = [dict(name='metallb', args=['10.64.140.50-10.64.140.60'])]
    code, result = run(capsys, microk8s_addons, addons=moved, state_file=node.record)
    assert code == 0 and result['changed'] is True
    assert node.changing_calls()[-2:] == [['disable', 'metallb'], ['enable', 'metallb', '10.64.140.50-10.64.140.60']]
    code, result = run(capsys, microk8s_addons, addons=moved, state_file=node.record)
    assert result['changed'] is False


def test_addons_validation_fails_before_any_change(node, capsys):
    node.set(**FRESH_132)
    bad = [dict(name='ingress'), dict(name='ingres'), dict(name='hostpath-storage', args=['--size', '1Gi']),
           dict(name='metallb'), dict(name='dns', state='disabled'), dict(name='core/dns')]
    code, result = run(capsys, microk8s_addons, addons=bad, state_file=node.record)
    assert code == 1
    assert result['errors'][0].startswith("addons[1]: unknown addon 'ingres' for microk8s 1.32; allowed: ")
    assert result['errors'][1] == ("addons[2]: addon 'hostpath-storage' takes no arguments; remove args "
                                   "(got ['--size', '1Gi'])")
    assert 'needs args' in result['errors'][2]
    assert 'both enabled and disabled' in result['errors'][3]
    assert len(result['errors']) == 4
    assert node.changing_calls() == []


def test_addons_refuse_a_worker_and_a_stopped_node(node, capsys):
    node.set(worker=True, **FRESH_132)
    code, result = run(capsys, microk8s_addons, addons=[dict(name='ingress')], state_file=node.record)
    assert code == 1 and 'worker-only member' in result['msg']
    node.set(stopped=True, **FRESH_132)
    code, result = run(capsys, microk8s_addons, addons=[dict(name='ingress')], state_file=node.record)
    assert code == 1 and 'stopped' in result['msg']
    assert node.changing_calls() == []


def test_addons_check_mode_on_a_node_without_microk8s(node, capsys):
    node.set(**FRESH_132)
    (node.bin / 'microk8s').unlink()
    code, result = run(capsys, microk8s_addons, check=True, addons=[dict(name='dns'), dict(name='ingress')],
                       assume_version='1.32', state_file=node.record)
    assert code == 0 and result['changed'] is True
    assert [(a['action'], a['name']) for a in result['actions']] == [('enable', 'ingress')]
    code, result = run(capsys, microk8s_addons, addons=[dict(name='dns')], state_file=node.record)
    assert code == 1 and 'not installed' in result['msg']


def test_addon_command_failure_keeps_a_true_record(node, capsys):
    state = dict(FRESH_132)
    state['addons'] = dict(FRESH_132['addons'])
    node.set(**state)
    # The fake refuses addons it does not know: ingress is gone between status and enable.
    declared = [dict(name='hostpath-storage'), dict(name='ingress')]
    original = microk8s_addons.Microk8sCli.enable

    def enable_then_forget_ingress(self, name, args=None, timeout=None):
        result = original(self, name, args, timeout)
        current = node.state
        current['addons'].pop('ingress')
        node.set(**current)
        return result

    microk8s_addons.Microk8sCli.enable = enable_then_forget_ingress
    try:
        code, result = run(capsys, microk8s_addons, addons=declared, state_file=node.record)
    finally:
        microk8s_addons.Microk8sCli.enable = original
    assert code == 1
    assert 'Addon ingress was not found in any repository' in result['msg']
    assert [a['name'] for a in result['actions_done']] == ['hostpath-storage']
    with open(node.record) as handle:
        assert json.load(handle)['addons'] == {'core/hostpath-storage': []}


# --------------------------------------------------------------------------------------------
# microk8s_snap
# --------------------------------------------------------------------------------------------

def test_snap_install_hold_then_idempotent(node, capsys):
    node.set(**dict(FRESH_132, snap=None))
    code, result = run(capsys, microk8s_snap, check=True, diff=True, channel='1.32/stable', hold=True)
    assert code == 0 and result['changed'] is True
    assert [a['action'] for a in result['actions']] == ['install', 'hold']
    assert result['diff'] == dict(before=dict(installed=False, channel=None, held=None),
                                  after=dict(installed=True, channel='1.32/stable', held=True))
    assert node.state['snap'] is None

    code, result = run(capsys, microk8s_snap, channel='1.32/stable', hold=True)
    assert code == 0 and result['changed'] is True
    assert node.state['snap'] == dict(tracking='1.32/stable', held=True)
    assert (result['channel'], result['held']) == ('1.32/stable', True)

    code, result = run(capsys, microk8s_snap, channel='1.32/stable', hold=True)
    assert result['changed'] is False and result['actions'] == []


def test_snap_channel_change_refreshes(node, capsys):
    node.set(**FRESH_132)
    code, result = run(capsys, microk8s_snap, channel='1.33/stable', hold=True)
    assert code == 0 and result['changed'] is True
    assert result['previous_channel'] == '1.32/stable' and result['channel'] == '1.33/stable'
    changing = [call for call in node.state['snap_calls'] if call[0] in ('install', 'refresh')]
    assert changing == [['refresh', 'microk8s', '--channel=1.33/stable']]


def test_snap_bad_channel_and_old_snapd_fail_before_any_change(node, capsys):
    node.set(**dict(FRESH_132, snap=dict(tracking='1.32/stable', held=False), snapd='2.57.6'))
    code, result = run(capsys, microk8s_snap, channel='1.33', hold=True)
    assert code == 1 and result['msg'].startswith("channel: channel '1.33' is not '<major>.<minor>/<risk>'")
    code, result = run(capsys, microk8s_snap, channel='1.33/stable', hold=True)
    assert code == 1 and 'snapd >= 2.58' in result['msg'] and '2.57.6' in result['msg']
    assert not [call for call in node.state['snap_calls'] if call[0] in ('install', 'refresh')]


def test_snap_waits_for_seeding_and_repeats_conflicting_changes(node, capsys):
    node.set(**dict(FRESH_132, snap=None, conflicts=2))
    code, result = run(capsys, microk8s_snap, channel='1.32/stable', hold=True, retry_delay=0)
    assert code == 0 and result['changed'] is True, result
    calls = node.state['snap_calls']
    changing = [call for call in calls if call[0] in ('wait', 'install', 'refresh')]
    assert changing[0] == ['wait', 'system', 'seed.loaded']
    assert [call[0] for call in changing[1:]] == ['install'] * 3 + ['refresh']


def test_snap_fails_naming_the_conflict_once_retries_are_spent(node, capsys):
    node.set(**dict(FRESH_132, snap=None, conflicts=5))
    code, result = run(capsys, microk8s_snap, channel='1.32/stable', hold=True, retries=1, retry_delay=0)
    assert code == 1 and result['rc'] == 10 and result['actions_done'] == []
    assert 'has "auto-refresh" change in progress' in result['msg'] and 'retries' in result['msg']
    assert len([call for call in node.state['snap_calls'] if call[0] == 'install']) == 2


def test_addons_on_124_read_the_version_from_the_snap(node, capsys):
    addons = dict(FRESH_132['addons'], gpu='disabled', storage='disabled')
    del addons['nvidia']
    node.set(**dict(FRESH_132, version='1.24.17', addons=addons))
    code, result = run(capsys, microk8s_addons, addons=[dict(name='nvidia', args=['--gpu-operator-driver', 'host'])],
                       state_file=node.record)
    assert code == 0, result
    assert result['version'] == '1.24.17'
    assert node.changing_calls() == [['enable', 'gpu', '--driver', 'host']]


def test_addons_disable_hostpath_storage_with_destroy_storage(node, capsys):
    node.set(**dict(FRESH_132, addons=dict(FRESH_132['addons'], **{'hostpath-storage': 'enabled'})))
    code, result = run(capsys, microk8s_addons, addons=[dict(name='hostpath-storage', state='disabled')],
                       state_file=node.record)
    assert code == 1 and "args: ['destroy-storage'] to confirm" in result['msg']
    assert node.changing_calls() == []
    code, result = run(capsys, microk8s_addons, state_file=node.record,
                       addons=[dict(name='hostpath-storage', state='disabled', args=['destroy-storage'])])
    assert code == 0 and result['changed'] is True
    assert node.changing_calls() == [['disable', 'hostpath-storage', 'destroy-storage']]
