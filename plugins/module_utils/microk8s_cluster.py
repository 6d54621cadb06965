# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster formation for microk8s: join tokens, membership, joins, leaves and removals.

The decisions are pure functions of what a node reports about itself (``clustered.lock``, the
``high-availability`` nodes of ``microk8s status --format yaml``) and of the exit code and
message of the microk8s command, so unit tests cover them without a node. Membership is never
read from the text a join prints: a join's output only explains a failure.

The modules ``microk8s_join_token``, ``microk8s_join`` and ``microk8s_leave`` are thin wrappers
around :func:`run_join_token`, :func:`run_join` and :func:`run_leave`; the commands run through
:class:`~ansible_collections.sciplat.k8s.plugins.module_utils.microk8s.Microk8sCli`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import secrets
import socket
import string
import time

from ansible_collections.sciplat.k8s.plugins.module_utils.microk8s import TIMEOUT_RCS, Microk8sCli, Microk8sError

# microk8s refuses shorter tokens ("Invalid token size") and fingerprints (join exit 1).
TOKEN_MIN_LENGTH = 32
FINGERPRINT_MIN_LENGTH = 12
CLUSTER_AGENT_PORT = 25000

ROLE_CONTROL_PLANE = 'control_plane'
ROLE_WORKER = 'worker'
ROLES = (ROLE_CONTROL_PLANE, ROLE_WORKER)

# Membership of a node in the cluster the inventory describes.
MEMBER = 'member'
NEEDS_JOIN = 'needs_join'
WRONG_ROLE = 'wrong_role'
OTHER_CLUSTER = 'other_cluster'
NOT_RUNNING = 'not_running'
NOT_INSTALLED = 'not_installed'
DATASTORE_UNAVAILABLE = 'datastore_unavailable'
# After a join only: microk8s status timed out or printed something unrecognised until the deadline.
STATUS_UNREADABLE = 'status_unreadable'

_LOOPBACK_PREFIXES = ('127.', '::1', 'localhost')
_TOKEN_ALPHABET = string.ascii_letters + string.digits
# "Connection failed. <message> (<HTTP status>)." is how microk8s join reports an agent's refusal.
_AGENT_ERROR = re.compile(r'Connection failed\.\s*(?P<message>.*?)\s*\((?P<status>\d{3})\)\.?\s*$', re.S | re.M)
# join.py:158-159 connects to the agent without a timeout and catches only HTTPException and
# SSLError (:182-187): an OSError from connect() ends the script with a Python traceback (exit 1)
# whose last line is, e.g., "TimeoutError: [Errno 110] Connection timed out" after the kernel's SYN
# retries, "OSError: [Errno 113] No route to host" or "ConnectionRefusedError: [Errno 111] ...".
_OS_ERROR_LINE = re.compile(r'^(?P<type>\w+(?:\.\w+)*): \[Errno (?P<errno>\d+)\] (?P<text>.*?)\s*$', re.M)
# ENETUNREACH, ECONNRESET, ETIMEDOUT, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH: the agent was not
# reached at this address, so the token was not checked and another address may work.
CONNECT_ERRNOS = (101, 104, 110, 111, 112, 113)
# "Invalid connection" is printed before anything is contacted (join.py:976-980).
_INVALID_CONNECTION = 'invalid connection'


class ClusterError(Exception):
    """A failure the module reports as it is; ``details`` go into the module result."""

    def __init__(self, msg, **details):
        super(ClusterError, self).__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------------------------
# Tokens and join URLs


def generate_token(length=48):
    """A random token for ``add-node --token`` of ``length`` letters and digits (at least 32)."""
    if length < TOKEN_MIN_LENGTH:
        raise ClusterError('token_length must be at least %d (microk8s refuses shorter tokens), got %d'
                           % (TOKEN_MIN_LENGTH, length))
    return ''.join(secrets.choice(_TOKEN_ALPHABET) for dummy in range(length))


def add_node_args(token, ttl):
    """``microk8s add-node`` arguments for ``token``; ``ttl`` 0 makes a single-use token (spent by its first check)."""
    args = ['add-node', '--token', token]
    if ttl:
        args += ['--token-ttl', str(int(ttl))]
    return args + ['--format', 'json']


def parse_add_node_output(text, token):
    """The join URLs printed by ``add-node --format json``, checked against the token that was asked for.

    Returns ``dict(urls=[...], fingerprint=...)``.
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise ClusterError('microk8s add-node --format json did not print JSON: %s' % (text or '').strip()[:300])
    if not isinstance(data, dict) or not data.get('token') or not isinstance(data.get('urls'), list):
        raise ClusterError('microk8s add-node --format json printed no "token" and "urls"')
    given, dummy, fingerprint = str(data['token']).partition('/')
    if given != token:
        raise ClusterError('microk8s add-node registered another token than the one it was given')
    if not data['urls']:
        raise ClusterError('microk8s add-node printed no join URL: the control plane has no usable IP address')
    return dict(urls=[str(url) for url in data['urls']], fingerprint=fingerprint)


def parse_join_url(url):
    """Split ``<ip>:<port>/<token>[/<fingerprint>]`` and check it the way microk8s 1.29+ does.

    Returns ``dict(address=..., port=..., token=..., fingerprint=...)``. The address must be an IP
    literal: microk8s 1.29+ refuses host names ("Invalid connection").
    """
    parts = str(url).strip().split('/')
    if len(parts) not in (2, 3):
        raise ClusterError('join URL must look like <ip>:<port>/<token>/<fingerprint>')
    endpoint, token = parts[0], parts[1]
    fingerprint = parts[2] if len(parts) == 3 else None
    host, sep, port = endpoint.rpartition(':')
    if not sep or not port.isdigit():
        raise ClusterError('join URL has no port after the address (expected <ip>:%d/...)' % CLUSTER_AGENT_PORT)
    host = host.strip('[]')
    if not is_ip_literal(host):
        raise ClusterError('join URL address %r is not an IP literal: microk8s 1.29+ refuses host names' % host)
    if len(token) < TOKEN_MIN_LENGTH:
        raise ClusterError('join URL token is shorter than %d characters' % TOKEN_MIN_LENGTH)
    if fingerprint is not None and len(fingerprint) < FINGERPRINT_MIN_LENGTH:
        raise ClusterError('join URL fingerprint is shorter than %d characters' % FINGERPRINT_MIN_LENGTH)
    return dict(address=host, port=int(port), token=token, fingerprint=fingerprint)


def is_ip_literal(value):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return True
        except (socket.error, ValueError):
            continue
    return False


def is_ipv6(address):
    return ':' in str(address)


def order_join_urls(urls, address=None):
    """Join URLs in the order to try them: those on ``address`` only when it is given, else as printed,
    IPv4 addresses before IPv6 ones.

    add-node prints one URL per address of ``hostname -I`` in that order (add_token.py:102-107,
    actions/common/utils.sh:569-589): bridges and IPv6 addresses included, the default-route address
    not necessarily first. The joining node may reach only some of them, so the join tries the next
    one when the agent cannot be reached. microk8s 1.29+ refuses IPv6 join URLs (the endpoint must
    split into exactly two parts at ":", common/cluster/utils.py:573-577), so they come last.
    """
    parsed = [(url, parse_join_url(url)) for url in urls]
    if address:
        parsed = [(url, info) for url, info in parsed if info['address'] == address]
        if not parsed:
            raise ClusterError('none of the join URLs uses the address %s given as join_address' % address)
    return [url for url, info in sorted(parsed, key=lambda entry: is_ipv6(entry[1]['address']))]


def join_args(url, role):
    # --controlplane is broken upstream: a control plane join is the default and takes no flag.
    args = ['join', url]
    if role == ROLE_WORKER:
        args.append('--worker')
    return args


# --------------------------------------------------------------------------------------------
# Membership


def address_host(address):
    """The host part of a dqlite address ``ip:port`` or ``[ip6]:port``."""
    address = str(address)
    if address.startswith('['):
        return address[1:].partition(']')[0]
    return address.rpartition(':')[0] if address.count(':') == 1 else address


def cluster_hosts(cluster_nodes, join_urls=None):
    """Non-loopback IPs that identify the cluster: its dqlite nodes and the addresses it is joined through.

    A lone control plane lists itself as 127.0.0.1; the agent moves it to the address the first
    joining node used, so the join URLs' addresses name the cluster before any node has joined.
    """
    hosts = set(address_host(address) for address in cluster_nodes or [])
    for url in join_urls or []:
        try:
            hosts.add(parse_join_url(url)['address'])
        except ClusterError:
            continue
    return set(host for host in hosts if host and not host.startswith(_LOOPBACK_PREFIXES))


def datastore_unavailable(ha):
    """Whether ``microk8s status`` says dqlite is on (``enabled: True``) but lists none of its nodes.

    A healthy dqlite node always lists at least itself. ``get_dqlite_info`` returns an empty list
    when its ``.cluster`` query failed ten times (scripts/wrappers/common/utils.py:105-128): lost
    quorum, a two-voter cluster with one voter down, an overloaded disk. Nothing can be concluded
    about membership then. ``ha`` is the ``high_availability`` summary of ``parse_status``.
    """
    return bool(ha) and ha.get('dqlite') is True and not ha.get('nodes')


DATASTORE_UNAVAILABLE_MSG = (
    'the datastore is unavailable: microk8s status says high availability is enabled but lists no datastore '
    'node, which happens when its dqlite query fails (lost quorum, a control plane down in a two-voter '
    'cluster, an overloaded disk). Nothing was changed. Check that the other control planes run (microk8s '
    'status on each), the k8s-dqlite service on this node (journalctl -u snap.microk8s.daemon-k8s-dqlite) and '
    'microk8s inspect, then rerun')


def decide_membership(role, installed, worker_lock, running, ha_nodes, cluster, unreadable=False):
    """Where a node stands relative to the cluster it should belong to in ``role``.

    ``ha_nodes`` is the node's own ``high-availability.nodes`` list; ``cluster`` the IPs of
    :func:`cluster_hosts`; ``unreadable`` is :func:`datastore_unavailable` of the status. A
    single dqlite node is a cluster of its own (a fresh install): it needs a join. A node whose
    dqlite cluster has an address in ``cluster`` is one of its control planes. Workers are not in
    dqlite: their ``clustered.lock`` is what makes them members. A datastore that could not be read
    says nothing about membership: joining then could make a member join again, be refused as
    "already known to dqlite" and spend the token.

    Returns ``(state, message)`` with state one of MEMBER, NEEDS_JOIN, WRONG_ROLE, OTHER_CLUSTER,
    NOT_RUNNING, NOT_INSTALLED, DATASTORE_UNAVAILABLE.
    """
    if not installed:
        return NOT_INSTALLED, 'microk8s is not installed on this node'
    if worker_lock:
        if role == ROLE_WORKER:
            return MEMBER, 'already a worker of a cluster (clustered.lock present)'
        return WRONG_ROLE, ('this node is a worker of a cluster (clustered.lock present) but should be a control plane: '
                            'remove it (microk8s_cluster_state: absent), then add it again as a control plane')
    if not running:
        return NOT_RUNNING, 'microk8s is not running on this node: start it (microk8s start) and rerun'
    if unreadable:
        return DATASTORE_UNAVAILABLE, DATASTORE_UNAVAILABLE_MSG
    own = [str(node.get('address')) for node in ha_nodes or []]
    if len(own) < 2:
        return NEEDS_JOIN, 'not part of a cluster: would join as %s' % role.replace('_', ' ')
    if not set(address_host(address) for address in own) & set(cluster or []):
        return OTHER_CLUSTER, ('this node is a control plane of another cluster: its dqlite nodes %s do not include '
                               'the cluster\'s addresses %s; make it leave that cluster first'
                               % (', '.join(own), ', '.join(sorted(cluster or [])) or '(none yet)'))
    if role == ROLE_CONTROL_PLANE:
        return MEMBER, 'already a control plane of the cluster'
    return WRONG_ROLE, ('this node is a control plane of the cluster but should be a worker: remove it '
                        '(microk8s_cluster_state: absent), then add it again as a worker')


def is_clustered(worker_lock, ha_nodes):
    """Whether a node is in a cluster with other nodes at all (what ``microk8s leave`` undoes)."""
    return bool(worker_lock) or len(ha_nodes or []) > 1


# --------------------------------------------------------------------------------------------
# Failures of microk8s commands


def connect_error(output):
    """``(errno, text)`` of the traceback that ends a ``microk8s join`` which could not connect, or None."""
    found = list(_OS_ERROR_LINE.finditer(output or ''))
    if not found:
        return None
    last = found[-1]
    return int(last.group('errno')), '%s: [Errno %s] %s' % (last.group('type'), last.group('errno'), last.group('text'))


def classify_join_failure(rc, output, timed_out_after=None, ipv6=False):
    """Explain a failed ``microk8s join``.

    Returns ``dict(reason=..., msg=..., retry_token=bool, next_url=bool)``: ``retry_token`` when a
    fresh token can make the join succeed, ``next_url`` when the agent was not reached on this
    address (the token was not checked, so another address of the control plane may work).
    ``ipv6`` tells that the URL's address is an IPv6 one.
    """
    text = (output or '').strip()
    last = text.splitlines()[-1] if text else ''

    def result(reason, msg, retry_token=False, next_url=False):
        return dict(reason=reason, msg=msg, retry_token=retry_token, next_url=next_url)

    if timed_out_after:
        return result('timeout', 'microk8s join did not finish within %s seconds; the node may be half-joined '
                                 '(join-in-progress lock): check it with microk8s status before rerunning'
                      % timed_out_after)
    if rc == 6:
        match = _AGENT_ERROR.search(text)
        status = int(match.group('status')) if match else None
        message = match.group('message') if match else last
        if 'already known to dqlite' in message or status == 504:
            return result('node_known', 'the cluster still knows this node from an earlier membership (%s): run '
                                        '"microk8s remove-node <this node\'s address> --force" on a control plane, '
                                        'then rerun' % message)
        # The agent answers 500 for a token it does not hold ("invalid token", CA pkg/api/v2/join.go:102-104)
        # and for its own failures (dqlite, CA or kubelet files, join.go:137-246): only the first is the token's.
        if status == 500 and message.lower().startswith('invalid token'):
            return result('token_invalid', 'the cluster refused the join token as invalid, expired or already spent '
                                           '(%s)' % message, retry_token=True)
        if status == 500:
            return result('agent_error', 'the cluster agent of the control plane failed while handling the join (%s): '
                                         'check it there (journalctl -u snap.microk8s.daemon-cluster-agent, microk8s '
                                         'status), then rerun' % message)
        if status == 501:
            return result('not_ha_capable', 'the control plane cannot take this node: it does not run dqlite '
                                            '(HA disabled) (%s)' % message)
        if status == 502:
            return result('agent_port', 'the cluster agent ports of this node and the control plane differ (%s)'
                          % message)
        if status == 503:
            return result('same_address', 'this node has the same IP address as the control plane it joins '
                                          '(%s): a node cannot join itself' % message)
        if status == 400:
            return result('hostname_unresolvable', 'the control plane cannot resolve this node\'s host name (%s): '
                                                   'add it to DNS or /etc/hosts on the control planes' % message)
        return result('join_refused', 'the cluster refused the join: %s' % (message or text[-300:]))
    if rc == 4:
        return result('fingerprint', 'the control plane\'s certificate does not match the join URL\'s fingerprint '
                                     '(%s)' % last, retry_token=True)
    if rc == 5:
        # join.py:182-184, an HTTPException while connecting
        return result('unreachable', 'could not connect to the cluster agent (%s)' % last, next_url=True)
    if rc == 1:
        lowered = text.lower()
        error = connect_error(text)
        if error and error[0] in CONNECT_ERRNOS:
            return result('unreachable', 'could not connect to the cluster agent (%s)' % error[1], next_url=True)
        if 'ensure the master node is reachable' in lowered:
            # join.py:110-112, the connection broke during the request
            return result('unreachable', 'the cluster agent did not answer the join request (%s)' % last,
                          next_url=True)
        if 'enough ram' in lowered or 'low-memory' in lowered or 'low memory' in lowered:
            return result('low_memory', 'this node has too little memory to run a control plane: make it a worker')
        if _INVALID_CONNECTION in lowered and ipv6:
            return result('ipv6_refused', 'microk8s refused the IPv6 join URL (%s): microk8s 1.29 and later accept only '
                                          'IPv4 addresses in join URLs' % last, next_url=True)
        if _INVALID_CONNECTION in lowered or 'invalid token' in lowered or 'fingerprint' in lowered:
            return result('bad_url', 'microk8s refused the join URL (%s)' % last)
    return result('failed', 'microk8s join failed with exit code %s: %s' % (rc, text[-500:]))


def join_failure_message(attempts, failure):
    """The failure message of a join that tried ``attempts`` (dicts of address, reason, detail) and ended
    with ``failure`` (:func:`classify_join_failure`), naming every address tried and why it failed."""
    tried = '; '.join('%s: %s' % (attempt['address'], attempt.get('detail') or attempt['reason'])
                      for attempt in attempts)
    if failure['next_url']:
        return 'no join URL reached the cluster agent (%s). Make one of the control plane\'s addresses reachable ' \
               'from this node (port %d), or pick the right one with join_address' % (tried, CLUSTER_AGENT_PORT)
    if len(attempts) > 1:
        return '%s (addresses tried: %s)' % (failure['msg'], tried)
    return failure['msg']


def reach_agent(address, port, timeout):
    """None when a TCP connection to the cluster agent at ``address``:``port`` opens within ``timeout``
    seconds, else why not.

    microk8s join has no connect timeout (join.py:158-159): an address whose packets are dropped costs
    the kernel's SYN retries (about 127 s) before the traceback. Trying the connection first bounds that.
    """
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except socket.timeout:
        return 'no TCP connection to port %d within %s s' % (port, timeout)
    except (OSError, socket.error) as exc:
        return 'no TCP connection to port %d: %s' % (port, exc)
    sock.close()
    return None


def classify_leave_failure(rc, output):
    text = (output or '').strip()
    if rc == 3:
        return ('last_voter', 'this node is the only dqlite voter while other nodes remain: add voters '
                              '(an odd number of control planes) or remove the other nodes first')
    if 'not acting as a node in a cluster' in text:
        return ('not_clustered', 'microk8s says this node is not acting as a node in a cluster '
                                 '(no no-cert-reissue lock) although it has cluster members: %s' % text[-300:])
    if 'not running' in text:
        return ('not_running', 'microk8s is not running on this node: start it (microk8s start) to let it leave')
    return ('failed', 'microk8s leave failed with exit code %s: %s' % (rc, text[-500:]))


def find_node(nodes_json, node):
    """``(name, InternalIP)`` of the Node called ``node`` or with InternalIP ``node`` in the JSON of
    ``kubectl get nodes -o json``; None when the API server has no such Node."""
    try:
        items = json.loads(nodes_json).get('items') or []
    except (ValueError, AttributeError):
        raise ClusterError('kubectl get nodes -o json did not print a node list: %s' % (nodes_json or '')[:300])
    for item in items:
        name = (item.get('metadata') or {}).get('name')
        internal = [entry.get('address') for entry in (item.get('status') or {}).get('addresses') or []
                    if entry.get('type') == 'InternalIP']
        if node == name or node in internal:
            return name, internal[0] if internal else None
    return None


def remove_node_args(node, force, internal_ip=None, address=None):
    """``microk8s remove-node`` arguments. With ``force``, the departed node's IP is passed when known:
    when Kubernetes has no Node of that name (any more), remove-node matches its argument against the
    datastore's addresses as an IP prefix (remove_node.py:83-94), so a name never removes the datastore
    entry of a dead control plane."""
    if not force:
        return ['remove-node', node]
    return ['remove-node', internal_ip or address or node, '--force']


# remove-node prints "Node X does not exist in Kubernetes." for ANY failure of its kubectl or dqlite
# queries (remove_node.py:51-94: one try, except CalledProcessError): an API server that does not
# answer while dqlite elects a leader, a stopped node. Only the API server can say that a Node is gone.
NODE_FOUND = 'found'
NODE_GONE = 'gone'
NODE_UNKNOWN = 'unknown'


def decide_removal(rc, output, node, lookup, lookup_error=None):
    """What a ``remove-node`` run means, given what the API server said afterwards.

    ``lookup`` is NODE_FOUND, NODE_GONE or NODE_UNKNOWN (the API server did not answer:
    ``lookup_error``). Returns ``(outcome, message)``; outcome ``removed`` (a change), ``absent``
    (nothing to remove), ``retry`` (the removal may succeed once the API server and the datastore
    answer), ``still_in_dqlite`` or ``failed``.
    """
    text = (output or '').strip()
    unknown = 'the API server did not answer the check whether node %s still exists (%s)' % (node, lookup_error)
    if rc == 0:
        return 'removed', 'removed node %s from the cluster' % node
    if 'Removal failed' in text:
        return ('still_in_dqlite', 'node %s is still registered with dqlite: let it leave first (microk8s leave on '
                                   'the node), or pass force when the machine is gone for good' % node)
    if 'Removing node entry found in dqlite' in text:
        # remove_node.py:89-94: the datastore entry went, the exit code is 1 all the same
        if lookup == NODE_GONE:
            return 'removed', 'removed the datastore entry of node %s (Kubernetes had no Node of it)' % node
        return 'retry', ('removed the datastore entry of node %s but its Node is still there' % node
                         if lookup == NODE_FOUND else unknown)
    if re.search(r'Node \S+ does not exist', text):
        if lookup == NODE_GONE:
            return 'absent', 'node %s is not in the cluster' % node
        if lookup == NODE_FOUND:
            return 'retry', ('microk8s remove-node said node %s does not exist, but the API server still lists it: '
                             'remove-node prints that for any failure of its kubectl or dqlite query (API server or '
                             'datastore not answering, for example while dqlite elects a leader after a control '
                             'plane left, or microk8s stopped on this node)' % node)
        return 'retry', unknown
    return 'failed', 'microk8s remove-node %s failed with exit code %s: %s' % (node, rc, text[-500:])


# --------------------------------------------------------------------------------------------
# Module bodies


def membership_facts(cli, ready_timeout=None):
    """What a node says about itself: installed, running, worker lock, dqlite nodes, node name."""
    installed = cli.installed()
    worker_lock = bool(installed and cli.is_worker_locked())
    status = cli.status(wait_ready_timeout=ready_timeout) if installed and not worker_lock else None
    ha = (status or {}).get('high_availability') or dict(nodes=[], voters=[], standby=[], spares=[])
    return dict(
        installed=installed,
        running=bool(status and status.get('running')),
        worker=worker_lock,
        clustered=is_clustered(worker_lock, ha.get('nodes')),
        datastore_unavailable=bool(status and status.get('running')) and datastore_unavailable(ha),
        high_availability=ha,
        # microk8s registers the Kubernetes Node under this name (socket.gethostname().lower()).
        node_name=socket.gethostname().lower(),
    )


def _fail(module, msg, **result):
    result.setdefault('changed', False)
    module.fail_json(msg=msg, **result)


def run_join_token(module):
    params = module.params
    cli = Microk8sCli(module)
    ttl = params['ttl']
    if not cli.installed():
        if module.check_mode:
            module.exit_json(changed=True, join_urls=[], msg='microk8s is not installed yet; would create a join token')
        _fail(module, 'microk8s is not installed on this node: join tokens come from a running control plane')
    if cli.is_worker_locked():
        _fail(module, 'this node is a worker (clustered.lock): create join tokens on a control plane')
    try:
        status = cli.status()
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    if not status['running']:
        _fail(module, 'microk8s is not running on this control plane: start it (microk8s start) to create a join token')
    if module.check_mode:
        module.exit_json(changed=True, join_urls=[], msg='would create a join token')
    try:
        token = generate_token(params['token_length'])
    except ClusterError as exc:
        _fail(module, exc.msg)
    # Failure messages must not echo the token. A successful result keeps it (the joining nodes
    # need it) and the module's action plugin hides that result from callbacks and logs.
    module.no_log_values.add(token)
    try:
        rc, out, err = cli.run(add_node_args(token, ttl))
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    if rc != 0:
        _fail(module, 'microk8s add-node failed (rc=%s): %s' % (rc, (out + err).strip()[-500:]), rc=rc)
    try:
        parsed = parse_add_node_output(out, token)
    except ClusterError as exc:
        _fail(module, exc.msg)
    module.no_log_values.discard(token)
    module.exit_json(
        changed=True,
        join_urls=parsed['urls'],
        fingerprint=parsed['fingerprint'],
        ttl=ttl,
        single_use=not ttl,
        expires_at=int(time.time()) + ttl if ttl else None,
    )


def _membership(cli, params, join_urls=None):
    facts = membership_facts(cli, params['ready_timeout'])
    cluster = cluster_hosts(params['cluster_nodes'], join_urls)
    state, message = decide_membership(params['role'], facts['installed'], facts['worker'], facts['running'],
                                       facts['high_availability']['nodes'], cluster, facts['datastore_unavailable'])
    return facts, state, message


def _wait_member(cli, params, join_urls):
    """After a successful join: poll until the node reports itself a member (dqlite settles in seconds).

    While its services restart after a join, ``microk8s status`` may time out (its dqlite query alone
    retries for up to ~90 s, common/utils.py:96-138) or print something unrecognised: those count as
    "not yet". Returns ``(facts, state, message)``; facts is None when the status never parsed.
    """
    deadline = time.time() + params['ready_timeout']
    while True:
        try:
            facts, state, message = _membership(cli, params, join_urls)
        except Microk8sError as exc:
            facts, state, message = None, STATUS_UNREADABLE, exc.msg
        if state == MEMBER or time.time() >= deadline:
            return facts, state, message
        time.sleep(3)


def run_join(module):
    params = module.params
    role = params['role']
    cli = Microk8sCli(module)
    result = dict(changed=False, role=role, attempts=[])
    if params['connect_timeout'] < 1:
        _fail(module, 'connect_timeout must be at least 1 second, got %s' % params['connect_timeout'],
              reason='bad_option', retry_token=False, **result)
    try:
        facts, state, message = _membership(cli, params)
    except Microk8sError as exc:
        module.fail_json(reason='status', retry_token=False, **dict(result, **exc.fail_kwargs()))
    result.update(membership=state, node_name=facts['node_name'])
    if state == MEMBER:
        module.exit_json(msg=message, **result)
    if state in (WRONG_ROLE, OTHER_CLUSTER, NOT_RUNNING, DATASTORE_UNAVAILABLE) or \
            (state == NOT_INSTALLED and not module.check_mode):
        _fail(module, message, reason=state, retry_token=False, **result)
    if module.check_mode:
        result['changed'] = True
        module.exit_json(msg=message if state == NEEDS_JOIN else
                         'microk8s is not installed yet: would join as %s once it is' % role.replace('_', ' '),
                         **result)
    if not params['join_urls']:
        _fail(module, 'the node must join but no join URL was given: create one with sciplat.k8s.microk8s_join_token '
                      'on the first control plane and pass its join_urls', reason='no_url', retry_token=True, **result)
    try:
        urls = order_join_urls(params['join_urls'], params['join_address'])
    except ClusterError as exc:
        _fail(module, exc.msg, reason='bad_url', retry_token=False, **result)
    failure = None
    for url in urls:
        target = parse_join_url(url)
        address = target['address']
        unreachable = reach_agent(address, target['port'], params['connect_timeout'])
        if unreachable:
            failure = dict(reason='unreachable', msg=unreachable, retry_token=False, next_url=True)
            result['attempts'].append(dict(address=address, reason='unreachable', detail=unreachable))
            continue
        try:
            rc, out, err = cli.run(join_args(url, role), timeout=params['timeout'])
            timed_out = None
        except Microk8sError as exc:
            rc, out, err = exc.rc, exc.stdout or '', exc.stderr or ''
            timed_out = params['timeout'] if exc.rc in TIMEOUT_RCS else None
        if rc == 0 and not timed_out:
            result['attempts'].append(dict(address=address, reason='joined'))
            _after_join(module, cli, result, address, out)
        failure = classify_join_failure(rc, out + err, timed_out, is_ipv6(address))
        result['attempts'].append(dict(address=address, reason=failure['reason'], rc=rc, detail=failure['msg']))
        if not failure['next_url']:
            break
    _fail(module, join_failure_message(result['attempts'], failure), reason=failure['reason'],
          retry_token=failure['retry_token'], **result)


def _after_join(module, cli, result, address, out):
    """Report a join that microk8s said succeeded, once the node says it is a member.

    The module fails (changed=true, the node has joined) rather than warns when the node does not
    report itself a member in time: what follows a join (Node labels, addons, the next node's join)
    needs a member that answers, and a rerun finds the node a member and goes on unchanged.
    """
    params = module.params
    role = params['role']
    facts, state, message = _wait_member(cli, params, params['join_urls'])
    result.update(changed=True, membership=state, stdout=out)
    if state != MEMBER:
        _fail(module, 'microk8s join through %s succeeded, so this node has joined, but it did not report itself a '
                      'member within %s s (%s): check microk8s status on it, then rerun'
              % (address, params['ready_timeout'], message), reason='not_member_after_join', retry_token=False,
              **result)
    module.exit_json(msg='joined the cluster as %s through %s' % (role.replace('_', ' '), address),
                     high_availability=facts['high_availability'], **result)


def _leave(module, cli):
    params = module.params
    try:
        facts = membership_facts(cli, params['ready_timeout'])
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    result = dict(changed=False, node_name=facts['node_name'], clustered=facts['clustered'])
    if not facts['installed']:
        module.exit_json(msg='microk8s is not installed: not in a cluster', **result)
    if not facts['worker'] and not facts['running']:
        _fail(module, 'microk8s is not running on this node: start it (microk8s start) to let it leave', **result)
    if facts['datastore_unavailable']:
        # An empty datastore view would otherwise read as "not in a cluster" and skip the leave.
        result['clustered'] = None
        _fail(module, DATASTORE_UNAVAILABLE_MSG, reason=DATASTORE_UNAVAILABLE, **result)
    if not facts['clustered']:
        module.exit_json(msg='not in a cluster', **result)
    if module.check_mode:
        module.exit_json(**dict(result, changed=True, msg='would leave the cluster'))
    try:
        rc, out, err = cli.run(['leave'], timeout=params['timeout'])
    except Microk8sError as exc:
        module.fail_json(**exc.fail_kwargs())
    if rc != 0:
        reason, msg = classify_leave_failure(rc, out + err)
        _fail(module, msg, reason=reason, rc=rc, stdout=out, stderr=err, **result)
    module.exit_json(**dict(result, changed=True, msg='left the cluster', stdout=out))


def _lookup_node(cli, node):
    """``(NODE_FOUND|NODE_GONE|NODE_UNKNOWN, (name, InternalIP) or the error)`` from the API server."""
    try:
        rc, out, err = cli.run(['kubectl', 'get', 'nodes', '-o', 'json'], timeout=60)
        if rc != 0:
            return NODE_UNKNOWN, (err or out).strip()[-300:]
        found = find_node(out, node)
    except (Microk8sError, ClusterError) as exc:
        return NODE_UNKNOWN, exc.msg
    return (NODE_FOUND, found) if found else (NODE_GONE, None)


def _remove(module, cli):
    params = module.params
    node = params['node']
    if module.check_mode:
        module.exit_json(changed=True, node=node, msg='would remove node %s from the cluster' % node)
    deadline = time.time() + params['ready_timeout']
    runs = 0
    while True:
        internal_ip = None
        if params['force']:
            lookup, found = _lookup_node(cli, node)
            internal_ip = found[1] if lookup == NODE_FOUND else None
            if lookup == NODE_GONE and not params['address'] and not is_ip_literal(node) and not runs:
                module.warn('Kubernetes has no Node %s, so remove-node --force cannot find its datastore entry by '
                            'name: pass its IP address as address to remove that entry too' % node)
        try:
            rc, out, err = cli.run(remove_node_args(node, params['force'], internal_ip, params['address']),
                                   timeout=params['timeout'])
        except Microk8sError as exc:
            module.fail_json(**exc.fail_kwargs())
        runs += 1
        lookup, found = _lookup_node(cli, node) if rc != 0 else (NODE_GONE, None)
        outcome, msg = decide_removal(rc, out + err, node, lookup, found if lookup == NODE_UNKNOWN else None)
        if outcome != 'retry' or time.time() >= deadline:
            break
        # The API server and dqlite answer again once a leader is elected (seconds).
        time.sleep(5)
    result = dict(node=node, runs=runs, stdout=out)
    if outcome in ('removed', 'absent'):
        module.exit_json(changed=outcome == 'removed', msg=msg, **result)
    if outcome == 'retry':
        msg = '%s; still so after %s s (ready_timeout)' % (msg, params['ready_timeout'])
        outcome = 'not_confirmed'
    _fail(module, msg, reason=outcome, rc=rc, stderr=err, **result)


def run_leave(module):
    cli = Microk8sCli(module)
    if module.params['node']:
        _remove(module, cli)
    else:
        _leave(module, cli)
