# -*- coding: utf-8 -*-
"""helm_release's post-renderer: drops, merge patches, container patches, and the written script run as helm would."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import subprocess
import sys

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils import post_render


def obj(kind, name, namespace=None, **extra):
    metadata = {'name': name}
    if namespace:
        metadata['namespace'] = namespace
    document = {'apiVersion': 'v1', 'kind': kind, 'metadata': metadata}
    document.update(extra)
    return document


def deployment(name, *containers):
    return obj('Deployment', name, 'scipion', spec={'template': {'spec': {'containers': [
        {'name': c, 'image': c + ':1'} for c in containers]}}})


@pytest.mark.parametrize('target, patch, expected', [
    ({'a': 1, 'b': {'c': 2}}, {'b': {'d': 3}}, {'a': 1, 'b': {'c': 2, 'd': 3}}),
    ({'a': 1, 'b': 2}, {'a': None}, {'b': 2}),
    ({'ports': [{'port': 1}]}, {'ports': [{'port': 2}]}, {'ports': [{'port': 2}]}),
    ({'a': 'x'}, {'a': {'b': 1}}, {'a': {'b': 1}}),
])
def test_merge_patch_follows_rfc_7386(target, patch, expected):
    assert post_render.merge_patch(target, patch) == expected


def test_drops_by_kind_and_name_and_by_namespace_keep_the_order():
    documents = [obj('ServiceAccount', 'sa', 'prod'), obj('ClusterRole', 'compute-submission-role'),
                 obj('ClusterRole', 'other'), obj('ConfigMap', 'nginx', 'devtest'), obj('ConfigMap', 'settings', 'prod')]
    kept = post_render.post_render(documents, {'drop': [{'kind': 'ClusterRole', 'name': 'compute-submission-role'}],
                                               'drop_namespaces': ['devtest']})
    assert [(d['kind'], d['metadata']['name']) for d in kept] == [
        ('ServiceAccount', 'sa'), ('ClusterRole', 'other'), ('ConfigMap', 'settings')]


def test_patches_merge_objects_and_their_containers():
    documents = [deployment('scipion-master', 'master', 'sidecar'),
                 obj('Service', 'vnc', 'scipion', spec={'type': 'NodePort', 'ports': [{'port': 5901, 'nodePort': 32142}]})]
    config = {'patches': [
        {'kind': 'Deployment', 'name': 'scipion-master',
         'merge': {'spec': {'template': {'spec': {'nodeSelector': {'gpu': 'true'}}}}},
         'containers': {'master': {'resources': {'limits': {'nvidia.com/gpu': 1}}}}},
        {'kind': 'Service', 'merge': {'spec': {'ports': [{'port': 5901, 'nodePort': 32143}]}}},
    ]}
    master, service = post_render.post_render(documents, config)
    pod = master['spec']['template']['spec']
    assert pod['nodeSelector'] == {'gpu': 'true'}
    assert pod['containers'] == [{'name': 'master', 'image': 'master:1', 'resources': {'limits': {'nvidia.com/gpu': 1}}},
                                 {'name': 'sidecar', 'image': 'sidecar:1'}]
    assert service['spec'] == {'type': 'NodePort', 'ports': [{'port': 5901, 'nodePort': 32143}]}
    # The input is left as it was.
    assert 'nodeSelector' not in documents[0]['spec']['template']['spec']


def test_every_container_with_a_star_and_cronjob_templates():
    cronjob = obj('CronJob', 'expire', 'prod', spec={'jobTemplate': {'spec': {'template': {'spec': {'containers': [
        {'name': 'a'}, {'name': 'b'}]}}}}})
    (patched,) = post_render.post_render([cronjob], {'patches': [{'kind': 'CronJob', 'containers': {'*': {'x': 1}}}]})
    assert patched['spec']['jobTemplate']['spec']['template']['spec']['containers'] == [{'name': 'a', 'x': 1},
                                                                                        {'name': 'b', 'x': 1}]


@pytest.mark.parametrize('patch, message', [
    ({'kind': 'Deployment', 'name': 'renamed', 'merge': {'x': 1}}, 'Deployment renamed: the chart renders no such object'),
    ({'kind': 'Deployment', 'containers': {'main': {}}}, 'Deployment \\*: no container named main'),
    ({'kind': 'Service', 'containers': {'*': {}}}, 'a Service has no Pod template'),
])
def test_a_patch_that_finds_nothing_to_patch_fails(patch, message):
    documents = [deployment('scipion-master', 'master'), obj('Service', 'vnc', 'scipion')]
    with pytest.raises(post_render.PostRenderError, match=message):
        post_render.post_render(documents, {'patches': [patch]})


def test_the_written_script_runs_as_helm_runs_it(tmp_path):
    script = tmp_path / 'post-render.py'
    config = {'drop': [{'kind': 'ClusterRole', 'name': 'fixed'}],
              'patches': [{'kind': 'Deployment', 'containers': {'master': {'resources': {'limits': {'gpu': 1}}}}}]}
    script.write_text(post_render.script(sys.executable, config))
    script.chmod(0o700)
    rendered = '---\n'.join(yaml.safe_dump(d) for d in [obj('ClusterRole', 'fixed'), deployment('m', 'master')])
    done = subprocess.run([str(script)], input=rendered, capture_output=True, text=True, check=True)
    (kept,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert kept['spec']['template']['spec']['containers'][0]['resources'] == {'limits': {'gpu': 1}}

    failing = subprocess.run([str(script)], input=yaml.safe_dump(obj('ConfigMap', 'c')), capture_output=True, text=True,
                             check=False)
    assert failing.returncode == 1
    assert failing.stderr == 'sciplat.k8s post-renderer: Deployment *: the chart renders no such object to patch\n'
