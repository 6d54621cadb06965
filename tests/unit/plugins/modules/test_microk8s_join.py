# -*- coding: utf-8 -*-
"""Entry points of microk8s_join_token, microk8s_join and microk8s_leave without a node.

``ScriptedCli`` is a TEST STAND-IN for the microk8s command line: it answers the few calls of
the module with outputs documented upstream, so that what the modules return (secrets hidden,
checks before changes, the retry decision) can be checked here. The same flows run against the
node containers' microk8s stand-in in tests/integration/test_cluster_formation.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.sciplat.k8s.plugins.module_utils import microk8s_cluster as mc
from ansible_collections.sciplat.k8s.plugins.modules import microk8s_join, microk8s_join_token, microk8s_leave

FP = '4f3c6b2a19de'
LONE = 'microk8s:\n  running: true\nhigh-availability:\n  enabled: true\n  nodes:\n' \
       '  - address: 127.0.0.1:19001\n    role: voter\naddons: []\n'


class ScriptedCli(object):
    """TEST STAND-IN for Microk8sCli: answers from a script, records the commands."""

    def __init__(self, status=LONE, worker=False, installed=True, answers=None):
        self.status_text = status
        self.worker = worker
        self.is_installed = installed
        self.answers = list(answers or [])
        self.calls = []

    def __call__(self, module, *args, **kwargs):
        return self

    def installed(self):
        return self.is_installed

    def is_worker_locked(self):
        return self.worker

    def status(self, wait_ready_timeout=None):
        from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import parse_status
        return parse_status(self.status_text)

    def run(self, args, timeout=None, check=False, data=None):
        self.calls.append(list(args))
        answer = self.answers.pop(0)
        return answer(args) if callable(answer) else answer


def run(module, capsys, monkeypatch, cli, check_mode=False, **args):
    monkeypatch.setattr(mc, 'Microk8sCli', cli)
    if check_mode:
        args['_ansible_check_mode'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    return info.value.code, json.loads(capsys.readouterr().out)


def add_node_answer(args):
    token = args[args.index('--token') + 1]
    return 0, json.dumps({'token': '%s/%s' % (token, FP), 'urls': ['10.89.77.10:25000/%s/%s' % (token, FP)]}), ''


def test_token_result_keeps_the_urls(capsys, monkeypatch):
    cli = ScriptedCli(answers=[add_node_answer])
    code, result = run(microk8s_join_token, capsys, monkeypatch, cli, ttl=120)
    assert code == 0 and result['changed']
    token = cli.calls[0][cli.calls[0].index('--token') + 1]
    assert cli.calls[0][-4:] == ['--token-ttl', '120', '--format', 'json']
    # the registered value keeps the token; plugins/action/microk8s_join_token.py hides the result
    assert result['join_urls'] == ['10.89.77.10:25000/%s/%s' % (token, FP)]
    assert result['single_use'] is False and result['expires_at'] > 0


def test_token_failure_masks_the_token(capsys, monkeypatch):
    cli = ScriptedCli(answers=[lambda args: (1, 'cannot store %s' % args[2], '')])
    code, result = run(microk8s_join_token, capsys, monkeypatch, cli)
    assert code == 1
    assert cli.calls[0][2] not in json.dumps(result)
    assert 'add-node failed' in result['msg']


def test_token_refused_on_a_worker_and_predicted_in_check_mode(capsys, monkeypatch):
    code, result = run(microk8s_join_token, capsys, monkeypatch, ScriptedCli(worker=True))
    assert code == 1 and 'worker' in result['msg']
    cli = ScriptedCli()
    code, result = run(microk8s_join_token, capsys, monkeypatch, cli, check_mode=True)
    assert code == 0 and result['changed'] and result['join_urls'] == [] and cli.calls == []


def test_join_check_mode_predicts_without_url_or_command(capsys, monkeypatch):
    cli = ScriptedCli()
    code, result = run(microk8s_join, capsys, monkeypatch, cli, check_mode=True, role='worker')
    assert code == 0 and result['changed'] and result['membership'] == mc.NEEDS_JOIN
    assert cli.calls == []
    code, result = run(microk8s_join, capsys, monkeypatch, ScriptedCli(installed=False), check_mode=True,
                       role='control_plane')
    assert code == 0 and result['changed'] and result['membership'] == mc.NOT_INSTALLED


def test_member_worker_is_unchanged(capsys, monkeypatch):
    cli = ScriptedCli(worker=True)
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', join_urls=[])
    assert code == 0 and not result['changed'] and cli.calls == []


def test_spent_token_asks_for_a_fresh_one(capsys, monkeypatch):
    token = 'T' * 40
    cli = ScriptedCli(answers=[(6, 'Contacting cluster at 10.89.77.10\nConnection failed. Invalid token (500).', '')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker',
                       join_urls=['10.89.77.10:25000/%s/%s' % (token, FP)])
    assert code == 1
    assert result['reason'] == 'token_invalid' and result['retry_token'] is True
    assert result['attempts'] == [dict(address='10.89.77.10', reason='token_invalid', rc=6)]
    assert token not in json.dumps(result)


def test_unreachable_address_moves_to_the_next_url(capsys, monkeypatch):
    token = 'T' * 40
    urls = ['192.168.9.9:25000/%s/%s' % (token, FP), '10.89.77.10:25000/%s/%s' % (token, FP)]
    cli = ScriptedCli(answers=[(5, 'Connecting to cluster failed with timed out.', ''),
                               (6, 'Connection failed. Not possible to join. (501).', '')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='control_plane', join_urls=urls)
    assert code == 1 and result['reason'] == 'not_ha_capable' and result['retry_token'] is False
    assert [call[1].split(':')[0] for call in cli.calls] == ['192.168.9.9', '10.89.77.10']


def test_join_that_hangs_is_reported_as_a_timeout(capsys, monkeypatch):
    from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import Microk8sError

    def hang(args):
        raise Microk8sError('microk8s join did not finish within 5 seconds', rc=124, stdout='Contacting cluster\n')

    cli = ScriptedCli(answers=[hang])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', timeout=5,
                       join_urls=['10.89.77.10:25000/%s/%s' % ('T' * 40, FP)])
    assert code == 1 and result['reason'] == 'timeout' and result['retry_token'] is False
    assert 'within 5 seconds' in result['msg']


def test_leave_skips_a_node_outside_any_cluster(capsys, monkeypatch):
    cli = ScriptedCli()
    code, result = run(microk8s_leave, capsys, monkeypatch, cli)
    assert code == 0 and not result['changed'] and cli.calls == []


WORKER_STATUS = 'This MicroK8s deployment is acting as a node in a cluster.\nPlease use the control plane node.\n'


def test_leave_of_a_worker_is_predicted_then_run(capsys, monkeypatch):
    cli = ScriptedCli(status=WORKER_STATUS, worker=True, answers=[(0, 'Generating new cluster certificates.\n', '')])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, check_mode=True)
    assert code == 0 and result['changed'] and result['clustered'] and cli.calls == []
    code, result = run(microk8s_leave, capsys, monkeypatch, cli)
    assert code == 0 and result['changed'] and cli.calls == [['leave']]


def test_last_voter_cannot_leave(capsys, monkeypatch):
    two = LONE.replace('  - address: 127.0.0.1:19001\n    role: voter\n',
                       '  - address: 10.0.0.1:19001\n    role: voter\n  - address: 10.0.0.2:19001\n    role: spare\n')
    cli = ScriptedCli(status=two, answers=[(3, 'This node currently holds the only copy of the Kubernetes database', '')])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli)
    assert code == 1 and result['reason'] == 'last_voter'


def test_remove_of_an_unknown_node_is_unchanged(capsys, monkeypatch):
    cli = ScriptedCli(answers=[(1, 'Node worker2 does not exist in Kubernetes.\n', '')])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='worker2')
    assert code == 0 and not result['changed']
    assert cli.calls == [['remove-node', 'worker2']]
