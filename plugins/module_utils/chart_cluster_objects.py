# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster-scoped objects that every release of a chart makes under the same name, and what replaces them.

A chart installed several times in one cluster (the Datalabs environments: one release per namespace) fails at
the second release on each cluster-scoped object whose name does not depend on the release: helm refuses an
object that another release owns. Those objects are found in the rendered releases, never in a hand-kept list,
so a new pin that adds one is handled (or refused) without anyone noticing it first:

- each release is rendered as itself and once more under another release name and namespace (the probe);
- an object that is cluster-scoped (the API server says so, or a CustomResourceDefinition the chart renders)
  and keeps its kind and name in the probe has a fixed name.

What replaces them keeps what the chart meant for every release:

- a ClusterRoleBinding names the subjects of one release, so it becomes one binding per release of the same
  role: a RoleBinding of the same name in the release's namespace (scope ``namespace``: the rights stop there)
  or a ClusterRoleBinding ``<name>-<namespace>`` (scope ``cluster``: upstream's reach);
- any other fixed-name object (such as a ClusterRole that the chart's own RoleBindings or its application refer
  to by name) is made once, as rendered; the releases must then render it alike.

Each release leaves the fixed-name objects out (helm_release's post-renderer ``drop``). Everything here works on
rendered documents and on a ``scope_of`` function, so it is tested without helm or an API server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Put on every object planned here, with the owner as value: how a later run finds what it made before.
OWNER_LABEL = 'sciplat.k8s/chart-shared-object'
HOOK_ANNOTATION = 'helm.sh/hook'
RBAC_GROUP = 'rbac.authorization.k8s.io'
RBAC_VERSION = RBAC_GROUP + '/v1'
# Every kind a binding of the plan can take: looked at for stale objects even when this plan makes none, so
# that switching the scope removes the bindings of the other one.
BINDING_KINDS = ((RBAC_VERSION, 'ClusterRoleBinding'), (RBAC_VERSION, 'RoleBinding'))
SCOPES = ('namespace', 'cluster')


class PlanError(Exception):
    """Releases that cannot share the cluster as rendered: the message names the object and the releases."""


def group_of(api_version):
    """The API group of an apiVersion ('' for the core group)."""
    return api_version.rpartition('/')[0] if '/' in (api_version or '') else ''


def _name(document):
    return (document.get('metadata') or {}).get('name')


def _namespace(document):
    return (document.get('metadata') or {}).get('namespace')


def identity(document):
    """Group, kind and name: what two releases cannot both own for a cluster-scoped object."""
    return group_of(document.get('apiVersion')), document.get('kind'), _name(document)


def describe(document):
    return '%s %s' % (document.get('kind'), _name(document))


def _crd_scopes(documents):
    """(group, kind) -> namespaced, for the CustomResourceDefinitions among the documents."""
    scopes = {}
    for document in documents:
        if document.get('kind') == 'CustomResourceDefinition':
            spec = document.get('spec') or {}
            kind = (spec.get('names') or {}).get('kind')
            scopes[(spec.get('group'), kind)] = spec.get('scope') != 'Cluster'
    return scopes


def fixed_name_objects(rendered, probe, scope_of):
    """The cluster-scoped documents of `rendered` whose group, kind and name are also in `probe`.

    `scope_of(api_version, kind)` returns True for a namespaced kind, False for a cluster-scoped one and None
    when the API server does not serve it (then a CustomResourceDefinition the chart renders decides).
    """
    crds = _crd_scopes(rendered)
    in_probe = set(identity(document) for document in probe)
    found = []
    for document in rendered:
        api_version, kind = document.get('apiVersion'), document.get('kind')
        namespaced = scope_of(api_version, kind)
        if namespaced is None:
            namespaced = crds.get((group_of(api_version), kind))
        if namespaced is None:
            raise PlanError('the chart renders %s (%s), a kind the API server does not serve and no '
                            'CustomResourceDefinition of the chart defines' % (describe(document), api_version))
        if namespaced or identity(document) not in in_probe:
            continue
        if HOOK_ANNOTATION in ((document.get('metadata') or {}).get('annotations') or {}):
            # helm 3 runs hooks without the post-renderer: a release could not leave this object out.
            raise PlanError('the chart renders the hook %s with a fixed cluster-wide name; helm does not pass hooks '
                            'through a post-renderer, so the releases cannot share it' % describe(document))
        found.append(document)
    return found


def ingress_hosts(documents):
    """The hosts of the Ingresses among the documents (rules, then TLS), each once, in order."""
    hosts = []
    for document in documents:
        if document.get('kind') != 'Ingress':
            continue
        spec = document.get('spec') or {}
        candidates = [rule.get('host') for rule in spec.get('rules') or []]
        for tls in spec.get('tls') or []:
            candidates.extend(tls.get('hosts') or [])
        hosts.extend(host for host in candidates if host and host not in hosts)
    return hosts


def _labelled(document, owner, labels):
    definition = copy.deepcopy(document)
    metadata = definition.setdefault('metadata', {})
    metadata.pop('namespace', None)  # a cluster-scoped object has none; a rendered one would be ignored anyway
    metadata['labels'] = dict(metadata.get('labels') or {}, **labels)
    metadata['labels'][OWNER_LABEL] = owner
    return definition


def _binding(document, release, scope, owner, labels):
    """The chart's ClusterRoleBinding granted to one release only."""
    metadata = {'name': _name(document), 'labels': dict(labels, **{OWNER_LABEL: owner})}
    if scope == 'namespace':
        kind = 'RoleBinding'
        metadata['namespace'] = release['namespace']
    else:
        kind = 'ClusterRoleBinding'
        metadata['name'] = '%s-%s' % (_name(document), release['namespace'])
    return {'apiVersion': RBAC_VERSION, 'kind': kind, 'metadata': metadata,
            'roleRef': copy.deepcopy(document.get('roleRef')), 'subjects': copy.deepcopy(document.get('subjects') or [])}


def _check_binding_names(binding, release):
    """A per-release RoleBinding must not take the name of one the chart itself renders in that namespace."""
    if binding['kind'] != 'RoleBinding':
        return
    for document in release['rendered']:
        if (document.get('kind'), _name(document)) == ('RoleBinding', binding['metadata']['name']) and \
                (_namespace(document) or release['namespace']) == release['namespace']:
            raise PlanError('release %s: the chart renders a RoleBinding %s in namespace %s already, so its '
                            'ClusterRoleBinding of that name cannot become one there; use the cluster scope'
                            % (release['name'], binding['metadata']['name'], release['namespace']))


def plan(releases, scope, owner, labels=None):
    """What replaces the fixed-name objects of `releases`, each ``{name, namespace, rendered, fixed}``.

    Returns ``objects`` (each fixed-name object, the releases that render it and how it is made),
    ``definitions`` (what to apply: the objects made once, then the bindings per release) and ``releases``
    (per release: ``drop`` for the post-renderer and the ``hosts`` of its Ingresses).
    """
    if scope not in SCOPES:
        raise PlanError('the binding scope must be one of %s (got %r)' % (', '.join(SCOPES), scope))
    labels = dict(labels or {})
    shared = {}
    order = []
    bindings = []
    report = []
    for release in releases:
        for document in release['fixed']:
            key = identity(document)
            if key[:2] == (RBAC_GROUP, 'ClusterRoleBinding'):
                binding = _binding(document, release, scope, owner, labels)
                _check_binding_names(binding, release)
                bindings.append(binding)
                report.append({'api_version': document.get('apiVersion'), 'kind': key[1], 'name': key[2],
                               'releases': [release['name']], 'made': 'per release'})
                continue
            if key not in shared:
                shared[key] = {'document': document, 'releases': [release['name']]}
                order.append(key)
            elif shared[key]['document'] != document:
                raise PlanError('releases %s and %s render %s differently; it has one name in the cluster, so it '
                                'can only be made once: give them values that render it alike'
                                % (shared[key]['releases'][0], release['name'], describe(document)))
            else:
                shared[key]['releases'].append(release['name'])
    for key in order:
        report.append({'api_version': shared[key]['document'].get('apiVersion'), 'kind': key[1], 'name': key[2],
                       'releases': shared[key]['releases'], 'made': 'once'})
    definitions = [_labelled(shared[key]['document'], owner, labels) for key in order] + bindings
    return {
        'objects': sorted(report, key=lambda item: (item['kind'], item['name'], item['releases'])),
        'definitions': definitions,
        'releases': [{'name': release['name'], 'namespace': release['namespace'],
                      'drop': [{'kind': document.get('kind'), 'name': _name(document)} for document in release['fixed']],
                      'hosts': ingress_hosts(release['rendered'])} for release in releases],
    }


def prune_kinds(definitions):
    """(apiVersion, kind) of everything a plan could have made before: the definitions' kinds and the bindings'."""
    kinds = list(BINDING_KINDS)
    for definition in definitions:
        kind = (definition['apiVersion'], definition['kind'])
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def stale(definitions, existing):
    """The `existing` objects (labelled with the owner) that `definitions` no longer make."""
    wanted = set((group_of(d['apiVersion']), d['kind'], _namespace(d), _name(d)) for d in definitions)
    return [item for item in existing
            if (group_of(item['api_version']), item['kind'], item.get('namespace'), item['name']) not in wanted]
