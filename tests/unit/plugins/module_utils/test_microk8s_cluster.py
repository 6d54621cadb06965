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


@pytest.mark.parametrize('role, installed, lock, running, nodes, state', [
    ('worker', True, True, None, [], mc.MEMBER),
    ('control_plane', True, True, None, [], mc.WRONG_ROLE),
    ('worker', False, False, False, [], mc.NOT_INSTALLED),
    ('worker', True, False, False, [], mc.NOT_RUNNING),
    # a fresh install is a datastore of one node (127.0.0.1 or its own address)
    ('worker', True, False, True, ha('127.0.0.1:19001'), mc.NEEDS_JOIN),
    ('control_plane', True, False, True, ha('10.0.0.3:19001'), mc.NEEDS_JOIN),
    ('control_plane', True, False, True, ha('10.0.0.1:19001', '10.0.0.3:19001'), mc.MEMBER),
    ('worker', True, False, True, ha('10.0.0.1:19001', '10.0.0.3:19001'), mc.WRONG_ROLE),
    ('control_plane', True, False, True, ha('10.9.0.1:19001', '10.9.0.2:19001'), mc.OTHER_CLUSTER),
])
def test_membership(role, installed, lock, running, nodes, state):
    decided, message = mc.decide_membership(role, installed, lock, running, nodes, CLUSTER)
    assert decided == state
    assert message


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
    (5, 'Connecting to cluster failed with Remote end closed connection without response.', 'unreachable',
     False, True),
    (1, 'Traceback (most recent call last):\nConnectionRefusedError: [Errno 111] Connection refused',
     'unreachable', False, True),
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


@pytest.mark.parametrize('output, reason', [
    ('Node worker2 does not exist in Kubernetes.', 'absent'),
    ('Node worker2 does not exist.', 'absent'),
    ('Removal failed. Node worker2 is registered with dqlite. Please, run first \'microk8s leave\' on the '
     'departing node.', 'still_in_dqlite'),
    ('Contacting node 10.0.0.1:19001 failed.', 'failed'),
])
def test_remove_failures(output, reason):
    found, message = mc.classify_remove_failure(1, output, 'worker2')
    assert found == reason
    assert 'worker2' in message
