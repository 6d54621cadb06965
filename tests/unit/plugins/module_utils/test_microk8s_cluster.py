# -*- coding: utf-8 -*-
"""Decisions of cluster formation (sciplat.k8s.microk8s_join*, microk8s_leave) without a node.

The inputs are what microk8s prints (canonical/microk8s scripts/wrappers join.py, add_token.py,
leave.py, remove_node.py as summarised in ../shared/README.md); the commands themselves run
against the node containers in tests/integration/test_cluster_formation.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import microk8s_cluster as mc

TOKEN = 'a' * 16 + 'B' * 16 + '0123456789abcdef'
FP = '4f3c6b2a19de'
URL1 = '10.89.77.10:25000/%s/%s' % (TOKEN, FP)
URL2 = '192.168.5.10:25000/%s/%s' % (TOKEN, FP)


def ha(*addresses):
    return [dict(address=a, role='voter') for a in addresses]


def traceback(error, address='10.0.0.1'):
    """What a microk8s join that cannot connect prints: join.py:664 on stdout, then Python's traceback
    of the OSError raised by conn.connect() (join.py:158-159), which only HTTPException and SSLError
    handlers surround (:182-187)."""
    return ('Contacting cluster at %s\n'
            'Traceback (most recent call last):\n'
            '  File "/snap/microk8s/7964/scripts/wrappers/join.py", line 1018, in <module>\n'
            '    join(prog_name="microk8s join")\n'
            '  File "/snap/microk8s/7964/scripts/wrappers/join.py", line 159, in get_connection_info\n'
            '    conn.connect()\n'
            '  File "/snap/microk8s/7964/usr/lib/python3.8/socket.py", line 796, in create_connection\n'
            '    sock.connect(sa)\n'
            '%s\n' % (address, error))


# --- tokens and URLs --------------------------------------------------------------------------

def test_generated_tokens_are_long_random_and_url_safe():
    tokens = set(mc.generate_token() for dummy in range(50))
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) == 48
        assert token.isalnum() and token.isascii()
    assert len(mc.generate_token(32)) == 32


def test_short_token_length_is_refused():
    with pytest.raises(mc.ClusterError, match='at least 32'):
        mc.generate_token(31)


@pytest.mark.parametrize('ttl, expected', [
    (600, ['add-node', '--token', TOKEN, '--token-ttl', '600', '--format', 'json']),
    # no TTL: microk8s stores a single-use token
    (0, ['add-node', '--token', TOKEN, '--format', 'json']),
])
def test_add_node_args(ttl, expected):
    assert mc.add_node_args(TOKEN, ttl) == expected


def test_add_node_json_is_parsed_and_checked_against_the_token():
    text = json.dumps({'token': '%s/%s' % (TOKEN, FP), 'urls': [URL1, URL2]}, indent=2)
    assert mc.parse_add_node_output(text, TOKEN) == dict(urls=[URL1, URL2], fingerprint=FP)


@pytest.mark.parametrize('text, message', [
    ('Invalid token size.  It must be 32 characters long.', 'did not print JSON'),
    (json.dumps({'urls': [URL1]}), 'no "token" and "urls"'),
    (json.dumps({'token': 'x' * 32 + '/' + FP, 'urls': [URL1]}), 'another token'),
    (json.dumps({'token': TOKEN + '/' + FP, 'urls': []}), 'no join URL'),
])
def test_add_node_output_problems(text, message):
    with pytest.raises(mc.ClusterError, match=message):
        mc.parse_add_node_output(text, TOKEN)


def test_join_url_parts():
    assert mc.parse_join_url(URL1) == dict(address='10.89.77.10', port=25000, token=TOKEN, fingerprint=FP)
    assert mc.parse_join_url('[fd00::1]:25000/' + TOKEN)['address'] == 'fd00::1'


@pytest.mark.parametrize('url, message', [
    ('master.example.org:25000/%s/%s' % (TOKEN, FP), 'not an IP literal'),
    ('10.0.0.1/%s/%s' % (TOKEN, FP), 'no port'),
    ('10.0.0.1:25000/short/%s' % FP, 'shorter than 32'),
    ('10.0.0.1:25000/%s/abc' % TOKEN, 'fingerprint is shorter than 12'),
    ('10.0.0.1:25000', 'must look like'),
])
def test_join_url_problems(url, message):
    with pytest.raises(mc.ClusterError, match=message):
        mc.parse_join_url(url)


def test_join_urls_order_and_address_filter():
    assert mc.order_join_urls([URL1, URL2]) == [URL1, URL2]
    # add-node prints hostname -I's order, IPv6 included; microk8s 1.29+ refuses IPv6 join URLs
    url6 = 'fd00::10:25000/%s/%s' % (TOKEN, FP)
    assert mc.order_join_urls([url6, URL1, URL2]) == [URL1, URL2, url6]
    assert mc.order_join_urls([URL1, URL2], '192.168.5.10') == [URL2]
    with pytest.raises(mc.ClusterError, match='10.9.9.9'):
        mc.order_join_urls([URL1, URL2], '10.9.9.9')


def test_join_args_never_pass_controlplane():
    assert mc.join_args(URL1, 'control_plane') == ['join', URL1]
    assert mc.join_args(URL1, 'worker') == ['join', URL1, '--worker']


# --- membership -------------------------------------------------------------------------------

def test_address_host():
    assert mc.address_host('10.0.0.1:19001') == '10.0.0.1'
    assert mc.address_host('[fd00::2]:19001') == 'fd00::2'
    assert mc.address_host('10.0.0.1') == '10.0.0.1'


def test_cluster_hosts_drop_loopback_and_add_url_addresses():
    # A lone first control plane lists itself as 127.0.0.1: only the URLs name the cluster then.
    assert mc.cluster_hosts(['127.0.0.1:19001']) == set()
    assert mc.cluster_hosts(['127.0.0.1:19001'], [URL1, 'garbage']) == {'10.89.77.10'}
    assert mc.cluster_hosts(['10.0.0.1:19001', '10.0.0.2:19001']) == {'10.0.0.1', '10.0.0.2'}


CLUSTER = {'10.0.0.1', '10.0.0.2'}


@pytest.mark.parametrize('role, installed, lock, running, nodes, state, unreadable', [
    ('worker', True, True, None, [], mc.MEMBER, False),
    ('control_plane', True, True, None, [], mc.WRONG_ROLE, False),
    ('worker', False, False, False, [], mc.NOT_INSTALLED, False),
    ('worker', True, False, False, [], mc.NOT_RUNNING, False),
    # a fresh install is a datastore of one node (127.0.0.1 or its own address)
    ('worker', True, False, True, ha('127.0.0.1:19001'), mc.NEEDS_JOIN, False),
    ('control_plane', True, False, True, ha('10.0.0.3:19001'), mc.NEEDS_JOIN, False),
    ('control_plane', True, False, True, ha('10.0.0.1:19001', '10.0.0.3:19001'), mc.MEMBER, False),
    ('worker', True, False, True, ha('10.0.0.1:19001', '10.0.0.3:19001'), mc.WRONG_ROLE, False),
    ('control_plane', True, False, True, ha('10.9.0.1:19001', '10.9.0.2:19001'), mc.OTHER_CLUSTER, False),
    # dqlite enabled but no node listed: its query failed, membership is unknown
    ('control_plane', True, False, True, [], mc.DATASTORE_UNAVAILABLE, True),
    ('worker', True, False, True, [], mc.DATASTORE_UNAVAILABLE, True),
    # a worker has no datastore view: its lock decides
    ('worker', True, True, None, [], mc.MEMBER, True),
])
def test_membership(role, installed, lock, running, nodes, state, unreadable):
    decided, message = mc.decide_membership(role, installed, lock, running, nodes, CLUSTER, unreadable)
    assert decided == state
    assert message


# status.py:121-129 prints the nodes of get_dqlite_info, which is [] after ten failed queries
# (common/utils.py:105-128): "nodes:" with nothing under it.
DEGRADED_STATUS = ('microk8s:\n  running: True\nhigh-availability:\n  enabled: True\n  nodes:\naddons:\n'
                   '  - name: dns\n    repository: core\n    description: CoreDNS\n    version: 1.10.1\n'
                   '    status: enabled\n')


def test_empty_datastore_view_is_unavailable_not_a_fresh_node():
    from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import parse_status
    ha_status = parse_status(DEGRADED_STATUS)['high_availability']
    assert mc.datastore_unavailable(ha_status)
    lone = '  nodes:\n    - address: 127.0.0.1:19001\n      role: voter\n'
    fresh = parse_status(DEGRADED_STATUS.replace('  nodes:\n', lone))['high_availability']
    assert not mc.datastore_unavailable(fresh)
    # HA off (no dqlite): no nodes is normal
    no_ha = parse_status(DEGRADED_STATUS.replace('enabled: True\n  nodes:\n', 'enabled: False\n'))
    assert not mc.datastore_unavailable(no_ha['high_availability'])
    state, message = mc.decide_membership('control_plane', True, False, True, ha_status['nodes'], CLUSTER,
                                          mc.datastore_unavailable(ha_status))
    assert state == mc.DATASTORE_UNAVAILABLE
    assert 'datastore is unavailable' in message and 'Nothing was changed' in message


def test_wrong_role_and_other_cluster_messages_name_the_way_out():
    state, message = mc.decide_membership('control_plane', True, True, True, [], CLUSTER)
    assert 'microk8s_cluster_state: absent' in message and 'control plane' in message
    state, message = mc.decide_membership('control_plane', True, False, True,
                                          ha('10.9.0.1:19001', '10.9.0.2:19001'), CLUSTER)
    assert '10.9.0.1:19001, 10.9.0.2:19001' in message and '10.0.0.1, 10.0.0.2' in message
    assert 'leave that cluster first' in message


def test_clustered():
    assert mc.is_clustered(True, [])
    assert not mc.is_clustered(False, ha('127.0.0.1:19001'))
    assert mc.is_clustered(False, ha('10.0.0.1:19001', '10.0.0.2:19001'))


# --- join failures ----------------------------------------------------------------------------

@pytest.mark.parametrize('rc, output, reason, retry_token, next_url', [
    (6, 'Contacting cluster at 10.0.0.1\nConnection failed. Invalid token (500).', 'token_invalid', True, False),
    (6, 'Connection failed. Failed to retrieve dqlite cluster nodes: node 10.0.0.3:19001 already known to dqlite '
        '(500).', 'node_known', False, False),
    (6, 'Connection failed. The joining node is already known to dqlite (504).', 'node_known', False, False),
    (6, 'Connection failed. Not possible to join. This is not an HA dqlite cluster. (501).', 'not_ha_capable',
     False, False),
    (6, 'Connection failed. The port of the cluster agent has to be set to 25000. (502).', 'agent_port',
     False, False),
    (6, 'Connection failed. The joining node has the same IP (10.0.0.1) as the node we contact. (503).',
     'same_address', False, False),
    (6, 'Connection failed. The hostname (worker1) of the joining node does not resolve to the IP "10.0.0.3". '
        'Refusing join (400).', 'hostname_unresolvable', False, False),
    (6, 'Connection failed. Something new (418).', 'join_refused', False, False),
    (4, 'Joining cluster failed. Could not verify the identity of 10.0.0.1. Use \'--skip-verify\' to skip '
        'server certificate check.', 'fingerprint', True, False),
    # join.py:182-184: an HTTPException while connecting
    (5, 'Connecting to cluster failed with Remote end closed connection without response.', 'unreachable',
     False, True),
    # join.py:158-159 and :182-187: an OSError from connect() is not caught, Python exits 1 with a traceback
    (1, traceback('TimeoutError: [Errno 110] Connection timed out'), 'unreachable', False, True),
    (1, traceback('OSError: [Errno 113] No route to host'), 'unreachable', False, True),
    (1, traceback('OSError: [Errno 101] Network is unreachable'), 'unreachable', False, True),
    (1, traceback('ConnectionRefusedError: [Errno 111] Connection refused'), 'unreachable', False, True),
    # join.py:110-112: the connection broke during the request
    (1, 'Please ensure the master node is reachable. Remote end closed connection without response',
     'unreachable', False, True),
    # CA pkg/api/v2/join.go:137,154: 500s that are not about the token (httputil capitalises the message)
    (6, 'Connection failed. Failed reading cluster CA: open /var/snap/microk8s/x1/certs/ca.crt: no such file '
        '(500).', 'agent_error', False, False),
    (6, 'Connection failed. Failed to retrieve dqlite cluster nodes: context deadline exceeded (500).',
     'agent_error', False, False),
    (1, 'This node does not have enough RAM to host the Kubernetes control plane services', 'low_memory',
     False, False),
    (1, 'Invalid connection: the address must be an IP', 'bad_url', False, False),
    (2, 'Error, could not locate admin token. Joining cluster failed.', 'failed', False, False),
])
def test_join_failures(rc, output, reason, retry_token, next_url):
    failure = mc.classify_join_failure(rc, output)
    assert (failure['reason'], failure['retry_token'], failure['next_url']) == (reason, retry_token, next_url)
    assert failure['msg']


def test_agent_message_and_status_are_quoted():
    failure = mc.classify_join_failure(6, 'Connection failed. Invalid token (500).')
    assert 'Invalid token' in failure['msg'] and 'spent' in failure['msg']
    failure = mc.classify_join_failure(6, 'Connection failed. Failed to retrieve dqlite cluster nodes: '
                                          '10.0.0.3:19001 already known to dqlite (500).')
    assert 'remove-node' in failure['msg'] and '--force' in failure['msg']


def test_ipv6_url_refused_by_1_29_moves_on():
    # common/cluster/utils.py:573-577: the endpoint must split into exactly two parts at ":"
    text = 'Invalid connection: Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]'
    failure = mc.classify_join_failure(1, text, ipv6=True)
    assert (failure['reason'], failure['next_url'], failure['retry_token']) == ('ipv6_refused', True, False)
    assert 'IPv6' in failure['msg']
    assert mc.classify_join_failure(1, text)['reason'] == 'bad_url'


def test_connect_errors_outside_a_connect_are_not_unreachable():
    # a traceback with another errno (a full disk while writing the certificates) is not the network's
    failure = mc.classify_join_failure(1, traceback('OSError: [Errno 28] No space left on device'))
    assert failure['reason'] == 'failed' and not failure['next_url']


def test_failure_message_names_every_address_tried():
    timed_out = mc.classify_join_failure(1, traceback('TimeoutError: [Errno 110] Connection timed out'))
    attempts = [dict(address='172.17.0.1', reason='unreachable', detail='no TCP connection to port 25000 within 10 s'),
                dict(address='10.0.0.1', reason='unreachable', rc=1, detail=timed_out['msg'])]
    message = mc.join_failure_message(attempts, timed_out)
    assert '172.17.0.1: no TCP connection to port 25000 within 10 s' in message
    assert '10.0.0.1: could not connect to the cluster agent (TimeoutError: [Errno 110] Connection timed out)' \
        in message
    refused = mc.classify_join_failure(6, 'Connection failed. Invalid token (500).')
    message = mc.join_failure_message(attempts[:1] + [dict(address='10.0.0.1', reason='token_invalid')], refused)
    assert message.startswith(refused['msg']) and '172.17.0.1' in message
    assert mc.join_failure_message(attempts[1:], refused) == refused['msg']


def test_reach_agent_reports_why_an_address_does_not_answer():
    import socket
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert mc.reach_agent('127.0.0.1', port, 2) is None
    finally:
        server.close()
    assert 'Connection refused' in mc.reach_agent('127.0.0.1', port, 2)


def test_timeout_is_its_own_failure():
    failure = mc.classify_join_failure(124, '', timed_out_after=300)
    assert failure['reason'] == 'timeout' and not failure['retry_token']
    assert '300 seconds' in failure['msg'] and 'join-in-progress' in failure['msg']


# --- leave and remove-node --------------------------------------------------------------------

@pytest.mark.parametrize('rc, output, reason', [
    (3, 'This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster.',
     'last_voter'),
    (1, 'Error: This MicroK8s deployment is not acting as a node in a cluster.', 'not_clustered'),
    (1, 'microk8s is not running, try microk8s start', 'not_running'),
    (2, 'Not in clustering mode.', 'failed'),
])
def test_leave_failures(rc, output, reason):
    assert mc.classify_leave_failure(rc, output)[0] == reason


NODES = json.dumps({'items': [
    {'metadata': {'name': 'cp2'},
     'status': {'addresses': [{'type': 'InternalIP', 'address': '10.0.0.2'}, {'type': 'Hostname', 'address': 'cp2'}]}},
    {'metadata': {'name': 'worker2'}, 'status': {'addresses': [{'type': 'InternalIP', 'address': '10.0.0.7'}]}},
]})


def test_find_node_by_name_or_internal_ip():
    assert mc.find_node(NODES, 'cp2') == ('cp2', '10.0.0.2')
    assert mc.find_node(NODES, '10.0.0.7') == ('worker2', '10.0.0.7')
    assert mc.find_node(NODES, 'gone') is None
    with pytest.raises(mc.ClusterError, match='node list'):
        mc.find_node('The connection to the server 127.0.0.1:16443 was refused', 'cp2')


def test_forced_removal_passes_an_address():
    assert mc.remove_node_args('cp2', False, '10.0.0.2') == ['remove-node', 'cp2']
    # remove_node.py:83-94: without a Node, --force matches its argument as an IP prefix in dqlite
    assert mc.remove_node_args('cp2', True, '10.0.0.2') == ['remove-node', '10.0.0.2', '--force']
    assert mc.remove_node_args('cp2', True, None, '10.0.0.9') == ['remove-node', '10.0.0.9', '--force']
    assert mc.remove_node_args('cp2', True) == ['remove-node', 'cp2', '--force']


# remove_node.py:83-84 prints this for ANY CalledProcessError of its kubectl or dqlite queries
DOES_NOT_EXIST = 'Node worker2 does not exist in Kubernetes.\n'


@pytest.mark.parametrize('rc, output, lookup, outcome', [
    (0, '', mc.NODE_GONE, 'removed'),
    (1, DOES_NOT_EXIST, mc.NODE_GONE, 'absent'),
    (1, 'Node worker2 does not exist.', mc.NODE_GONE, 'absent'),
    # the API server lists the Node: remove-node's own query failed (API or dqlite not answering)
    (1, DOES_NOT_EXIST, mc.NODE_FOUND, 'retry'),
    (1, DOES_NOT_EXIST, mc.NODE_UNKNOWN, 'retry'),
    # remove_node.py:85-94: with --force and an address, the dqlite entry goes and the exit code stays 1
    (1, DOES_NOT_EXIST + 'Attempting to remove 10.0.0.7 from dqlite.\nRemoving node entry found in dqlite.\n',
     mc.NODE_GONE, 'removed'),
    (1, DOES_NOT_EXIST + 'Attempting to remove 10.0.0.7 from dqlite.\nRemoving node entry found in dqlite.\n',
     mc.NODE_FOUND, 'retry'),
    (1, 'Removal failed. Node worker2 is registered with dqlite. Please, run first \'microk8s leave\' on the '
        'departing node.', mc.NODE_FOUND, 'still_in_dqlite'),
    (2, 'Contacting node 10.0.0.1:19001 failed. Error:\nCalledProcessError()', mc.NODE_FOUND, 'failed'),
])
def test_removal_outcome_needs_the_api_server_to_say_the_node_is_gone(rc, output, lookup, outcome):
    found, message = mc.decide_removal(rc, output, 'worker2', lookup, 'connection refused')
    assert found == outcome
    assert 'worker2' in message
    if lookup == mc.NODE_UNKNOWN:
        assert 'connection refused' in message
