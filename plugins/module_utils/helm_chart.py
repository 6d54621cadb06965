# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A chart folder ready for helm: pulled from a chart repository or taken from a folder, dependencies built,
every URL passed through the site's mirror rewrites.

helm resolves a dependency by the repository URL written in Chart.yaml and downloads the archive from the
URL written in the repository's index, both usually public hosts. Rewriting Chart.yaml would put Chart.lock
out of sync, so helm runs with a private repository configuration instead: each dependency repository is
registered under its original URL, and its index is fetched from the mirror and cached with its archive
URLs rewritten the same way. helm then resolves, downloads and checks Chart.lock as it always does, and never
leaves the mirror. The user's own helm configuration is not touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import traceback

try:
    from urllib.parse import urljoin
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urljoin

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

CHART_FILE = 'Chart.yaml'
# Written beside a finished copy, last: a copy without one was interrupted and is made again.
BUILT_MARKER_SUFFIX = '.built.json'
# Where helm puts built dependencies: rebuilt in the copy, so not part of what identifies the source.
DEPENDENCY_FOLDER = 'charts'


class ChartError(Exception):
    """A chart that cannot be prepared: the message names the setting and the fix."""


def rewrite_url(url, rewrites):
    """`url` with its longest matching prefix in `rewrites` replaced, and that prefix (None: unchanged).

    Like git's url.<base>.insteadOf: keys are URL prefixes, values what replaces them.
    """
    matches = [prefix for prefix in (rewrites or {}) if url.startswith(prefix)]
    if not matches:
        return url, None
    prefix = max(matches, key=len)
    return rewrites[prefix] + url[len(prefix):], prefix


def folder_digest(folder, skip_top=()):
    """sha256 over the relative paths and contents of every file below `folder` (.git and `skip_top` left out)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        relative_root = os.path.relpath(root, folder)
        dirs[:] = sorted(d for d in dirs if d != '.git' and not (relative_root == '.' and d in skip_top))
        for name in sorted(files):
            if relative_root == '.' and name in skip_top:
                continue
            path = os.path.join(root, name)
            digest.update(os.path.normpath(os.path.join(relative_root, name)).encode('utf-8') + b'\0')
            with open(path, 'rb') as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return 'sha256:' + digest.hexdigest()


def read_chart(folder):
    """Chart.yaml of `folder` as a mapping; ChartError when it is missing or not a chart."""
    path = os.path.join(folder, CHART_FILE)
    if not os.path.isfile(path):
        raise ChartError('%s has no %s' % (folder, CHART_FILE))
    with open(path) as handle:
        try:
            chart = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ChartError('%s is not valid YAML: %s' % (path, error))
    if not isinstance(chart, dict) or not chart.get('name') or not chart.get('version'):
        raise ChartError('%s has no chart name and version' % path)
    return chart


def ships_schema(folder):
    """Whether the chart or one of its subcharts (folders or archives under charts/) has a values.schema.json."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != '.git']
        if 'values.schema.json' in files:
            return True
        for name in files:
            if name.endswith('.tgz') and os.path.basename(root) == DEPENDENCY_FOLDER:
                with tarfile.open(os.path.join(root, name)) as archive:
                    if any(member.name.endswith('/values.schema.json') for member in archive.getmembers()):
                        return True
    return False


def dependency_repositories(chart):
    """The distinct http(s) repository URLs of the chart's dependencies, in order."""
    found = []
    for dependency in chart.get('dependencies') or []:
        repository = (dependency.get('repository') or '').rstrip('/')
        if repository.startswith(('http://', 'https://')) and repository not in found:
            found.append(repository)
    return found


def mirrored_index(index_text, fetched_from, rewrites):
    """A repository index whose archive URLs all point where they can be fetched: relative ones resolved
    against the URL the index came from, absolute ones rewritten."""
    index = yaml.safe_load(index_text)
    if not isinstance(index, dict) or not isinstance(index.get('entries'), dict):
        raise ChartError('%s/index.yaml is not a chart repository index' % fetched_from)
    base = fetched_from.rstrip('/') + '/'
    for versions in index['entries'].values():
        for version in versions or []:
            version['urls'] = [rewrite_url(urljoin(base, url), rewrites)[0] for url in version.get('urls') or []]
    return index


class ChartPreparer(object):
    """Prepares chart folders in `cache_dir`.

    `fetch(url)` returns the body of a URL as text; `run(argv, env)` runs a command and returns (rc, out, err).
    Both come from the module, so the logic here is tested without network or helm.
    """

    def __init__(self, cache_dir, helm, rewrites, fetch, run):
        self.cache_dir = cache_dir
        self.helm = helm
        self.rewrites = rewrites or {}
        self.fetch = fetch
        self.run = run

    def _private_helm(self, workdir, repositories):
        """repositories.yaml and cached indexes that register each repository under its original URL."""
        config = {'apiVersion': '', 'generated': '0001-01-01T00:00:00Z', 'repositories': []}
        cache = os.path.join(workdir, 'repository-cache')
        os.makedirs(cache)
        names = {}
        for number, url in enumerate(repositories):
            name = 'sciplat-%d' % number
            names[url] = name
            fetch_url = rewrite_url(url, self.rewrites)[0].rstrip('/')
            try:
                text = self.fetch(fetch_url + '/index.yaml')
            except Exception as error:  # the fetcher's own errors vary (HTTP, file, socket)
                raise ChartError('could not read the chart repository index %s/index.yaml%s: %s'
                                 % (fetch_url, '' if fetch_url == url else ' (mirror of %s)' % url, error))
            with open(os.path.join(cache, name + '-index.yaml'), 'w') as handle:
                yaml.safe_dump(mirrored_index(text, fetch_url, self.rewrites), handle)
            config['repositories'].append({'name': name, 'url': url})
        config_path = os.path.join(workdir, 'repositories.yaml')
        with open(config_path, 'w') as handle:
            yaml.safe_dump(config, handle)
        env = {'HELM_CACHE_HOME': os.path.join(workdir, 'cache'), 'HELM_CONFIG_HOME': os.path.join(workdir, 'config'),
               'HELM_DATA_HOME': os.path.join(workdir, 'data'),
               'HELM_REPOSITORY_CONFIG': config_path, 'HELM_REPOSITORY_CACHE': cache}
        return names, env

    def _helm(self, argv, env, what):
        rc, out, err = self.run([self.helm] + argv, env)
        if rc != 0:
            raise ChartError('helm could not %s: %s' % (what, (err or out).strip()))
        return out

    @staticmethod
    def _finished(target, key):
        marker = target + BUILT_MARKER_SUFFIX
        if not (os.path.isfile(marker) and os.path.isdir(target)):
            return None
        with open(marker) as handle:
            record = json.load(handle)
        return record if record.get('key') == key else None

    @staticmethod
    def _publish(staging, target, record):
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(staging, target)
        with open(target + BUILT_MARKER_SUFFIX, 'w') as handle:
            json.dump(record, handle)

    def _workdir(self, target):
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        return tempfile.mkdtemp(prefix='.helm-', dir=parent)

    @staticmethod
    def _apply_fixes(staging, fixes, chart_name):
        for fix in fixes:
            path = os.path.join(staging, fix['file'])
            if not os.path.isfile(path):
                raise ChartError('the fix for %s of chart %s finds no such file: the chart is not the one the fix was '
                                 'written for' % (fix['file'], chart_name))
            with open(path) as handle:
                text, count = re.subn(fix['regexp'], fix['replace'], handle.read())
            if not count:
                raise ChartError('the fix for %s of chart %s matches nothing (%s): the chart is not the one the fix was '
                                 'written for' % (fix['file'], chart_name, fix['regexp']))
            with open(path, 'w') as handle:
                handle.write(text)

    def prepare_folder(self, folder, fixes=()):
        """The folder helm installs from: `folder` itself when the chart has no dependencies and needs no fixes,
        else a copy in the cache with the fixes applied and the dependencies built. Returns a dict with path,
        digest, dependencies and changed."""
        chart = read_chart(folder)
        dependencies = chart.get('dependencies') or []
        fixes = list(fixes or [])
        digest = folder_digest(folder, skip_top=(DEPENDENCY_FOLDER,) if dependencies else ())
        if not dependencies and not fixes:
            return {'path': folder, 'digest': digest, 'dependencies': [], 'changed': False, 'has_schema': ships_schema(folder)}
        local = [d['name'] for d in dependencies if not (d.get('repository') or '').startswith(('http://', 'https://', 'oci://'))]
        if local:
            raise ChartError('dependencies %s of chart %s come from a folder (file:// or no repository), which a build '
                             'copy cannot reach: give them a chart repository' % (', '.join(local), chart['name']))
        repositories = dependency_repositories(chart)
        key = hashlib.sha256(json.dumps([digest, {url: rewrite_url(url, self.rewrites)[0] for url in repositories}, fixes],
                                        sort_keys=True).encode('utf-8')).hexdigest()
        target = os.path.join(self.cache_dir, 'built', '%s-%s' % (chart['name'], key[:16]))
        record = self._finished(target, key)
        if record:
            return {'path': target, 'digest': digest, 'dependencies': record['dependencies'], 'changed': False,
                    'has_schema': ships_schema(target)}
        workdir = self._workdir(target)
        try:
            staging = os.path.join(workdir, 'chart')
            shutil.copytree(folder, staging, ignore=shutil.ignore_patterns('.git'))
            self._apply_fixes(staging, fixes, chart['name'])
            if dependencies:
                # Whatever was vendored is built again from the repositories: never assumed to match Chart.lock.
                shutil.rmtree(os.path.join(staging, DEPENDENCY_FOLDER), ignore_errors=True)
                env = self._private_helm(workdir, repositories)[1]
                self._helm(['dependency', 'build', staging, '--skip-refresh'], env,
                           'build the dependencies of chart %s (%s)' % (chart['name'], ', '.join(
                               '%s %s from %s' % (d['name'], d.get('version', ''), d.get('repository', '')) for d in dependencies)))
            built = [{'name': d['name'], 'version': str(d.get('version', '')), 'repository': d.get('repository', ''),
                      'fetched_from': rewrite_url((d.get('repository') or '').rstrip('/'), self.rewrites)[0]}
                     for d in dependencies]
            self._publish(staging, target, {'key': key, 'dependencies': built})
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return {'path': target, 'digest': digest, 'dependencies': built, 'changed': True, 'has_schema': ships_schema(target)}

    def pull(self, repo_url, name, version, fixes=()):
        """Chart `name` at `version` from the repository `repo_url` (through the mirror) into the cache, then
        prepared as a folder."""
        key = hashlib.sha256(json.dumps([repo_url.rstrip('/'), name, version]).encode('utf-8')).hexdigest()
        target = os.path.join(self.cache_dir, 'pulled', '%s-%s-%s' % (name, version, key[:16]))
        changed = False
        if not self._finished(target, key):
            workdir = self._workdir(target)
            try:
                names, env = self._private_helm(workdir, [repo_url.rstrip('/')])
                untar = os.path.join(workdir, 'untar')
                self._helm(['pull', '%s/%s' % (names[repo_url.rstrip('/')], name), '--version', version, '--untar',
                            '--untardir', untar], env, 'pull chart %s %s from %s' % (name, version, repo_url))
                self._publish(os.path.join(untar, name), target, {'key': key, 'dependencies': []})
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            changed = True
        result = self.prepare_folder(target, fixes)
        result['changed'] = result['changed'] or changed
        return result
