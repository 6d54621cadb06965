# -*- coding: utf-8 -*-
"""Verify of molecule/site: what one run of playbooks/site.yml left on the three node containers
(snapd/microk8s TEST DOUBLES) and in the real API server, and what the rerun and check-mode run reported.

Tests that take the testinfra ``host`` fixture run on every node; the others query the API server once,
through the kubeconfig the playbook fetched from the control plane, with the harness's kubectl and helm.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra
import yaml

MASTER = 'sitemaster'
WORKERS = ['siteworker1', 'siteworker2']
PATHOLOGIES = {'siteworker1': ['neuro', 'tbi'], 'siteworker2': ['neuro']}
EXAFLOW_NS = 'site-exaflow'
MIP_NS = 'site-mip'
DATA = '/data/site/csvs'
D = '/var/snap/microk8s/current'
FIXTURES = Path(os.environ['MOLECULE_PROJECT_DIRECTORY']) / 'tests/fixtures/datasets/good'
ENGINE_UID = 10001
MIP_SECRETS = {
    'mip-secret': {'platform-backend-db.DB_ADMIN_USER', 'platform-backend-db.DB_ADMIN_PASSWORD',
                   'platform-backend-db.PLATFORM_DB_USER', 'platform-backend-db.PLATFORM_DB_PASSWORD'},
    'keycloak-credentials': {'client-id', 'client-secret'},
    'jupyterhub-crypt': {'crypt-key'},
}


def tool(name, *args):
    done = subprocess.run([os.environ['SCIPLAT_' + name.upper()], '--kubeconfig', os.environ['SCIPLAT_SITE_KUBECONFIG'],
                           *args], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, '%s %s: %s' % (name, ' '.join(args), done.stderr)
    return done.stdout


def get(*args):
    return json.loads(tool('kubectl', 'get', *args, '-o', 'json'))


def runs():
    with open(os.environ['SCIPLAT_CHANGED_TASKS_LOG']) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def name_of(host):
    return host.backend.get_hostname()


@pytest.fixture
def node(host):
    """The same container through podman exec: a command costs milliseconds instead of an ansible run."""
    return testinfra.get_host('podman://' + name_of(host))


# ------------------------------------------------------------------ on each node

def test_microk8s_tracks_the_pinned_channel(node):
    fields = node.check_output('snap list microk8s').splitlines()[1].split()
    assert fields[3] == '1.32/stable'
    assert 'held' in fields[5].split(',')


def test_workers_joined_and_the_master_is_the_only_voter(host, node):
    worker_lock = node.file(D + '/var/lock/clustered.lock')
    if name_of(host) in WORKERS:
        assert worker_lock.exists
        assert 'acting as a node in a cluster' in node.check_output('/snap/bin/microk8s status')
    else:
        assert not worker_lock.exists
        status = yaml.safe_load(node.check_output('/snap/bin/microk8s status --format yaml --wait-ready --timeout 60'))
        address = node.check_output("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")
        assert status['high-availability']['nodes'] == [{'address': address + ':19001', 'role': 'voter'}]
        enabled = {addon['name'] for addon in status['addons'] if addon['status'] == 'enabled'}
        assert {'dns', 'helm3', 'ingress', 'hostpath-storage'} <= enabled


def test_data_folders_hold_the_fixtures_readable_by_the_engine_only(host, node):
    name = name_of(host)
    if name not in WORKERS:
        assert not node.file('/data/site').exists
        return
    assert sorted(node.check_output('ls %s', DATA).split()) == PATHOLOGIES[name]
    for path in [DATA] + ['%s/%s' % (DATA, p) for p in PATHOLOGIES[name]]:
        folder = node.file(path)
        assert (folder.user, folder.gid, folder.mode) == ('root', ENGINE_UID, 0o750), path
    for pathology in PATHOLOGIES[name]:
        sources = sorted(p for p in (FIXTURES / pathology).iterdir() if p.is_file())
        assert sorted(node.check_output('ls %s/%s', DATA, pathology).split()) == [p.name for p in sources]
        for source in sources:
            target = node.file('%s/%s/%s' % (DATA, pathology, source.name))
            assert target.sha256sum == hashlib.sha256(source.read_bytes()).hexdigest(), target.path
            assert (target.user, target.gid, target.mode) == ('root', ENGINE_UID, 0o640), target.path
            # Read with the engine's identity and no other group, as the localworker container does.
            engine = node.run('setpriv --reuid=%s --regid=%s --clear-groups cat %s', str(ENGINE_UID), str(ENGINE_UID), target.path)
            assert engine.rc == 0 and hashlib.sha256(engine.stdout.encode()).hexdigest() == target.sha256sum
        nobody = node.run('setpriv --reuid=65534 --regid=65534 --clear-groups ls %s/%s', DATA, pathology)
        assert nobody.rc != 0 and 'Permission denied' in nobody.stderr


# ------------------------------------------------------------------ in the API server

def test_nodes_joined_ready_and_labelled():
    nodes = {item['metadata']['name']: item for item in get('nodes')['items']}
    for name in [MASTER] + WORKERS:
        assert name in nodes, name
        ready = [c['status'] for c in nodes[name]['status']['conditions'] if c['type'] == 'Ready']
        assert ready == ['True'], name
    roles = {name: {k: v for k, v in nodes[name]['metadata']['labels'].items() if k in ('master', 'worker', 'smpc_player')}
             for name in [MASTER] + WORKERS}
    assert roles == {MASTER: {'master': 'true'}, WORKERS[0]: {'worker': 'true'}, WORKERS[1]: {'worker': 'true'}}
    for name in WORKERS:
        assert nodes[name]['metadata']['labels']['node.kubernetes.io/microk8s-worker'] == 'microk8s-worker'


@pytest.mark.parametrize('release, namespace', [('exaflow', EXAFLOW_NS), ('mip', MIP_NS)])
def test_releases_deployed_once(release, namespace):
    status = json.loads(tool('helm', 'status', release, '-n', namespace, '-o', 'json'))
    assert status['info']['status'] == 'deployed'
    # The rerun and the check-mode run did not upgrade it.
    assert status['version'] == 1


def test_exaflow_runs_one_localworker_per_worker_and_the_controller_on_the_master():
    pods = get('pods', '-n', EXAFLOW_NS)['items']
    assert pods and all(pod['status']['phase'] == 'Running' for pod in pods)
    localworkers = sorted(p['spec']['nodeName'] for p in pods if p['metadata']['labels'].get('nodeType') == 'localworker')
    assert localworkers == WORKERS
    controller = [p for p in pods if p['metadata']['name'].startswith('exaflow-controller-deployment-')]
    assert [p['spec']['nodeName'] for p in controller] == [MASTER]
    values = json.loads(tool('helm', 'get', 'values', 'exaflow', '-n', EXAFLOW_NS, '-o', 'json'))
    assert values['localnodes'] == 2 and values['federation'] == 'site' and values['managed_cluster'] is False
    assert values['storage']['hostPath']['db']['localworker'] == '/data/site'


def test_mip_secrets_generated_and_platform_exposed():
    for name, keys in MIP_SECRETS.items():
        secret = get('secret', name, '-n', MIP_NS)
        assert set(secret['data']) == keys, name
        assert all(base64.b64decode(value) for value in secret['data'].values()), name
    ingress = get('ingress', 'platform-ui-ingress', '-n', MIP_NS)
    assert ingress['spec']['ingressClassName'] == 'public'
    assert ingress['spec']['rules'][0]['host'] == 'mip.site.example.org'
    backend = get('deployment', 'platform-backend', '-n', MIP_NS)
    assert backend['status'].get('readyReplicas') == 1


def test_rerun_and_check_mode_reported_no_change():
    recorded = runs()
    real = [run for run in recorded if not run['check']]
    checks = [run for run in recorded if run['check']]
    assert len(real) == 2 and len(checks) == 1, recorded
    assert real[0]['changed'], 'the first converge changed nothing'
    assert real[1]['changed'] == []
    assert checks[0]['changed'] == []
