# -*- coding: utf-8 -*-
"""Chart preparation: mirror rewrites, the private helm configuration, the build cache. helm itself is
replaced here by a recorder of what it is asked to do; tests/integration/test_helm_chart.py runs the real one."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tarfile

import pytest
import yaml

from ansible_collections.sciplat.k8s.plugins.module_utils import helm_chart

REPO = 'https://charts.example.org/stable'
MIRROR = 'http://127.0.0.1:8879/stable'
INDEX = {
    'apiVersion': 'v1',
    'entries': {'catalogue': [
        {'name': 'catalogue', 'version': '1.15.0', 'digest': 'ab', 'urls': [REPO + '/catalogue-1.15.0.tgz']},
        {'name': 'catalogue', 'version': '1.14.0', 'digest': 'cd', 'urls': ['catalogue-1.14.0.tgz']},
    ]},
}


@pytest.mark.parametrize('url, rewrites, expected', [
    ('https://github.com/cytomine/cytomine-helm.git', {}, ('https://github.com/cytomine/cytomine-helm.git', None)),
    ('https://github.com/cytomine/cytomine-helm.git', {'https://github.com/': 'file:///srv/git/'},
     ('file:///srv/git/cytomine/cytomine-helm.git', 'https://github.com/')),
    # The longest prefix wins, whatever the order of the map.
    ('https://github.com/cytomine/cytomine-helm.git',
     {'https://github.com/': 'file:///srv/git/', 'https://github.com/cytomine/cytomine-helm.git': 'file:///srv/c.git'},
     ('file:///srv/c.git', 'https://github.com/cytomine/cytomine-helm.git')),
    ('https://gitlab.com/x.git', {'https://github.com/': 'file:///srv/git/'}, ('https://gitlab.com/x.git', None)),
])
def test_rewrite_url(url, rewrites, expected):
    assert helm_chart.rewrite_url(url, rewrites) == expected


def test_mirrored_index_rewrites_absolute_and_resolves_relative_urls_against_the_mirror():
    index = helm_chart.mirrored_index(yaml.safe_dump(INDEX), MIRROR, {REPO: MIRROR})
    urls = [v['urls'] for v in index['entries']['catalogue']]
    assert urls == [[MIRROR + '/catalogue-1.15.0.tgz'], [MIRROR + '/catalogue-1.14.0.tgz']]


def test_mirrored_index_refuses_what_is_not_an_index():
    with pytest.raises(helm_chart.ChartError, match='is not a chart repository index'):
        helm_chart.mirrored_index('<html>not found</html>', MIRROR, {})


def write_chart(folder, dependencies=None, templates=None):
    folder.mkdir(parents=True, exist_ok=True)
    chart = {'apiVersion': 'v2', 'name': folder.name, 'version': '0.1.0'}
    if dependencies:
        chart['dependencies'] = dependencies
    (folder / 'Chart.yaml').write_text(yaml.safe_dump(chart))
    (folder / 'templates').mkdir(exist_ok=True)
    for name, text in (templates or {'cm.yaml': 'kind: ConfigMap'}).items():
        (folder / 'templates' / name).write_text(text)
    return str(folder)


class Helm(object):
    """Records helm's calls; `dependency build` writes an archive as helm does."""

    def __init__(self, rc=0, err=''):
        self.calls = []
        self.rc = rc
        self.err = err

    def __call__(self, argv, env):
        config = yaml.safe_load(open(env['HELM_REPOSITORY_CONFIG']))
        indexes = {name[:-len('-index.yaml')]: yaml.safe_load(open(os.path.join(env['HELM_REPOSITORY_CACHE'], name)))
                   for name in os.listdir(env['HELM_REPOSITORY_CACHE'])}
        self.calls.append({'argv': argv, 'env': env, 'repositories': config['repositories'], 'indexes': indexes})
        if self.rc == 0 and argv[1:3] == ['dependency', 'build']:
            os.makedirs(os.path.join(argv[3], 'charts'))
            with tarfile.open(os.path.join(argv[3], 'charts', 'catalogue-1.15.0.tgz'), 'w:gz') as archive:
                chart = os.path.join(argv[3], 'Chart.yaml')
                archive.add(chart, arcname='catalogue/Chart.yaml')
        return self.rc, '', self.err


def fetcher(answers):
    fetched = []

    def fetch(url):
        fetched.append(url)
        if url not in answers:
            raise IOError('HTTP Error 404: Not Found')
        return answers[url]
    fetch.fetched = fetched
    return fetch


DEPENDENCY = [{'name': 'catalogue', 'version': '1.15.0', 'repository': REPO}]


def test_a_chart_without_dependencies_is_used_in_place(tmp_path):
    folder = write_chart(tmp_path / 'exaflow')
    helm = Helm()
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {}, fetcher({}), helm)
    result = preparer.prepare_folder(folder)
    assert result['path'] == folder and result['dependencies'] == [] and result['changed'] is False
    assert result['digest'].startswith('sha256:') and helm.calls == []


def test_the_digest_follows_the_files(tmp_path):
    folder = write_chart(tmp_path / 'exaflow')
    first = helm_chart.folder_digest(folder)
    (tmp_path / 'exaflow' / 'templates' / 'cm.yaml').write_text('kind: Secret')
    second = helm_chart.folder_digest(folder)
    os.rename(os.path.join(folder, 'templates', 'cm.yaml'), os.path.join(folder, 'templates', 'other.yaml'))
    assert len({first, second, helm_chart.folder_digest(folder)}) == 3


def test_dependencies_are_built_from_the_mirror_with_the_original_urls_registered(tmp_path):
    folder = write_chart(tmp_path / 'datalab', DEPENDENCY)
    # A vendored archive is never trusted: the copy is built again.
    os.makedirs(os.path.join(folder, 'charts'))
    open(os.path.join(folder, 'charts', 'stale-0.0.1.tgz'), 'w').close()
    helm = Helm()
    fetch = fetcher({MIRROR + '/index.yaml': yaml.safe_dump(INDEX)})
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {REPO: MIRROR}, fetch, helm)

    result = preparer.prepare_folder(folder)

    assert fetch.fetched == [MIRROR + '/index.yaml']
    (call,) = helm.calls
    assert call['argv'][:3] == ['/bin/helm', 'dependency', 'build'] and call['argv'][-1] == '--skip-refresh'
    assert call['repositories'] == [{'name': 'sciplat-0', 'url': REPO}]
    assert call['indexes']['sciplat-0']['entries']['catalogue'][0]['urls'] == [MIRROR + '/catalogue-1.15.0.tgz']
    # helm's own homes are private: the user's repositories and cache stay untouched.
    assert all(call['env'][name].startswith(str(tmp_path / 'cache')) for name in
               ('HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME'))
    assert result['changed'] is True and result['path'] != folder
    assert sorted(os.listdir(os.path.join(result['path'], 'charts'))) == ['catalogue-1.15.0.tgz']
    assert result['dependencies'] == [{'name': 'catalogue', 'version': '1.15.0', 'repository': REPO, 'fetched_from': MIRROR}]
    # The source folder is left as it was; nothing of the private configuration stays behind.
    assert sorted(os.listdir(os.path.join(folder, 'charts'))) == ['stale-0.0.1.tgz']
    assert sorted(os.listdir(str(tmp_path / 'cache' / 'built'))) == sorted(
        [os.path.basename(result['path']), os.path.basename(result['path']) + '.built.json'])


def test_a_built_copy_is_reused_until_the_chart_or_the_mirror_changes(tmp_path):
    folder = write_chart(tmp_path / 'datalab', DEPENDENCY)
    helm = Helm()
    answers = {MIRROR + '/index.yaml': yaml.safe_dump(INDEX), 'http://other/stable/index.yaml': yaml.safe_dump(INDEX)}
    cache = str(tmp_path / 'cache')
    first = helm_chart.ChartPreparer(cache, '/bin/helm', {REPO: MIRROR}, fetcher(answers), helm).prepare_folder(folder)
    again = helm_chart.ChartPreparer(cache, '/bin/helm', {REPO: MIRROR}, fetcher(answers), helm).prepare_folder(folder)
    assert again == dict(first, changed=False) and len(helm.calls) == 1

    other = helm_chart.ChartPreparer(cache, '/bin/helm', {REPO: 'http://other/stable'}, fetcher(answers), helm)
    assert other.prepare_folder(folder)['path'] != first['path']
    write_chart(tmp_path / 'datalab', DEPENDENCY, {'cm.yaml': 'kind: Secret'})
    edited = helm_chart.ChartPreparer(cache, '/bin/helm', {REPO: MIRROR}, fetcher(answers), helm).prepare_folder(folder)
    assert edited['changed'] is True and edited['digest'] != first['digest'] and len(helm.calls) == 3


def test_an_interrupted_build_is_made_again(tmp_path):
    folder = write_chart(tmp_path / 'datalab', DEPENDENCY)
    helm = Helm()
    answers = {MIRROR + '/index.yaml': yaml.safe_dump(INDEX)}
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {REPO: MIRROR}, fetcher(answers), helm)
    first = preparer.prepare_folder(folder)
    os.unlink(first['path'] + helm_chart.BUILT_MARKER_SUFFIX)
    assert preparer.prepare_folder(folder)['changed'] is True and len(helm.calls) == 2


def test_an_unreachable_repository_names_the_url_and_its_mirror(tmp_path):
    folder = write_chart(tmp_path / 'datalab', DEPENDENCY)
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {REPO: MIRROR}, fetcher({}), Helm())
    with pytest.raises(helm_chart.ChartError) as raised:
        preparer.prepare_folder(folder)
    assert str(raised.value) == ('could not read the chart repository index %s/index.yaml (mirror of %s): '
                                 'HTTP Error 404: Not Found' % (MIRROR, REPO))
    assert not os.path.exists(str(tmp_path / 'cache' / 'built')) or os.listdir(str(tmp_path / 'cache' / 'built')) == []


def test_a_failed_build_reports_helm_and_leaves_no_copy(tmp_path):
    folder = write_chart(tmp_path / 'datalab', DEPENDENCY)
    helm = Helm(rc=1, err='Error: the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml)\n')
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {REPO: MIRROR},
                                        fetcher({MIRROR + '/index.yaml': yaml.safe_dump(INDEX)}), helm)
    with pytest.raises(helm_chart.ChartError, match=r'build the dependencies of chart datalab \(catalogue 1.15.0 from '
                                                    r'https://charts.example.org/stable\): Error: the lock file'):
        preparer.prepare_folder(folder)
    assert os.listdir(str(tmp_path / 'cache' / 'built')) == []


def test_dependencies_from_a_folder_are_refused(tmp_path):
    folder = write_chart(tmp_path / 'app', [{'name': 'common', 'version': '1.0.0', 'repository': 'file://../common'}])
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {}, fetcher({}), Helm())
    with pytest.raises(helm_chart.ChartError, match='dependencies common of chart app come from a folder'):
        preparer.prepare_folder(folder)


@pytest.mark.parametrize('content, message', [
    (None, 'has no Chart.yaml'),
    ('name: [unclosed', 'is not valid YAML'),
    ('description: no name', 'has no chart name and version'),
])
def test_a_folder_that_is_not_a_chart_is_refused(tmp_path, content, message):
    if content is not None:
        (tmp_path / 'Chart.yaml').write_text(content)
    with pytest.raises(helm_chart.ChartError, match=message):
        helm_chart.read_chart(str(tmp_path))


def test_fixes_are_applied_to_a_copy_and_change_what_identifies_it(tmp_path):
    folder = write_chart(tmp_path / 'cytomine', templates={'cm.yaml': 'version: {{ .Chart.appVersion }}'})
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {}, fetcher({}), Helm())
    fix = {'file': 'templates/cm.yaml', 'regexp': r'\.Chart\.appVersion\b', 'replace': '.Chart.AppVersion'}
    fixed = preparer.prepare_folder(folder, [fix])
    assert fixed['changed'] is True and fixed['path'] != folder
    assert open(os.path.join(fixed['path'], 'templates', 'cm.yaml')).read() == 'version: {{ .Chart.AppVersion }}'
    assert open(os.path.join(folder, 'templates', 'cm.yaml')).read() == 'version: {{ .Chart.appVersion }}'
    assert preparer.prepare_folder(folder, [fix]) == dict(fixed, changed=False)
    other = preparer.prepare_folder(folder, [dict(fix, replace='.Chart.Version')])
    assert other['path'] != fixed['path']


@pytest.mark.parametrize('fix, message', [
    ({'file': 'templates/cm.yaml', 'regexp': 'appVersion', 'replace': 'x'}, 'matches nothing'),
    ({'file': 'templates/gone.yaml', 'regexp': 'a', 'replace': 'b'}, 'finds no such file'),
])
def test_a_fix_that_finds_nothing_fails(tmp_path, fix, message):
    folder = write_chart(tmp_path / 'cytomine')
    preparer = helm_chart.ChartPreparer(str(tmp_path / 'cache'), '/bin/helm', {}, fetcher({}), Helm())
    with pytest.raises(helm_chart.ChartError, match=message):
        preparer.prepare_folder(folder, [fix])
    assert os.listdir(str(tmp_path / 'cache' / 'built')) == []
