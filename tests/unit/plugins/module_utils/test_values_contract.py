# -*- coding: utf-8 -*-
"""The values contract on small charts written here: what templates read, what is free-form, what is refused."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import tarfile

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils import values_contract as vc

TEMPLATE = '''
{{- $ui := index .Values "platform-ui" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ include "chart.name" . }}
  labels: {{- toYaml .Values.labels | nindent 4 }}
data:
  host: {{ $.Values.global.publicHost | quote }}
  class: {{ $ui.ingress.className }}
  enabled: {{ .Values.smpc.enabled }}
  {{- with .Values.controller }}
  dns: {{ .workers_dns }}
  {{- with .nested }}
  deep: {{ .leaf }}
  {{- end }}
  {{- end }}
  {{- if hasKey .Values.keycloak "realm" }}
  realm: {{ get .Values.keycloak "realm" }}
  {{- end }}
  protocol: {{ dig "keycloak" "protocol" "https" .Values.auth }}
  {{- range $name, $port := .Values.ports }}
  {{ $name }}: {{ $port }}
  {{- end }}
  {{- with .Values.podAnnotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
'''
VALUES = {
    'global': {'publicHost': 'example.org'},
    'platform-ui': {'ingress': {'className': 'haproxy', 'enabled': True}},
    'smpc': {'enabled': False, 'optional': False},
    'controller': {'workers_dns': 'svc'},
    'labels': {},
    'ports': {'http': 80},
    'podAnnotations': None,
    'keycloak': {'host': 'iam'},
}


def chart_files(templates=None, values=None, extra=None):
    files = {'Chart.yaml': yaml.safe_dump({'apiVersion': 'v2', 'name': 'app', 'version': '1.0.0'}).encode(),
             'values.yaml': yaml.safe_dump(VALUES if values is None else values).encode()}
    for name, text in (templates if templates is not None else {'cm.yaml': TEMPLATE}).items():
        files['templates/' + name] = text.encode()
    files.update(extra or {})
    return vc.ChartFiles(files)


def problems(values, files=None, accept=()):
    return [(p['path'], p['problem']) for p in vc.check_values(vc.ChartModel(files or chart_files()), values, accept)]


def test_reads_are_found_as_templates_write_them():
    reads = {p.replace('\0', '.') for p in vc.ChartModel(chart_files()).reads}
    assert {'global.publicHost', 'platform-ui.ingress.className', 'smpc.enabled', 'controller.workers_dns',
            'controller.nested.leaf', 'keycloak.realm', 'auth.keycloak.protocol', 'labels', 'ports',
            'podAnnotations'} <= reads
    # Release and Chart objects, the bound variable's root and the values root are not values paths.
    assert not {p for p in reads if p.startswith(('Release', 'Name'))}


def test_keys_the_chart_defines_or_reads_pass():
    assert problems({'smpc': {'enabled': True, 'optional': True}, 'keycloak': {'realm': 'mip', 'host': 'x'},
                     'controller': {'nested': {'leaf': 1}}, 'platform-ui': {'ingress': {'enabled': False}}}) == []


def test_subtrees_consumed_whole_or_defaulting_to_empty_are_free_form():
    assert problems({'labels': {'team': 'a'}, 'ports': {'https': 443}, 'podAnnotations': {'a/b': 'c'}}) == []


def test_an_unknown_key_is_refused_with_the_nearest_real_keys():
    (problem,) = vc.check_values(vc.ChartModel(chart_files()), {'smpc': {'enabeld': True}})
    assert problem == {'path': 'smpc.enabeld', 'problem': 'unknown', 'suggestions': ['smpc.enabled']}
    assert vc.format_problem(problem) == 'smpc.enabeld is not read by the chart (did you mean smpc.enabled?)'


def test_a_string_where_the_default_is_a_boolean_is_refused():
    (problem,) = vc.check_values(vc.ChartModel(chart_files()), {'smpc': {'enabled': 'false'}})
    assert problem['problem'] == 'not_boolean' and problem['got'] == 'false'
    assert 'smpc.enabled is "false", but the chart\'s default is a boolean' in vc.format_problem(problem)
    # Anything else than a boolean word is named by its type only: the value may be a secret.
    (other,) = vc.check_values(vc.ChartModel(chart_files()), {'smpc': {'enabled': 's3cr3t-t0ken'}})
    assert other['got'] == 'str' and 's3cr3t' not in vc.format_problem(other)


def test_accepted_paths_and_their_subtrees_pass():
    assert problems({'extra': {'a': 1}, 'smpc': {'typo': 1}}, accept=['extra', 'smpc.typo']) == []


def test_subcharts_under_their_alias_with_a_shared_global():
    sub = io.BytesIO()
    with tarfile.open(fileobj=sub, mode='w:gz') as archive:
        for name, text in {'catalogue/Chart.yaml': 'apiVersion: v2\nname: catalogue\nversion: 1.15.0\n',
                           'catalogue/values.yaml': 'hostname: null\nimageTag: {catalogue: null}\n',
                           'catalogue/templates/d.yaml': 'x: {{ .Values.global.domain }} {{ .Values.server }}\n'}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    chart = yaml.safe_dump({'apiVersion': 'v2', 'name': 'app', 'version': '1.0.0', 'dependencies': [
        {'name': 'catalogue', 'version': '1.15.0', 'repository': 'https://charts.example.org', 'alias': 'metadata-catalogue'}]})
    files = chart_files(extra={'Chart.yaml': chart.encode(), 'charts/catalogue-1.15.0.tgz': sub.getvalue()})
    assert problems({'metadata-catalogue': {'hostname': 'h', 'server': 's', 'imageTag': {'catalogue': '1'}},
                     'global': {'domain': 'd'}}, files) == []
    assert problems({'metadata-catalogue': {'hostnme': 'h'}, 'catalogue': {'server': 's'}}, files) == [
        ('catalogue.server', 'unknown'), ('metadata-catalogue.hostnme', 'unknown')]


def test_defines_do_not_inherit_the_context_of_the_file():
    template = '{{- with .Values.a }}{{ .b }}{{- end }}\n{{- define "x" }}{{ .c }}{{- end }}'
    model = vc.ChartModel(chart_files({'t.yaml': template}, {'a': {'b': 1}}))
    assert {p.replace('\0', '.') for p in model.reads} == {'a', 'a.b'}


def test_the_schema_is_checked_against_the_values_merged_over_the_defaults():
    pytest.importorskip('jsonschema')
    schema = {'type': 'object', 'required': ['image'], 'properties': {
        'image': {'type': 'object', 'properties': {'tag': {'type': 'string'}}, 'required': ['tag']},
        'replicas': {'type': 'integer', 'maximum': 1}}}
    files = chart_files({'d.yaml': '{{ .Values.image.tag }} {{ .Values.replicas }}'}, {'image': {'tag': '1.0'}, 'replicas': 1},
                        {'values.schema.json': json.dumps(schema).encode()})
    model = vc.ChartModel(files)
    defaults = {'image': {'tag': '1.0'}, 'replicas': 1}
    assert vc.schema_problems(model, vc.coalesce(defaults, {'replicas': 1})) == []
    assert vc.schema_problems(model, vc.coalesce(defaults, {'replicas': 3, 'image': {'tag': None}})) == [
        "image: 'tag' is a required property", 'replicas: 3 is greater than the maximum of 1']


def test_coalesce_removes_defaults_set_to_null():
    assert vc.coalesce({'a': {'b': 1, 'c': 2}, 'd': 3}, {'a': {'c': None}, 'e': 4}) == {'a': {'b': 1}, 'd': 3, 'e': 4}


def test_the_shape_keeps_paths_and_types_and_no_value():
    shaped = vc.shape({'smpc': {'enabled': 'false', 'image': 'gpikra/coordinator:v7'}, 'localnodes': 2, 'on': True,
                       'ports': [80], 'password': 's3cr3t', 'empty': None})
    assert shaped == {'smpc': {'enabled': 'false', 'image': ''}, 'localnodes': 0, 'on': True, 'ports': [],
                      'password': '', 'empty': None}
    model = vc.ChartModel(chart_files())
    assert vc.check_values(model, vc.shape({'smpc': {'enabled': 'false'}})) == vc.check_values(
        model, {'smpc': {'enabled': 'false'}})


def test_a_case_slip_suggests_only_the_real_key():
    (problem,) = vc.check_values(vc.ChartModel(chart_files()), {'platform-ui': {'ingress': {'classname': 'x'}}})
    assert problem['suggestions'] == ['platform-ui.ingress.className']
