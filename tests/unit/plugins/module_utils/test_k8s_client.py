# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import k8s_client

kubernetes = pytest.importorskip('kubernetes')

KUBECONFIG = {
    'apiVersion': 'v1',
    'kind': 'Config',
    'clusters': [
        {'name': 'one', 'cluster': {'server': 'https://one.example:16443', 'insecure-skip-tls-verify': True}},
        {'name': 'two', 'cluster': {'server': 'https://two.example:6443'}},
    ],
    'users': [{'name': 'admin', 'user': {'token': 'abc'}}],
    'contexts': [
        {'name': 'microk8s', 'context': {'cluster': 'one', 'user': 'admin'}},
        {'name': 'other', 'context': {'cluster': 'two', 'user': 'admin'}},
    ],
    'current-context': 'microk8s',
}


def params(**overrides):
    values = dict.fromkeys(k8s_client.AUTH_ARG_SPEC)
    values.update(overrides)
    return values


def test_kubeconfig_dict_uses_current_context():
    client = k8s_client.api_client(params(kubeconfig=KUBECONFIG))
    assert client.configuration.host == 'https://one.example:16443'
    assert client.configuration.verify_ssl is False


def test_kubeconfig_file_and_context(tmp_path):
    path = tmp_path / 'config'
    path.write_text(json.dumps(KUBECONFIG))
    client = k8s_client.api_client(params(kubeconfig=str(path), context='other'))
    assert client.configuration.host == 'https://two.example:6443'


def test_explicit_options_override_the_kubeconfig():
    client = k8s_client.api_client(params(kubeconfig=KUBECONFIG, host='https://override:1', validate_certs=True,
                                          api_key='sekret'))
    assert client.configuration.host == 'https://override:1'
    assert client.configuration.verify_ssl is True
    assert client.configuration.api_key == {'authorization': 'Bearer sekret'}


def test_host_alone_needs_no_kubeconfig(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    client = k8s_client.api_client(params(host='https://10.0.0.1:16443', api_key='t'))
    assert client.configuration.host == 'https://10.0.0.1:16443'


def test_missing_kubeconfig_names_the_option(tmp_path):
    with pytest.raises(k8s_client.K8sConnectionError) as err:
        k8s_client.api_client(params(kubeconfig=str(tmp_path / 'absent')))
    assert 'K8S_AUTH_KUBECONFIG' in str(err.value)
    assert 'absent' in str(err.value)


def test_every_auth_option_has_an_environment_fallback():
    for name, spec in k8s_client.AUTH_ARG_SPEC.items():
        assert spec['fallback'][1][0].startswith('K8S_AUTH_'), name
    secret_options = {name for name, spec in k8s_client.AUTH_ARG_SPEC.items() if spec.get('no_log')}
    assert secret_options == {'api_key', 'password'}


def test_api_error_message_reads_the_status_body():
    exc = kubernetes.client.rest.ApiException(status=409, reason='Conflict')
    exc.body = json.dumps({'message': 'the object has been modified'})
    assert k8s_client.api_error_message(exc) == '409 Conflict: the object has been modified'
    exc.body = 'not json'
    assert k8s_client.api_error_message(exc) == '409 Conflict: not json'
