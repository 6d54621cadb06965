# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helm post-renderer of sciplat.k8s.helm_release: what a role needs from a chart that its values cannot say.

roles/helm_release writes this file, with its configuration, as an executable script that helm runs on the
rendered release (stdin to stdout). The configuration:

- ``drop``: objects the release must not make, each ``{kind, name}`` (for example the fixed-name cluster-scoped
  objects that a first release of the chart already owns);
- ``drop_namespaces``: objects aimed at these namespaces are left out;
- ``patches``: each ``{kind, name (optional: every object of the kind), merge, containers}``; ``merge`` is an
  RFC 7386 merge patch of the object (mappings merged, ``null`` removes, anything else replaces), ``containers``
  maps a container name (or ``*``) to a merge patch of that container in the object's Pod template.

Objects keep their order; a patch that matches no object is an error, so a chart change that renames what a
role patches fails the release instead of silently dropping the patch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import sys

# Where each workload kind keeps its Pod spec.
POD_SPEC_PATHS = {
    'Pod': ('spec',),
    'Deployment': ('spec', 'template', 'spec'),
    'StatefulSet': ('spec', 'template', 'spec'),
    'DaemonSet': ('spec', 'template', 'spec'),
    'ReplicaSet': ('spec', 'template', 'spec'),
    'Job': ('spec', 'template', 'spec'),
    'CronJob': ('spec', 'jobTemplate', 'spec', 'template', 'spec'),
}


class PostRenderError(Exception):
    pass


def merge_patch(target, patch):
    """RFC 7386: the result of applying `patch` to `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _matches(document, selector):
    metadata = document.get('metadata') or {}
    return document.get('kind') == selector['kind'] and selector.get('name') in (None, metadata.get('name'))


def _patch_containers(document, containers, where):
    path = POD_SPEC_PATHS.get(document.get('kind'))
    if path is None:
        raise PostRenderError('%s: a %s has no Pod template to patch containers in' % (where, document.get('kind')))
    spec = document
    for key in path:
        spec = spec.setdefault(key, {})
    found = set()
    for index, container in enumerate(spec.get('containers') or []):
        for name, patch in containers.items():
            if name in ('*', container.get('name')):
                spec['containers'][index] = container = merge_patch(container, patch)
                found.add(name)
    missing = sorted(set(containers) - found)
    if missing:
        raise PostRenderError('%s: no container named %s' % (where, ', '.join(missing)))


def post_render(documents, config):
    """The documents the release is made of, after the configuration's drops and patches."""
    drops = config.get('drop') or []
    drop_namespaces = set(config.get('drop_namespaces') or [])
    kept = [document for document in documents
            if not any(_matches(document, selector) for selector in drops)
            and (document.get('metadata') or {}).get('namespace') not in drop_namespaces]
    for patch in config.get('patches') or []:
        where = '%s %s' % (patch['kind'], patch.get('name', '*'))
        targets = [index for index, document in enumerate(kept) if _matches(document, patch)]
        if not targets:
            raise PostRenderError('%s: the chart renders no such object to patch' % where)
        for index in targets:
            if patch.get('merge'):
                kept[index] = merge_patch(kept[index], patch['merge'])
            if patch.get('containers'):
                _patch_containers(kept[index], patch['containers'], where)
    return kept


def main(config, stdin=None, stdout=None):
    """Entry point of the written script: rendered manifests on stdin, the release on stdout."""
    import yaml  # only the script needs it; modules importing this file for merge_patch do not

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        documents = post_render([d for d in yaml.safe_load_all(stdin) if d], config)
    except PostRenderError as error:
        sys.stderr.write('sciplat.k8s post-renderer: %s\n' % error)
        return 1
    yaml.safe_dump_all(documents, stdout, sort_keys=False)
    return 0


def script(python, config):
    """The executable helm runs: this file's code with `config` built in."""
    # getsource reads through the module's loader: it works from the zip a module runs in, too.
    source = inspect.getsource(sys.modules[__name__])
    return '#!%s\n%s\n\nif __name__ == "__main__":\n    sys.exit(main(json.loads(%r)))\n' % (
        python, source, json.dumps(config, sort_keys=True))
