# -*- coding: utf-8 -*-
"""Verify of molecule/microk8s_change: the channel and addon changes were made, and they were the
only changes (snapd/microk8s TEST DOUBLES on a real API server)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

MICROK8S = '/snap/bin/microk8s'


def real_runs():
    with open(os.environ['SCIPLAT_CHANGED_TASKS_LOG']) as handle:
        runs = [json.loads(line) for line in handle if line.strip()]
    return [run for run in runs if not run['check']]


def actions_of(run, task):
    return [entry.get('actions') for entry in run['changed'] if entry['task'].endswith(task)][0]


def test_only_the_snap_and_addon_tasks_changed():
    converge, idempotence = real_runs()
    assert {entry['task'].split(' : ', 1)[-1] for entry in converge['changed']} == {
        'Install microk8s on the declared channel and hold refreshes', 'Reconcile microk8s addons'}
    assert idempotence['changed'] == []


def test_the_channel_moved_with_one_refresh_and_stays_held(host):
    converge = real_runs()[0]
    snap_actions = actions_of(converge, 'Install microk8s on the declared channel and hold refreshes')
    assert [a['argv'] for a in snap_actions] == [['refresh', 'microk8s', '--channel=1.32/stable']]
    fields = host.check_output('snap list microk8s').splitlines()[1].split()
    assert fields[3] == '1.32/stable'
    assert fields[5].split(',') == ['classic', 'held']
    assert host.check_output('%s version', MICROK8S).startswith('MicroK8s v1.32.')


def test_addons_changed_as_declared(host):
    converge = real_runs()[0]
    assert [(a['action'], a['name'], a['args']) for a in actions_of(converge, 'Reconcile microk8s addons')] == [
        ('disable', 'metallb', []),
        ('disable', 'ingress', []),
        ('enable', 'metallb', ['10.89.77.220-10.89.77.230']),
        ('enable', 'registry', []),
    ]
    status = yaml.safe_load(host.check_output('%s status --format yaml --wait-ready --timeout 120', MICROK8S))
    by_name = {addon['name']: addon['status'] for addon in status['addons']}
    assert by_name['ingress'] == 'disabled'
    assert by_name['registry'] == 'enabled'
    assert by_name['metallb'] == 'enabled'
    assert by_name['hostpath-storage'] == 'enabled'
    # dns was declared before and not now: left alone, not disabled.
    assert by_name['dns'] == 'enabled'
    record = json.loads(host.file('/var/snap/microk8s/common/sciplat-addons.json').content_string)['addons']
    assert record == {'core/hostpath-storage': [], 'core/metallb': ['10.89.77.220-10.89.77.230'],
                      'core/registry': []}
