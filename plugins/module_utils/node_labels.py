# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative Node labels: validation, per-node plans and their application.

The decisions (what a label value means, whether a key is valid, what a node needs) are pure
functions so unit tests can cover them without a server. :class:`NodeApi` is the only part that
talks to Kubernetes, and :func:`reconcile` ties both together with the request budget the
module promises: one LIST, then one PATCH per node that differs (plus one GET and one PATCH
more per conflict).

Ownership: every key the module sets is recorded in the annotation :data:`MANAGED_ANNOTATION`
on its Node, so ``exclusive`` removes only labels this module put there and never labels that
kubelet, microk8s or people set.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

from ansible.module_utils.six import string_types

from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import (
    ApiException,
    K8sConnectionError,
    TransportError,
    api_client,
    api_error_message,
    require_kubernetes,
)

MANAGED_ANNOTATION = 'k8s.sciplat.io/managed-labels'
RESERVED_DOMAINS = ('kubernetes.io', 'k8s.io')
DEFAULT_ALLOWED_RESERVED_PREFIXES = ('node-role.kubernetes.io',)

# Ask for metadata only: a Node's status (images, conditions) is most of its size and none of
# our business. Servers that cannot answer in this form fall back to the full object.
_METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'
_METADATA_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json'
_MERGE_PATCH = 'application/merge-patch+json'
_TRANSIENT_STATUSES = frozenset((429, 500, 502, 503, 504))
# (connect, read) seconds: an unreachable or wedged API server must fail the task, not hang it.
_REQUEST_TIMEOUT = (10, 60)

_DNS_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_DNS_SUBDOMAIN_RE = re.compile(r'^%s(\.%s)*$' % (_DNS_LABEL, _DNS_LABEL))
_QUALIFIED_NAME_RE = re.compile(r'^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$')
_NAME_RULE = "must be 63 characters or less, consist of alphanumeric characters, '-', '_' or '.', " \
             "and start and end with an alphanumeric character"
_SUBDOMAIN_RULE = "must be a lowercase DNS subdomain of 253 characters or less " \
                  "(alphanumeric characters, '-' and '.', starting and ending with an alphanumeric character)"


class NodeLabelsError(Exception):
    """The request cannot be carried out; the message names the node and key concerned.

    ``result`` holds what was already done when the failure came part-way through.
    """

    def __init__(self, msg, result=None):
        super(NodeLabelsError, self).__init__(msg)
        self.result = result or {}


# ---------------------------------------------------------------------------------------------
# Validation


def _subdomain_error(value):
    if not value or len(value) > 253 or not _DNS_SUBDOMAIN_RE.match(value):
        return _SUBDOMAIN_RULE
    return None


def label_key_error(key, allowed_reserved_prefixes=DEFAULT_ALLOWED_RESERVED_PREFIXES):
    """Why ``key`` cannot be a label key set by this module, or None when it can."""
    if not isinstance(key, string_types) or not key:
        return 'a label key must be a non-empty string'
    prefix, slash, name = key.rpartition('/')
    if slash:
        if not prefix:
            return 'the prefix before "/" must not be empty'
        error = _subdomain_error(prefix)
        if error:
            return 'prefix %r %s' % (prefix, error)
        if is_reserved_prefix(prefix) and prefix not in allowed_reserved_prefixes:
            return ('prefix %r is reserved for Kubernetes components; add it to allow_reserved_prefixes '
                    'if setting it by hand is intended' % prefix)
    if len(name) > 63 or not _QUALIFIED_NAME_RE.match(name):
        return 'name part %r %s' % (name, _NAME_RULE)
    return None


def is_reserved_prefix(prefix):
    """True for kubernetes.io and k8s.io and their subdomains."""
    return any(prefix == domain or prefix.endswith('.' + domain) for domain in RESERVED_DOMAINS)


def label_value_error(value):
    """Why ``value`` (a string) cannot be a label value, or None when it can."""
    if value == '':
        return None
    if len(value) > 63 or not _QUALIFIED_NAME_RE.match(value):
        return 'value %r %s (or be empty)' % (value, _NAME_RULE)
    return None


def node_name_error(name):
    """Why ``name`` cannot be a Node name, or None when it can."""
    error = _subdomain_error(name) if isinstance(name, string_types) else 'must be a string'
    return 'node name %r %s' % (name, error) if error else None


def label_value(raw):
    """The label value a declared entry stands for: a string, or None for "absent".

    Booleans become ``true``/``false`` (what people write in YAML and mean as a label), numbers
    their decimal form. A mapping may say ``state: absent`` or give ``value`` with ``state: present``.
    Raises ValueError with the reason when the entry is not one of these forms.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        return 'true' if raw else 'false'
    if isinstance(raw, (int, float)):
        return str(raw)
    if isinstance(raw, string_types):
        return raw
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - set(('state', 'value')))
        if unknown:
            raise ValueError('unknown field(s) %s; a label entry takes only state and value' % ', '.join(unknown))
        state = raw.get('state', 'present')
        if state == 'absent':
            return None
        if state != 'present':
            raise ValueError('state must be present or absent, not %r' % (state,))
        if 'value' not in raw or raw['value'] is None or isinstance(raw['value'], dict):
            raise ValueError('state: present needs a scalar value')
        return label_value(raw['value'])
    raise ValueError('a label value must be a string, number, boolean, null or {state, value}, not %s'
                     % type(raw).__name__)


def normalize_labels(declared, allowed_reserved_prefixes=DEFAULT_ALLOWED_RESERVED_PREFIXES):
    """Turn the ``labels`` option into ``{node: {key: value or None}}`` and a list of every error.

    All errors are collected, so one run reports every bad node and key before anything is written.
    """
    desired = {}
    errors = []
    if not isinstance(declared, dict):
        return desired, ['labels must be a mapping of node name to a mapping of labels']
    for node in sorted(declared, key=str):
        error = node_name_error(node)
        if error:
            errors.append(error)
            continue
        entries = declared[node]
        if entries is None:
            entries = {}
        if not isinstance(entries, dict):
            errors.append('node %r: labels must be a mapping of key to value, not %s' % (node, type(entries).__name__))
            continue
        labels = {}
        for key in sorted(entries, key=str):
            error = label_key_error(key, allowed_reserved_prefixes)
            if error:
                errors.append('node %r, label %r: %s' % (node, key, error))
                continue
            try:
                value = label_value(entries[key])
            except ValueError as exc:
                errors.append('node %r, label %r: %s' % (node, key, exc))
                continue
            error = None if value is None else label_value_error(value)
            if error:
                errors.append('node %r, label %r: %s' % (node, key, error))
                continue
            labels[key] = value
        desired[node] = labels
    return desired, errors


# ---------------------------------------------------------------------------------------------
# Plans


def parse_managed(annotation):
    """The set of label keys recorded in the ownership annotation (comma-separated)."""
    if not annotation:
        return set()
    return set(item.strip() for item in annotation.split(',') if item.strip())


def format_managed(keys):
    """The annotation value for ``keys``: sorted and comma-separated (commas never occur in keys)."""
    return ','.join(sorted(keys))


class NodePlan(object):
    """What one node needs: label additions, changes and removals, and its ownership record."""

    def __init__(self, name, labels, managed_before, added, changed, removed, managed_after):
        self.name = name
        self.labels = labels
        self.managed_before = managed_before
        self.added = added
        self.changed = changed
        self.removed = removed
        self.managed_after = managed_after

    @property
    def labels_after(self):
        after = dict(self.labels)
        for key in self.removed:
            del after[key]
        after.update(self.added)
        after.update((key, change['after']) for key, change in self.changed.items())
        return after

    def patch(self):
        """The merge-patch fields this node needs, or an empty dict when it is already right."""
        labels = dict(self.added)
        labels.update((key, change['after']) for key, change in self.changed.items())
        labels.update((key, None) for key in self.removed)
        metadata = {}
        if labels:
            metadata['labels'] = labels
        if self.managed_after != self.managed_before:
            metadata['annotations'] = {MANAGED_ANNOTATION: format_managed(self.managed_after) or None}
        return metadata

    def result(self, patched):
        return dict(
            added=self.added,
            changed=self.changed,
            removed=self.removed,
            managed=sorted(self.managed_after),
            patched=patched,
        )

    def diff(self):
        return dict(
            before_header='node/%s' % self.name,
            after_header='node/%s' % self.name,
            before=dict(labels=self.labels, managed=sorted(self.managed_before)),
            after=dict(labels=self.labels_after, managed=sorted(self.managed_after)),
        )


def plan_node(name, metadata, desired, exclusive):
    """Compare one node's ``metadata`` with its ``desired`` labels ({key: value or None}).

    Declaring a key makes it managed (also when it already had the declared value); declaring it
    absent removes it and drops it from the record. With ``exclusive``, managed keys that are no
    longer declared are removed too. Keys that are neither declared nor managed are never touched.
    """
    labels = dict(metadata.get('labels') or {})
    managed_before = parse_managed((metadata.get('annotations') or {}).get(MANAGED_ANNOTATION))
    present = dict((key, value) for key, value in desired.items() if value is not None)
    absent = set(key for key, value in desired.items() if value is None)
    if exclusive:
        absent |= managed_before - set(present)
        managed_after = set(present)
    else:
        managed_after = (managed_before - absent) | set(present)
    added = dict((key, value) for key, value in present.items() if key not in labels)
    changed = dict((key, dict(before=labels[key], after=value))
                   for key, value in present.items() if key in labels and labels[key] != value)
    removed = dict((key, labels[key]) for key in absent if key in labels)
    return NodePlan(name, labels, managed_before, added, changed, removed, managed_after)


def patch_body(plan, resource_version):
    """A JSON merge patch for ``plan`` that the server refuses (409) if the node changed since it was read."""
    metadata = plan.patch()
    metadata['resourceVersion'] = resource_version
    return dict(metadata=metadata)


# ---------------------------------------------------------------------------------------------
# API


class NodeApi(object):
    """The three Node requests the module makes, with bounded retries on transient server errors.

    ``client`` is a kubernetes ApiClient (see k8s_client.api_client); responses are read as plain
    JSON, because building model objects for hundreds of Nodes costs more than the request.
    """

    def __init__(self, client, retries=5, sleep=time.sleep, backoff=0.25):
        self.client = client
        self.retries = retries
        self.sleep = sleep
        self.backoff = backoff
        self.transient_retries = 0

    def _call(self, method, path, accept, query=None, body=None, content_type=None):
        headers = {'Accept': accept}
        if content_type:
            headers['Content-Type'] = content_type
        attempt = 0
        while True:
            try:
                response = self.client.call_api(
                    path, method, query_params=query or [], header_params=headers, body=body,
                    auth_settings=['BearerToken'], _preload_content=False, _return_http_data_only=True,
                    _request_timeout=_REQUEST_TIMEOUT)
                return json.loads(response.data)
            except ApiException as exc:
                if exc.status not in _TRANSIENT_STATUSES or attempt >= self.retries:
                    raise
            except TransportError as exc:
                # A PATCH whose answer was lost is safe to resend: it carries the resourceVersion,
                # so if it did land the resend gets a 409 and the node is re-read.
                if attempt >= self.retries:
                    raise NodeLabelsError('%s %s: the API server could not be reached after %d attempts: %s'
                                          % (method, path, attempt + 1, exc))
            attempt += 1
            self.transient_retries += 1
            self.sleep(min(self.backoff * 2 ** (attempt - 1), 5.0))

    def list(self, field_selector=None):
        """Every Node's metadata in one LIST (optionally narrowed by a field selector)."""
        query = [('fieldSelector', field_selector)] if field_selector else []
        found = self._call('GET', '/api/v1/nodes', _METADATA_LIST_ACCEPT, query=query)
        return [item['metadata'] for item in found.get('items') or []]

    def get(self, name):
        """One Node's metadata, or None when it no longer exists."""
        try:
            return self._call('GET', '/api/v1/nodes/%s' % name, _METADATA_ACCEPT)['metadata']
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, name, body):
        return self._call('PATCH', '/api/v1/nodes/%s' % name, _METADATA_ACCEPT, body=body,
                          content_type=_MERGE_PATCH)['metadata']


# ---------------------------------------------------------------------------------------------
# Reconcile


def _apply(api, plan, metadata, desired, exclusive, retries):
    """PATCH one node, re-reading and re-planning it after each 409; returns (final plan, conflicts)."""
    conflicts = 0
    while True:
        try:
            api.patch(plan.name, patch_body(plan, metadata['resourceVersion']))
            return plan, conflicts
        except ApiException as exc:
            if exc.status != 409:
                raise
            if conflicts >= retries:
                raise NodeLabelsError('node %r: still conflicting after %d fresh reads (%s); another writer keeps '
                                      'changing it' % (plan.name, conflicts, api_error_message(exc)))
        conflicts += 1
        metadata = api.get(plan.name)
        if metadata is None:
            raise NodeLabelsError('node %r was deleted while its labels were being updated' % plan.name)
        plan = plan_node(plan.name, metadata, desired, exclusive)
        if not plan.patch():
            return plan, conflicts


def reconcile(api, desired, exclusive=False, exclusive_scope='declared', missing='fail', check_mode=False,
              retries=5):
    """Bring the Nodes' labels to ``desired`` ({node: {key: value or None}}) and report what changed.

    Reads once (a LIST, narrowed to the node when exactly one is declared), fails before any write
    when declared nodes do not exist (unless ``missing='ignore'``), then patches only the nodes that
    differ. With ``exclusive_scope='cluster'`` nodes that are not declared but carry managed labels
    lose them too. A failure part-way raises NodeLabelsError whose ``result`` holds the nodes done.
    """
    whole_cluster = exclusive and exclusive_scope == 'cluster'
    selector = None
    if len(desired) == 1 and not whole_cluster:
        selector = 'metadata.name=%s' % next(iter(desired))
    found = dict((metadata['name'], metadata) for metadata in api.list(selector))

    absent_nodes = sorted(name for name in desired if name not in found)
    if absent_nodes and missing == 'fail':
        raise NodeLabelsError('node(s) not found in the cluster: %s. Fix the node names (they must match '
                              '`kubectl get nodes`) or set missing=ignore.' % ', '.join(absent_nodes))

    targets = dict((name, labels) for name, labels in desired.items() if name in found)
    if whole_cluster:
        for name, metadata in found.items():
            if name not in targets and MANAGED_ANNOTATION in (metadata.get('annotations') or {}):
                targets[name] = {}

    result = dict(changed=False, nodes={}, missing=absent_nodes, conflicts=0, diff=[])
    for name in sorted(targets):
        plan = plan_node(name, found[name], targets[name], exclusive)
        if plan.patch() and not check_mode:
            try:
                plan, conflicts = _apply(api, plan, found[name], targets[name], exclusive, retries)
            except (ApiException, NodeLabelsError) as exc:
                message = 'node %r: PATCH failed: %s' % (name, api_error_message(exc)) \
                    if isinstance(exc, ApiException) else str(exc)
                raise NodeLabelsError(message, result)
            result['conflicts'] += conflicts
        patched = bool(plan.patch())
        result['nodes'][name] = plan.result(patched)
        if patched:
            result['changed'] = True
            result['diff'].append(plan.diff())
    return result


def run_module(module):
    """The whole of sciplat.k8s.node_labels once AnsibleModule has parsed the options."""
    require_kubernetes(module)
    params = module.params
    desired, errors = normalize_labels(params['labels'], params['allow_reserved_prefixes'])
    if errors:
        module.fail_json(msg='Invalid labels, nothing was changed: %s' % '; '.join(errors), errors=errors)
    try:
        api = NodeApi(api_client(params), retries=params['retries'])
        result = reconcile(api, desired, exclusive=params['exclusive'], exclusive_scope=params['exclusive_scope'],
                           missing=params['missing'], check_mode=module.check_mode, retries=params['retries'])
    except K8sConnectionError as exc:
        module.fail_json(msg=str(exc))
    except NodeLabelsError as exc:
        exc.result.pop('diff', None)
        module.fail_json(msg=str(exc), **exc.result)
    except ApiException as exc:
        module.fail_json(msg='Listing Nodes failed: %s' % api_error_message(exc))
    else:
        if result['missing']:
            module.warn('node(s) not found, their labels were skipped (missing=ignore): %s'
                        % ', '.join(result['missing']))
        result['transient_retries'] = api.transient_retries
        if not module._diff:
            del result['diff']
        module.exit_json(**result)
