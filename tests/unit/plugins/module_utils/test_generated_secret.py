# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.sciplat.k8s.plugins.module_utils import generated_secret, k8s_secrets


def key(name, generate='password', length=None):
    return dict(name=name, generate=generate, length=length)


def test_only_missing_keys_are_generated_in_declared_order():
    keys = [key('b'), key('a'), key('c')]
    assert [k['name'] for k in generated_secret.missing_keys({'a': 'x'}, keys)] == ['b', 'c']
    assert generated_secret.missing_keys({'a': 'x', 'b': 'y', 'c': 'z'}, keys) == []
    assert len(generated_secret.missing_keys(None, keys)) == 3


def test_validation_names_each_bad_key():
    problems = generated_secret.validate_keys([
        key('good'), key('good'), key('bad/slash'), key('rsa', 'rsa_private_key', 1000), key('short', 'hex', 4)])
    text = ' '.join(problems)
    assert "'good' is declared twice" in text
    assert "'bad/slash' is not a valid Secret key" in text
    assert "'rsa': an RSA key length must be one of 2048, 3072, 4096 bits, not 1000" in text
    assert "'short': length must be between 8 and 4096, not 4" in text
    assert generated_secret.validate_keys([key('a.b_c-d'), key('r', 'rsa_private_key', 4096)]) == []


def test_metadata_patch_adds_and_changes_but_never_removes():
    existing = {'labels': {'keep': '1', 'change': 'old'}, 'annotations': None}
    assert generated_secret.metadata_patch(existing, {'change': 'new', 'add': 'x'}, {}) == {
        'labels': {'change': 'new', 'add': 'x'}}
    assert generated_secret.metadata_patch(existing, {'keep': '1'}, {}) is None
    assert generated_secret.metadata_patch({}, {}, {'a': 'b'}) == {'annotations': {'a': 'b'}}


def test_generators_give_the_documented_shapes():
    assert len(k8s_secrets.generate('password')) == 32
    assert k8s_secrets.generate('password', 12).isalnum()
    assert len(k8s_secrets.generate('hex', 7)) == 7
    assert len(base64.b64decode(k8s_secrets.generate('base64_bytes', 24))) == 24
    assert len(k8s_secrets.generate('uuid').split('-')) == 5
    assert k8s_secrets.generate('password') != k8s_secrets.generate('password')


def test_fingerprints_never_contain_the_value():
    data = {'token': 'a-long-secret-value'}
    redacted = k8s_secrets.redact_data(data)
    assert redacted['token'].startswith('sha256:') and len(redacted['token']) == len('sha256:') + 8
    assert 'secret' not in redacted['token']
    encoded = k8s_secrets.encode_data(data)
    assert k8s_secrets.decode_data(encoded) == data
    assert k8s_secrets.decode_data({'broken': 'abc'}) == {'broken': None}


def test_recorded_keys_come_from_the_annotation_or_from_an_older_secret_itself():
    annotated = {'annotations': {generated_secret.KEYS_ANNOTATION: 'a,b'}}
    assert generated_secret.recorded_keys(annotated, {'a': 'x'}) == {'a', 'b'}
    assert generated_secret.recorded_keys({'annotations': None}, {'a': 'x', 'c': 'y'}) == {'a', 'c'}
    assert generated_secret.recorded_keys({}, None) == set()


def test_a_recorded_key_that_is_gone_is_lost_unless_its_value_is_restored():
    keys = [key('a'), key('b'), key('new')]
    assert generated_secret.lost_keys({'a', 'b'}, {'a': 'x'}, keys, {}) == ['b']
    assert generated_secret.lost_keys({'a', 'b'}, {'a': 'x'}, keys, {'b': 'old'}) == []
    # A key declared for the first time is missing, not lost; a recorded key no longer declared is not ours to judge.
    assert generated_secret.lost_keys({'a', 'gone'}, {'a': 'x'}, keys, {}) == []
    message = generated_secret.lost_keys_message('mip', 'mip-secret', ['b'])
    assert "Secret mip/mip-secret: key(s) 'b'" in message
    assert 'playbooks/secrets_restore.yml' in message
    assert 'kubectl -n mip annotate secret mip-secret %s-' % generated_secret.KEYS_ANNOTATION in message


def test_restored_values_never_overwrite_and_must_be_declared():
    assert generated_secret.conflicting_values({'a': 'x', 'b': 'y'}, {'a': 'x', 'b': 'other', 'c': 'z'}) == ['b']
    assert generated_secret.validate_values({'a': '1', 'zz': '2'}, [key('a')]) == [
        "values: 'zz' is not one of the declared keys; declare it under keys."]


def test_the_module_labels_its_secrets_and_records_every_key():
    labels, annotations = generated_secret.wanted_metadata({'team': 'x'}, {'note': 'y'}, {'b', 'a'})
    assert labels == {'team': 'x', generated_secret.GENERATED_LABEL: 'true'}
    assert annotations == {'note': 'y', generated_secret.KEYS_ANNOTATION: 'a,b'}


def test_export_entries_give_back_what_restores_each_secret():
    resources = [
        {'metadata': {'namespace': 'mip', 'name': 'z', 'labels': {generated_secret.GENERATED_LABEL: 'true'},
                      'annotations': {generated_secret.KEYS_ANNOTATION: 'pw',
                                      'kubectl.kubernetes.io/last-applied-configuration': '{"data": "leak"}'}},
         'data': k8s_secrets.encode_data({'pw': 'secret-1'})},
        {'metadata': {'namespace': 'cyto', 'name': 'a'}, 'data': None},
    ]
    entries = generated_secret.export_entries(resources)
    assert [(e['namespace'], e['name']) for e in entries] == [('cyto', 'a'), ('mip', 'z')]
    assert entries[1] == {
        'namespace': 'mip', 'name': 'z', 'keys': [{'name': 'pw'}], 'data': {'pw': 'secret-1'},
        'labels': {generated_secret.GENERATED_LABEL: 'true'},
        'annotations': {generated_secret.KEYS_ANNOTATION: 'pw'}}
    assert entries[0]['keys'] == [] and entries[0]['data'] == {}
