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


def run(module, capsys, monkeypatch, cli, check_mode=False, unreachable=(), **args):
    """Run ``module`` with ``cli``; the cluster agent answers at every address but those in ``unreachable``."""
    monkeypatch.setattr(mc, 'Microk8sCli', cli)
    monkeypatch.setattr(mc, 'reach_agent', lambda address, port, timeout: (
        'no TCP connection to port %d within %s s' % (port, timeout) if address in unreachable else None))
    monkeypatch.setattr(mc.time, 'sleep', lambda seconds: None)
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
    assert result['attempts'] == [dict(address='10.89.77.10', reason='token_invalid', rc=6,
                                       detail=result['msg'])]
    assert token not in json.dumps(result)


def connect_traceback(error, address):
    """Real join when connect() fails: join.py:664 prints the address, then the uncaught OSError of
    conn.connect() (join.py:158-159; only HTTPException/SSLError are caught, :182-187) ends Python
    with a traceback on stderr and exit 1."""
    return (1, 'Contacting cluster at %s\n' % address,
            'Traceback (most recent call last):\n'
            '  File "/snap/microk8s/7964/scripts/wrappers/join.py", line 159, in get_connection_info\n'
            '    conn.connect()\n'
            '  File "/snap/microk8s/7964/usr/lib/python3.8/socket.py", line 796, in create_connection\n'
            '    sock.connect(sa)\n%s\n' % error)


URLS = ['172.17.0.1:25000/%s/%s' % ('T' * 40, FP), '10.89.77.10:25000/%s/%s' % ('T' * 40, FP)]


@pytest.mark.parametrize('error', ['TimeoutError: [Errno 110] Connection timed out',
                                   'OSError: [Errno 113] No route to host',
                                   'OSError: [Errno 101] Network is unreachable',
                                   'ConnectionRefusedError: [Errno 111] Connection refused'])
def test_a_connect_failure_moves_to_the_next_url(capsys, monkeypatch, error):
    cli = ScriptedCli(answers=[connect_traceback(error, '172.17.0.1'),
                               (6, 'Connection failed. Not possible to join. This is not an HA MicroK8s cluster (501).',
                                '')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='control_plane', join_urls=URLS)
    assert code == 1 and result['reason'] == 'not_ha_capable' and result['retry_token'] is False
    assert [call[1].split(':')[0] for call in cli.calls] == ['172.17.0.1', '10.89.77.10']
    assert result['attempts'][0]['reason'] == 'unreachable' and error in result['attempts'][0]['detail']
    assert '172.17.0.1: could not connect to the cluster agent (%s)' % error in result['msg']


def test_an_address_that_does_not_answer_is_skipped_within_connect_timeout(capsys, monkeypatch):
    cli = ScriptedCli(answers=[])

    def joined(args):
        cli.worker = True
        return 0, 'The node has joined the cluster and will appear in the nodes list in a few seconds.\n', ''

    cli.answers.append(joined)
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', join_urls=URLS,
                       unreachable=('172.17.0.1',), connect_timeout=3)
    assert code == 0 and result['changed'] and result['membership'] == mc.MEMBER
    # microk8s join never ran against the address that did not answer
    assert cli.calls == [['join', URLS[1], '--worker']]
    assert result['attempts'] == [
        dict(address='172.17.0.1', reason='unreachable', detail='no TCP connection to port 25000 within 3 s'),
        dict(address='10.89.77.10', reason='joined')]


def test_no_reachable_url_names_every_address(capsys, monkeypatch):
    cli = ScriptedCli(answers=[connect_traceback('OSError: [Errno 113] No route to host', '10.89.77.10')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', join_urls=URLS,
                       unreachable=('172.17.0.1',))
    assert code == 1 and result['reason'] == 'unreachable' and not result['changed']
    assert '172.17.0.1: no TCP connection to port 25000 within 10 s' in result['msg']
    assert '10.89.77.10: could not connect to the cluster agent (OSError: [Errno 113] No route to host)' in result['msg']


def test_connect_timeout_must_be_positive(capsys, monkeypatch):
    cli = ScriptedCli()
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', join_urls=URLS, connect_timeout=0)
    assert code == 1 and 'connect_timeout' in result['msg'] and cli.calls == []


def test_ipv6_urls_come_last_and_their_refusal_moves_on(capsys, monkeypatch):
    url6 = 'fd00::10:25000/%s/%s' % ('T' * 40, FP)
    cli = ScriptedCli(answers=[connect_traceback('OSError: [Errno 113] No route to host', '10.89.77.10'),
                               (1, 'Invalid connection: Expected format: <master_IP>:<master_PORT>/<token>'
                                   '[/<fingerprint>]\n', '')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='worker', join_urls=[url6, URLS[1]])
    assert [call[1] for call in cli.calls] == [URLS[1], url6]
    assert code == 1 and result['reason'] == 'ipv6_refused'
    assert 'fd00::10: microk8s refused the IPv6 join URL' in result['msg']


def test_other_agent_500_is_not_a_token_problem(capsys, monkeypatch):
    cli = ScriptedCli(answers=[(6, 'Connection failed. Failed to retrieve dqlite cluster nodes: context deadline '
                                   'exceeded (500).', '')])
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='control_plane', join_urls=URLS[1:])
    assert code == 1 and result['reason'] == 'agent_error' and result['retry_token'] is False
    assert 'context deadline exceeded' in result['msg']


# high-availability enabled, nodes empty: get_dqlite_info gave up (common/utils.py:105-128, status.py:121-129)
DEGRADED = 'microk8s:\n  running: True\nhigh-availability:\n  enabled: True\n  nodes:\naddons: []\n'


@pytest.mark.parametrize('check_mode', [False, True])
def test_degraded_datastore_stops_the_join_before_any_change(capsys, monkeypatch, check_mode):
    cli = ScriptedCli(status=DEGRADED)
    code, result = run(microk8s_join, capsys, monkeypatch, cli, check_mode=check_mode, role='control_plane',
                       join_urls=URLS[1:])
    assert code == 1 and not result['changed'] and cli.calls == []
    assert result['reason'] == mc.DATASTORE_UNAVAILABLE and 'datastore is unavailable' in result['msg']


def test_degraded_datastore_stops_the_leave(capsys, monkeypatch):
    cli = ScriptedCli(status=DEGRADED)
    code, result = run(microk8s_leave, capsys, monkeypatch, cli)
    assert code == 1 and not result['changed'] and cli.calls == []
    assert result['reason'] == mc.DATASTORE_UNAVAILABLE and result['clustered'] is None


def test_status_that_breaks_after_a_join_is_a_clean_failure(capsys, monkeypatch):
    from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import Microk8sError

    class Restarting(ScriptedCli):
        """Services restart after a control plane joined: status times out at its subprocess limit."""
        joined = False

        def status(self, wait_ready_timeout=None):
            if self.joined:
                raise Microk8sError('microk8s status --format yaml did not finish within 30 seconds', rc=124)
            return ScriptedCli.status(self)

    cli = Restarting()

    def join(args):
        cli.joined = True
        return 0, 'Contacting cluster at 10.89.77.10\nWaiting for this node to finish joining the cluster. .. \n', ''

    cli.answers.append(join)
    code, result = run(microk8s_join, capsys, monkeypatch, cli, role='control_plane', join_urls=URLS[1:],
                       ready_timeout=0)
    assert code == 1 and result['changed'] is True
    assert result['reason'] == 'not_member_after_join' and result['membership'] == mc.STATUS_UNREADABLE
    assert 'has joined' in result['msg'] and 'did not finish within 30 seconds' in result['msg']


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


def nodes_answer(*nodes):
    """``microk8s kubectl get nodes -o json`` listing ``(name, InternalIP)`` pairs."""
    items = [{'metadata': {'name': name}, 'status': {'addresses': [{'type': 'InternalIP', 'address': ip}]}}
             for name, ip in nodes]
    return 0, json.dumps({'apiVersion': 'v1', 'kind': 'List', 'items': items}), ''


DOES_NOT_EXIST = (1, 'Node worker2 does not exist in Kubernetes.\n', '')
LOOKUP = ['kubectl', 'get', 'nodes', '-o', 'json']


def test_remove_of_an_unknown_node_is_unchanged(capsys, monkeypatch):
    cli = ScriptedCli(answers=[DOES_NOT_EXIST, nodes_answer(('cp1', '10.0.0.1'))])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='worker2')
    assert code == 0 and not result['changed']
    assert cli.calls == [['remove-node', 'worker2'], LOOKUP]


def test_remove_that_did_not_happen_is_not_reported_absent(capsys, monkeypatch):
    # remove_node.py:83-84: the text of a missing Node, printed because its kubectl query failed
    cli = ScriptedCli(answers=[DOES_NOT_EXIST, nodes_answer(('worker2', '10.0.0.7'))] * 3)
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='worker2', ready_timeout=0)
    assert code == 1 and not result['changed'] and result['reason'] == 'not_confirmed'
    assert 'API server still lists it' in result['msg']


def test_remove_is_retried_while_the_api_server_does_not_answer(capsys, monkeypatch):
    refused = (1, '', 'The connection to the server 127.0.0.1:16443 was refused - did you specify the right host '
                      'or port?\n')
    cli = ScriptedCli(answers=[DOES_NOT_EXIST, refused, (0, '', ''), ])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='worker2', ready_timeout=60)
    assert code == 0 and result['changed'] and result['runs'] == 2
    assert cli.calls == [['remove-node', 'worker2'], LOOKUP, ['remove-node', 'worker2']]


def test_forced_remove_passes_the_internal_ip(capsys, monkeypatch):
    cli = ScriptedCli(answers=[nodes_answer(('cp2', '10.0.0.2')), (0, '', '')])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='cp2', force=True)
    assert code == 0 and result['changed']
    assert cli.calls == [LOOKUP, ['remove-node', '10.0.0.2', '--force']]


def test_forced_remove_of_a_node_without_node_object_uses_the_address(capsys, monkeypatch):
    removed = (1, 'Node 10.0.0.2 does not exist in Kubernetes.\nAttempting to remove 10.0.0.2 from dqlite.\n'
                  'Removing node entry found in dqlite.\n', '')
    cli = ScriptedCli(answers=[nodes_answer(), removed, nodes_answer()])
    code, result = run(microk8s_leave, capsys, monkeypatch, cli, node='cp2', force=True, address='10.0.0.2')
    assert code == 0 and result['changed'] and 'datastore entry' in result['msg']
    assert cli.calls[1] == ['remove-node', '10.0.0.2', '--force']
