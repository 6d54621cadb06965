# -*- coding: utf-8 -*-
"""Verify of molecule/microk8s: real state on the node after converge (snapd/microk8s TEST DOUBLES
on a real API server), and check mode against the real run."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

MICROK8S = '/snap/bin/microk8s'
# Tasks a check run on a fresh node cannot predict: the kubeconfig comes from `microk8s config`
# of the microk8s that check mode did not install.
UNPREDICTABLE = {"Create the admin user's .kube directory", "Write the admin user's kubeconfig"}


def runs():
    with open(os.environ['SCIPLAT_CHANGED_TASKS_LOG']) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def task_names(run):
    """Changed task names without the 'sciplat.k8s.microk8s : ' role prefix."""
    return {entry['task'].split(' : ', 1)[-1] for entry in run['changed']}


def addon_actions(run):
    return [entry['actions'] for entry in run['changed'] if entry['task'].endswith('Reconcile microk8s addons')]


def status(host):
    return yaml.safe_load(host.check_output('%s status --format yaml --wait-ready --timeout 120', MICROK8S))


def test_snap_tracks_the_channel_and_is_held(host):
    listing = host.check_output('snap list microk8s').splitlines()
    fields = listing[1].split()
    assert fields[0] == 'microk8s'
    assert fields[3] == '1.32/stable'
    assert fields[5].split(',') == ['classic', 'held']
    assert 'hold:         forever' in host.check_output('snap info microk8s')


def test_microk8s_runs_with_the_declared_addons(host):
    current = status(host)
    assert current['microk8s']['running'] is True
    enabled = {addon['name'] for addon in current['addons'] if addon['status'] == 'enabled'}
    assert {'dns', 'helm3', 'ingress', 'hostpath-storage', 'metallb'} <= enabled
    assert 'dashboard' not in enabled
    assert host.check_output('%s status -a ingress', MICROK8S) == 'enabled'


def test_addon_arguments_are_recorded(host):
    record = host.file('/var/snap/microk8s/common/sciplat-addons.json')
    assert record.mode == 0o600 and record.user == 'root'
    addons = json.loads(record.content_string)['addons']
    assert addons['core/metallb'] == ['10.89.77.200-10.89.77.210']
    assert addons['core/hostpath-storage'] == []


def test_admin_user_in_group_microk8s(host):
    user = host.user('mipadmin')
    assert user.exists
    assert {'microk8s', 'sudo'} <= set(user.groups)
    assert user.shell == '/bin/bash'


def test_kubeconfig_belongs_to_the_admin_and_matches_microk8s_config(host):
    config = host.file('/home/mipadmin/.kube/config')
    assert config.user == 'mipadmin' and config.mode == 0o600
    assert host.file('/home/mipadmin/.kube').mode == 0o750
    assert config.content_string.rstrip('\n') == host.check_output('%s config', MICROK8S)
    parsed = yaml.safe_load(config.content_string)
    assert parsed['current-context'] == 'microk8s'
    assert parsed['clusters'][0]['name'] == 'microk8s-cluster'


def test_group_microk8s_grants_the_admin_the_client_credentials(host):
    # microk8s lets a user in only when it can read this file (group microk8s, mode 0660).
    credentials = '/var/snap/microk8s/current/credentials/client.config'
    assert host.run('sudo -u mipadmin test -r %s', credentials).rc == 0
    assert host.run('sudo -u nobody test -r %s', credentials).rc == 1
    out = host.run('sudo -u mipadmin %s status --format yaml', MICROK8S)
    assert out.rc == 0 and 'Insufficient permissions' not in out.stdout, out.stdout


def test_launch_configuration_was_written_and_applied_at_install(host):
    launch = host.file('/var/snap/microk8s/common/.microk8s.yaml')
    assert launch.mode == 0o600
    assert yaml.safe_load(launch.content_string) == {'version': '0.2.0', 'extraKubeletArgs': {'--max-pods': '150'}}
    assert '--max-pods=150' in host.file('/var/snap/microk8s/current/args/kubelet').content_string.splitlines()


def test_check_mode_predicted_the_real_run():
    recorded = runs()
    check = [run for run in recorded if run['check']]
    real = [run for run in recorded if not run['check']]
    assert len(check) == 1 and len(real) == 2, recorded
    predicted = task_names(check[0])
    done = task_names(real[0])
    assert predicted == done - UNPREDICTABLE, (predicted, done)
    assert UNPREDICTABLE <= done
    assert {'Install microk8s on the declared channel and hold refreshes', 'Reconcile microk8s addons',
            'Add the admin user to group microk8s'} <= predicted
    assert addon_actions(check[0]) == addon_actions(real[0])
    # The scenario's launch configuration replaces the bundled one, the only one that enables dns
    # at install (microk8s snap/hooks/install:77-87), so the role enables the declared dns itself.
    assert [(a['action'], a['name']) for a in addon_actions(real[0])[0]] == [
        ('enable', 'dns'), ('enable', 'ingress'), ('enable', 'hostpath-storage'), ('enable', 'metallb')]
    assert real[1]['changed'] == []
