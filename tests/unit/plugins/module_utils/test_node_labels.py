# -*- coding: utf-8 -*-
"""Validation, plans and patches of sciplat.k8s.node_labels, without a server.

The reconcile and retry tests drive the real NodeApi through ``StandInApiClient``, a stand-in for
kubernetes.client.ApiClient that keeps Nodes in memory; it answers only the three requests NodeApi
makes and exists to make conflicts and server errors happen on demand. Behaviour against a real
API server is covered by tests/integration/test_node_labels.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import node_labels as nl
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import ApiException

pytest.importorskip('kubernetes')

ANN = nl.MANAGED_ANNOTATION


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize('key', [
    'worker', 'smpc_player', 'a', 'A.b-c_d', 'x' * 63, 'example.com/role', 'k8s.sciplat.io/federation',
    'node-role.kubernetes.io/worker', ('a' * 63 + '.') * 3 + 'b' * 60 + '/n',
])
def test_valid_keys(key):
    assert nl.label_key_error(key) is None


@pytest.mark.parametrize('key, fragment', [
    ('', 'non-empty'),
    ('x' * 64, 'name part'),
    ('-worker', 'name part'),
    ('worker-', 'name part'),
    ('bad key', 'name part'),
    ('a/b/c', "prefix 'a/b'"),
    ('/worker', 'prefix before "/" must not be empty'),
    ('Example.com/role', "prefix 'Example.com'"),
    ('example.com/', "name part ''"),
    (('a' * 63 + '.') * 4 + 'b/n', 'DNS subdomain of 253'),
    ('kubernetes.io/hostname', 'reserved'),
    ('topology.kubernetes.io/zone', 'reserved'),
    ('k8s.io/x', 'reserved'),
    ('node.k8s.io/x', 'reserved'),
])
def test_invalid_keys_say_why(key, fragment):
    assert fragment in nl.label_key_error(key)


def test_reserved_prefix_can_be_allowed_exactly():
    allowed = ['topology.kubernetes.io']
    assert nl.label_key_error('topology.kubernetes.io/zone', allowed) is None
    assert 'reserved' in nl.label_key_error('node-role.kubernetes.io/worker', allowed)
    # a look-alike outside the reserved domains is not reserved at all
    assert nl.label_key_error('notkubernetes.io/x') is None


@pytest.mark.parametrize('value, valid', [
    ('', True), ('true', True), ('a' * 63, True), ('v1.2_3-x', True),
    ('a' * 64, False), ('-a', False), ('a b', False), ('a/b', False), ('ü', False),
])
def test_label_values(value, valid):
    assert (nl.label_value_error(value) is None) is valid


@pytest.mark.parametrize('raw, expected', [
    (True, 'true'), (False, 'false'), (3, '3'), (1.5, '1.5'), ('x', 'x'), ('', ''), (None, None),
    ({'state': 'absent'}, None), ({'value': 'x'}, 'x'), ({'value': True, 'state': 'present'}, 'true'),
])
def test_label_value_forms(raw, expected):
    assert nl.label_value(raw) == expected


@pytest.mark.parametrize('raw, fragment', [
    (['a'], 'not list'),
    ({'state': 'gone'}, 'state must be present or absent'),
    ({'state': 'present'}, 'needs a scalar value'),
    ({'value': {'x': 1}}, 'needs a scalar value'),
    ({'value': 'x', 'colour': 'red'}, 'unknown field(s) colour'),
])
def test_label_value_rejects(raw, fragment):
    with pytest.raises(ValueError, match=fragment.replace('(', r'\(').replace(')', r'\)')):
        nl.label_value(raw)


def test_normalize_collects_every_error_with_node_and_key():
    desired, errors = nl.normalize_labels({
        'worker1': {'worker': True, 'bad key': 'x', 'kubernetes.io/arch': 'amd64'},
        'worker2': {'zone': 'no spaces allowed'},
        'Bad_Node': {'worker': True},
        'worker3': ['worker'],
        'worker4': None,
    })
    assert desired == {'worker1': {'worker': 'true'}, 'worker2': {}, 'worker4': {}}
    assert len(errors) == 5
    joined = '\n'.join(errors)
    assert "node 'worker1', label 'bad key'" in joined
    assert "node 'worker1', label 'kubernetes.io/arch'" in joined
    assert "node 'worker2', label 'zone': value 'no spaces allowed'" in joined
    assert "node name 'Bad_Node'" in joined
    assert "node 'worker3': labels must be a mapping" in joined


def test_normalize_rejects_a_non_mapping():
    assert nl.normalize_labels(['worker1'])[1] == ['labels must be a mapping of node name to a mapping of labels']


# --- plans ------------------------------------------------------------------------------------

def metadata(labels, managed=None, rv='7', name='n1'):
    annotations = {'other/annotation': 'kept'}
    if managed is not None:
        annotations[ANN] = managed
    return {'name': name, 'resourceVersion': rv, 'labels': labels, 'annotations': annotations}


KUBELET = {'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux'}


def test_managed_annotation_round_trip():
    assert nl.parse_managed(' worker, master ,,') == {'worker', 'master'}
    assert nl.parse_managed(None) == set()
    assert nl.format_managed({'worker', 'master', 'a/b'}) == 'a/b,master,worker'


def test_plan_adds_changes_and_records_ownership():
    current = dict(KUBELET, zone='a')
    plan = nl.plan_node('n1', metadata(current), {'worker': 'true', 'zone': 'b'}, exclusive=False)
    assert plan.added == {'worker': 'true'}
    assert plan.changed == {'zone': {'before': 'a', 'after': 'b'}}
    assert plan.removed == {}
    assert plan.patch() == {
        'labels': {'worker': 'true', 'zone': 'b'},
        'annotations': {ANN: 'worker,zone'},
    }
    assert plan.labels_after == dict(KUBELET, worker='true', zone='b')


def test_plan_is_empty_when_everything_matches():
    plan = nl.plan_node('n1', metadata(dict(KUBELET, worker='true'), 'worker'), {'worker': 'true'}, exclusive=True)
    assert plan.patch() == {}
    assert plan.result(False) == dict(added={}, changed={}, removed={}, managed=['worker'], patched=False)


def test_plan_adopts_an_existing_label_by_recording_it_only():
    plan = nl.plan_node('n1', metadata(dict(KUBELET, worker='true')), {'worker': 'true'}, exclusive=False)
    assert (plan.added, plan.changed, plan.removed) == ({}, {}, {})
    assert plan.patch() == {'annotations': {ANN: 'worker'}}


def test_explicit_absent_removes_even_foreign_labels_and_forgets_them():
    current = dict(KUBELET, worker='true', smpc_player='true')
    plan = nl.plan_node('n1', metadata(current, 'worker,smpc_player'), {'smpc_player': None, 'gone': None},
                        exclusive=False)
    assert plan.removed == {'smpc_player': 'true'}
    assert plan.patch() == {'labels': {'smpc_player': None}, 'annotations': {ANN: 'worker'}}


def test_non_exclusive_keeps_undeclared_managed_labels_and_their_record():
    current = dict(KUBELET, worker='true', smpc_player='true')
    plan = nl.plan_node('n1', metadata(current, 'smpc_player,worker'), {'worker': 'true'}, exclusive=False)
    assert plan.patch() == {}
    assert plan.managed_after == {'worker', 'smpc_player'}


def test_exclusive_removes_only_managed_labels_no_longer_declared():
    current = dict(KUBELET, worker='true', smpc_player='true', team='users-own-label')
    plan = nl.plan_node('n1', metadata(current, 'smpc_player,worker'), {'worker': 'true'}, exclusive=True)
    assert plan.removed == {'smpc_player': 'true'}
    assert plan.patch() == {'labels': {'smpc_player': None}, 'annotations': {ANN: 'worker'}}
    assert plan.labels_after == dict(KUBELET, worker='true', team='users-own-label')


def test_exclusive_with_nothing_declared_drops_the_annotation():
    plan = nl.plan_node('n1', metadata(dict(KUBELET, worker='true'), 'worker'), {}, exclusive=True)
    assert plan.patch() == {'labels': {'worker': None}, 'annotations': {ANN: None}}


def test_exclusive_forgets_managed_keys_someone_else_already_removed():
    plan = nl.plan_node('n1', metadata(dict(KUBELET), 'worker'), {}, exclusive=True)
    assert plan.removed == {}
    assert plan.patch() == {'annotations': {ANN: None}}


def test_patch_body_is_guarded_by_resource_version():
    plan = nl.plan_node('n1', metadata({}, rv='42'), {'worker': 'true'}, exclusive=False)
    assert nl.patch_body(plan, '42') == {'metadata': {
        'resourceVersion': '42', 'labels': {'worker': 'true'}, 'annotations': {ANN: 'worker'}}}


def test_diff_shows_labels_and_managed_keys_before_and_after():
    plan = nl.plan_node('n1', metadata({'zone': 'a'}), {'zone': 'b'}, exclusive=False)
    assert plan.diff() == {
        'before_header': 'node/n1', 'after_header': 'node/n1',
        'before': {'labels': {'zone': 'a'}, 'managed': []},
        'after': {'labels': {'zone': 'b'}, 'managed': ['zone']},
    }


# --- NodeApi and reconcile against a stand-in client -------------------------------------------

class Response:
    def __init__(self, obj):
        self.data = json.dumps(obj).encode()


class StandInApiClient:
    """STAND-IN for kubernetes.client.ApiClient: Nodes in memory, merge patches with resourceVersion checks.

    ``before_patch`` runs before each PATCH is answered (to play a concurrent writer) and
    ``failures`` lists statuses to answer instead of the next requests.
    """

    def __init__(self, nodes):
        self.nodes = dict((md['name'], copy.deepcopy(md)) for md in nodes)
        self.requests = []
        self.before_patch = None
        self.failures = []

    def write(self, name, labels=None, annotations=None):
        node = self.nodes[name]
        for field, values in (('labels', labels), ('annotations', annotations)):
            target = node.setdefault(field, {})
            for key, value in (values or {}).items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
        node['resourceVersion'] = str(int(node['resourceVersion']) + 1)

    def call_api(self, path, method, query_params=None, header_params=None, body=None, **kwargs):
        self.requests.append((method, path, dict(query_params or [])))
        if self.failures:
            raise ApiException(status=self.failures.pop(0), reason='stand-in failure')
        if method == 'GET' and path == '/api/v1/nodes':
            selector = dict(query_params or []).get('fieldSelector')
            items = [{'metadata': copy.deepcopy(md)} for name, md in sorted(self.nodes.items())
                     if selector in (None, 'metadata.name=%s' % name)]
            return Response({'kind': 'PartialObjectMetadataList', 'items': items})
        name = path.rsplit('/', 1)[1]
        if name not in self.nodes:
            raise ApiException(status=404, reason='Not Found')
        if method == 'PATCH':
            assert header_params['Content-Type'] == 'application/merge-patch+json'
            if self.before_patch:
                self.before_patch(name)
            patch = dict(body['metadata'])
            if patch.pop('resourceVersion') != self.nodes[name]['resourceVersion']:
                raise ApiException(status=409, reason='Conflict')
            self.write(name, patch.get('labels'), patch.get('annotations'))
        return Response({'metadata': copy.deepcopy(self.nodes[name])})

    def count(self, method):
        return sum(1 for request in self.requests if request[0] == method)


def stand_in(*names, **labels):
    return StandInApiClient([metadata(dict(labels), name=name, rv='1') for name in names])


def api_for(client, retries=5):
    return nl.NodeApi(client, retries=retries, sleep=lambda seconds: None)


def test_reconcile_reads_once_and_patches_only_nodes_that_differ():
    client = stand_in('n1', 'n2', 'n3', worker='true')
    client.write('n1', annotations={ANN: 'worker'})
    result = nl.reconcile(api_for(client), {'n1': {'worker': 'true'}, 'n2': {'worker': 'true', 'gpu': 'yes'}})
    assert [r[0] for r in client.requests] == ['GET', 'PATCH']
    assert client.requests[0][2] == {}
    assert result['changed'] is True
    assert result['nodes']['n1']['patched'] is False
    assert result['nodes']['n2']['added'] == {'gpu': 'yes'}
    assert client.nodes['n2']['labels'] == {'worker': 'true', 'gpu': 'yes'}
    assert client.nodes['n2']['annotations'][ANN] == 'gpu,worker'
    assert 'n3' not in result['nodes']


def test_reconcile_of_one_node_uses_a_field_selector():
    client = stand_in('n1', 'n2')
    nl.reconcile(api_for(client), {'n2': {'worker': 'true'}})
    assert client.requests[0] == ('GET', '/api/v1/nodes', {'fieldSelector': 'metadata.name=n2'})


def test_check_mode_writes_nothing_and_predicts_the_change():
    client = stand_in('n1')
    result = nl.reconcile(api_for(client), {'n1': {'worker': 'true'}}, check_mode=True)
    assert client.count('PATCH') == 0
    assert result['changed'] is True
    assert result['nodes']['n1']['added'] == {'worker': 'true'}
    assert result['diff'][0]['after']['labels'] == {'worker': 'true'}


def test_missing_nodes_fail_before_any_write_and_are_all_named():
    client = stand_in('n1')
    with pytest.raises(nl.NodeLabelsError, match='not found in the cluster: ghost1, ghost2'):
        nl.reconcile(api_for(client), {'n1': {'worker': 'true'}, 'ghost2': {}, 'ghost1': {}})
    assert client.count('PATCH') == 0


def test_missing_nodes_can_be_ignored():
    client = stand_in('n1')
    result = nl.reconcile(api_for(client), {'n1': {'worker': 'true'}, 'ghost': {}}, missing='ignore')
    assert result['missing'] == ['ghost']
    assert client.nodes['n1']['labels'] == {'worker': 'true'}


def test_cluster_scope_cleans_undeclared_nodes_carrying_managed_labels():
    client = stand_in('n1', 'n2', 'n3', team='x')
    client.write('n2', labels={'worker': 'true'}, annotations={ANN: 'worker'})
    result = nl.reconcile(api_for(client), {'n1': {}}, exclusive=True, exclusive_scope='cluster')
    assert client.requests[0][2] == {}
    assert sorted(result['nodes']) == ['n1', 'n2']
    assert result['nodes']['n2']['removed'] == {'worker': 'true'}
    assert client.nodes['n2']['labels'] == {'team': 'x'}
    assert ANN not in client.nodes['n2']['annotations']


def test_conflict_rereads_the_node_and_keeps_the_concurrent_change():
    client = stand_in('n1', 'n2')
    writes = []

    def concurrent_writer(name):
        if not writes:
            writes.append(name)
            client.write(name, labels={'written-meanwhile': 'yes'})

    client.before_patch = concurrent_writer
    result = nl.reconcile(api_for(client), {'n1': {'worker': 'true'}, 'n2': {'worker': 'true'}})
    assert result['conflicts'] == 1
    assert [r[0] for r in client.requests] == ['GET', 'PATCH', 'GET', 'PATCH', 'PATCH']
    assert client.nodes['n1']['labels'] == {'worker': 'true', 'written-meanwhile': 'yes'}


def test_conflict_resolved_by_the_other_writer_needs_no_second_patch():
    client = stand_in('n1')
    client.before_patch = lambda name: client.write(name, labels={'worker': 'true'}, annotations={ANN: 'worker'})
    result = nl.reconcile(api_for(client), {'n1': {'worker': 'true'}})
    client.before_patch = None
    assert result['conflicts'] == 1
    assert result['changed'] is False
    assert client.count('PATCH') == 1


def test_endless_conflicts_give_up_after_the_retries_naming_the_node():
    client = stand_in('n1', 'n2')
    client.before_patch = lambda name: client.write(name, labels={'noise': client.nodes[name]['resourceVersion']})
    with pytest.raises(nl.NodeLabelsError, match="node 'n1': still conflicting after 2 fresh reads") as info:
        nl.reconcile(api_for(client, retries=2), {'n1': {'worker': 'true'}, 'n2': {'worker': 'true'}}, retries=2)
    assert client.count('PATCH') == 3
    assert info.value.result['nodes'] == {}


def test_transient_errors_are_retried_a_bounded_number_of_times():
    client = stand_in('n1')
    client.failures = [503, 500]
    api = api_for(client, retries=2)
    nl.reconcile(api, {'n1': {'worker': 'true'}})
    assert api.transient_retries == 2
    assert client.nodes['n1']['labels'] == {'worker': 'true'}

    client.failures = [503, 503, 503]
    with pytest.raises(ApiException) as info:
        api_for(client, retries=2).list()
    assert info.value.status == 503


def test_other_api_errors_are_not_retried_and_name_the_node():
    client = stand_in('n1', 'n2')
    client.write('n1', labels={'worker': 'true'}, annotations={ANN: 'worker'})

    def forbidden(name):
        raise ApiException(status=403, reason='Forbidden')

    client.before_patch = forbidden
    with pytest.raises(nl.NodeLabelsError, match="node 'n2': PATCH failed: 403 Forbidden") as info:
        nl.reconcile(api_for(client), {'n1': {'worker': 'true'}, 'n2': {'worker': 'true'}})
    assert client.count('PATCH') == 1
    assert info.value.result['nodes']['n1']['patched'] is False


def test_lost_connections_are_retried_then_reported_with_the_request():
    urllib3 = pytest.importorskip('urllib3')
    client = stand_in('n1')
    original = client.call_api
    drops = [urllib3.exceptions.ProtocolError('connection reset')]

    def flaky(path, method, **kwargs):
        if drops:
            raise drops.pop()
        return original(path, method, **kwargs)

    client.call_api = flaky
    api = api_for(client, retries=1)
    assert [md['name'] for md in api.list()] == ['n1']
    assert api.transient_retries == 1

    drops[:] = [urllib3.exceptions.ProtocolError('reset'), urllib3.exceptions.ProtocolError('reset again')]
    with pytest.raises(nl.NodeLabelsError, match='GET /api/v1/nodes: the API server could not be reached after 2 attempts'):
        api.list()
