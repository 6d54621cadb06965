# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where this collection runs the ``microk8s`` and ``snap`` command lines.

Two layers:

* pure functions that parse what the CLIs print (``parse_status``, ``parse_version``,
  ``parse_snap_list``, ``parse_snap_info``, ``parse_snapd_version``) and decide about addons
  (``canonical_addon_name``, ``validate_addons``, ``plan_addons``); unit tests cover them
  without a node;
* :class:`Microk8sCli`, a thin runner around ``AnsibleModule.run_command`` that adds a timeout
  to every call (``timeout(1)`` from coreutils, because run_command has none) and finds the
  binaries.

The output formats are those of canonical/microk8s ``scripts/wrappers`` (status, version,
enable/disable) and of snapd's ``snap list``/``snap info``/``snap version``. ``status --format
yaml`` is read with a small line parser instead of PyYAML: target nodes need no extra Python
package, and some microk8s releases print the not-ready ``message:`` line with an indentation
that a strict YAML parser rejects.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

MICROK8S_BIN = '/snap/bin/microk8s'
SNAP_DATA = '/var/snap/microk8s/current'
SNAP_COMMON = '/var/snap/microk8s/common'
# A worker-only node carries this lock; `microk8s status` then prints a fixed message.
CLUSTER_LOCK = SNAP_DATA + '/var/lock/clustered.lock'
# Where microk8s_addons records the arguments it enabled each addon with. SNAP_COMMON survives
# snap refreshes (SNAP_DATA is copied per revision), so the record follows the node.
ADDON_STATE_FILE = SNAP_COMMON + '/sciplat-addons.json'

DEFAULT_TIMEOUT = 120
# stdin of addon commands: empty lines, then end of file.
NO_INPUT = '\n'
# `timeout(1)` exits 124 when the limit is hit (137 when it had to KILL).
TIMEOUT_RCS = (124, 137)

# snapd's client exits 10 for the errors it calls retryable: change conflicts, which include
# "too early for operation, device not yet seeded or device model not acknowledged" and
# 'snap "microk8s" has "auto-refresh" change in progress' (canonical/snapd
# cmd/snapd/cli/main.go exitCodeFromError, client/client.go IsRetryable,
# overlord/snapstate/devicectx.go DeviceCtxFromState, overlord/snapstate/conflict.go
# ChangeConflictError.Error). Anything else is not worth repeating.
SNAP_RETRYABLE_RC = 10
# Returns once snapd has finished seeding (the core config flag set by overlord/devicestate
# devicemgr.go); before that every install is refused with the "not yet seeded" conflict.
SNAP_WAIT_SEEDED = ['wait', 'system', 'seed.loaded']

HOLD_MIN_SNAPD = (2, 58)
HOLD_NOTES_MIN_SNAPD = (2, 59)

WORKER_MESSAGE = 'acting as a node in a cluster'
STOPPED_MESSAGE = 'is not running, try microk8s start'

CHANNEL_RE = re.compile(r'^(?:(?P<major>[0-9]+)\.(?P<minor>[0-9]+)|latest)/(?:stable|candidate|beta|edge)$')
CHANNEL_HELP = "'<major>.<minor>/<risk>' or 'latest/<risk>' with risk one of stable, candidate, beta, edge (e.g. 1.32/stable)"

STATE_RUNNING = 'running'
STATE_NOT_READY = 'not_ready'
STATE_STOPPED = 'stopped'
STATE_WORKER = 'worker'
STATE_NOT_INSTALLED = 'not_installed'


class Microk8sError(Exception):
    """A microk8s or snap command failed; carries what the command printed."""

    def __init__(self, msg, rc=None, stdout='', stderr='', cmd=None):
        super(Microk8sError, self).__init__(msg)
        self.msg = msg
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd

    def fail_kwargs(self):
        """Keyword arguments for ``module.fail_json``."""
        return dict(msg=self.msg, rc=self.rc, stdout=self.stdout, stderr=self.stderr, cmd=self.cmd)


# --------------------------------------------------------------------------------------------
# Versions and channels
# --------------------------------------------------------------------------------------------

def version_tuple(text):
    """``'v1.32.3'``, ``'2.58.3+22.04'``, ``'1.29'`` -> tuple of ints; None when no number."""
    if text is None:
        return None
    match = re.search(r'([0-9]+(?:\.[0-9]+)*)', str(text))
    if not match:
        return None
    return tuple(int(part) for part in match.group(1).split('.'))


def parse_channel(channel):
    """Validate a snap channel; return ``(major, minor)`` or None for ``latest/...``.

    Raises ValueError naming the allowed forms.
    """
    match = CHANNEL_RE.match(channel or '')
    if not match:
        raise ValueError('channel %r is not %s' % (channel, CHANNEL_HELP))
    if match.group('major') is None:
        return None
    return (int(match.group('major')), int(match.group('minor')))


def version_from_snap(listed):
    """microk8s version from ``parse_snap_list``: the Version column, else the tracked track.

    microk8s 1.24 has no ``microk8s version`` command (canonical/microk8s branch 1.24 ships no
    ``microk8s-version.wrapper``), so the snap is the version source every release shares.
    """
    if not listed:
        return None
    if version_tuple(listed.get('version')):
        return listed['version'].lstrip('v')
    try:
        minor = parse_channel(listed.get('tracking'))
    except ValueError:
        return None
    return '%d.%d' % minor if minor else None


def parse_version(stdout):
    """``microk8s version`` -> ``{'version': '1.32.3', 'revision': '7964'}``.

    Accepts "MicroK8s v1.32.3 revision 7964" and the older "revision: 7964".
    """
    match = re.search(r'MicroK8s\s+v?([0-9][^\s]*)\s+revision:?\s*([0-9]+)', stdout or '')
    if not match:
        return None
    return dict(version=match.group(1), revision=match.group(2))


# --------------------------------------------------------------------------------------------
# microk8s status
# --------------------------------------------------------------------------------------------

def _scalar(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        return value[1:-1]
    lowered = value.lower()
    if lowered == 'true':
        return True
    if lowered == 'false':
        return False
    return value


def _split_key(text):
    """``'key: value'`` -> ``('key', 'value')``; only the first ': ' separates."""
    if text.endswith(':') and ': ' not in text:
        return text[:-1].strip(), ''
    key, sep, value = text.partition(': ')
    if not sep:
        return None, None
    return key.strip(), value


def _parse_status_yaml(lines):
    """Read the fixed layout of ``status --format yaml`` into nested dicts and lists.

    Top-level keys open a section; ``- key: value`` opens a list item (directly under the
    section, as ``addons``, or under a key with an empty value, as ``high-availability.nodes``);
    lines indented at least as deep as an item's first key continue that item. Any other
    indented ``key: value`` belongs to the section, whatever its exact indentation.
    """
    doc = {}
    section = None
    current_list = None
    item = None
    item_indent = 0
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        indent = len(raw) - len(raw.lstrip(' '))
        if indent == 0:
            key, value = _split_key(text)
            section = key
            current_list = None
            item = None
            if key is not None:
                doc[key] = _scalar(value) if value.strip() else {}
            continue
        if section is None:
            continue
        starts_item = text.startswith('- ')
        if starts_item:
            text = text[2:]
        key, value = _split_key(text)
        if key is None:
            continue
        if starts_item:
            if current_list is None:
                if not isinstance(doc[section], list):
                    doc[section] = []
                current_list = doc[section]
            item = {}
            item_indent = indent + 2
            current_list.append(item)
            item[key] = _scalar(value)
        elif item is not None and indent >= item_indent:
            item[key] = _scalar(value)
        elif isinstance(doc[section], dict):
            item = None
            if value.strip():
                doc[section][key] = _scalar(value)
                current_list = None
            else:
                current_list = doc[section][key] = []
    return doc


def _ha_summary(ha):
    ha = ha if isinstance(ha, dict) else {}
    nodes = [dict(address=str(node.get('address', '')), role=str(node.get('role', '')))
             for node in ha.get('nodes') or [] if isinstance(node, dict)]

    def by_role(role):
        return [node['address'] for node in nodes if node['role'] == role]

    voters = by_role('voter')
    return dict(
        dqlite=bool(ha.get('enabled')) if 'enabled' in ha else None,
        # microk8s calls a cluster highly available once it has more than two voters.
        enabled=len(voters) > 2,
        nodes=nodes,
        voters=voters,
        standby=by_role('standby'),
        spares=by_role('spare'),
    )


def _not_ready_message(head, ha_block):
    """Releases that print a high-availability block print the not-ready message after it, so it lands in that
    block (MK scripts/wrappers/status.py print_yaml); older ones print it under microk8s:."""
    for block in (head, ha_block if isinstance(ha_block, dict) else {}):
        if block.get('message'):
            return str(block['message'])
    return None


def parse_status(stdout, rc=0):
    """Parse ``microk8s status --format yaml`` (with or without ``--wait-ready``).

    Returns a dict:
      state: running | not_ready | stopped | worker
      running: bool; is_worker: bool; message: text microk8s printed instead of a status
      high_availability: {dqlite, enabled (more than 2 voters), nodes, voters, standby, spares}
      addons: list of {name, repository, description, version, status}; None when not running

    Raises Microk8sError when the output is none of the documented forms.
    """
    stdout = stdout or ''
    empty_ha = _ha_summary({})
    if WORKER_MESSAGE in stdout:
        return dict(state=STATE_WORKER, running=None, is_worker=True, message=stdout.strip(),
                    high_availability=empty_ha, addons=None)
    lines = stdout.splitlines()
    if not any(line.rstrip() == 'microk8s:' for line in lines):
        if STOPPED_MESSAGE in stdout or 'is not running' in stdout:
            return dict(state=STATE_STOPPED, running=False, is_worker=False, message=stdout.strip(),
                        high_availability=empty_ha, addons=None)
        raise Microk8sError('unrecognised output of microk8s status (rc=%s)' % rc, rc=rc, stdout=stdout)
    doc = _parse_status_yaml(lines)
    head = doc.get('microk8s') if isinstance(doc.get('microk8s'), dict) else {}
    running = head.get('running') is True
    addons = None
    if running:
        addons = []
        for entry in doc.get('addons') or []:
            if not isinstance(entry, dict) or not entry.get('name'):
                continue
            addons.append(dict(
                name=str(entry['name']),
                repository=str(entry.get('repository') or 'core'),
                description=str(entry.get('description') or ''),
                version=str(entry.get('version') or ''),
                status=str(entry.get('status') or ''),
            ))
    return dict(
        state=STATE_RUNNING if running else STATE_NOT_READY,
        running=running,
        is_worker=False,
        message=_not_ready_message(head, doc.get('high-availability')),
        high_availability=_ha_summary(doc.get('high-availability')),
        addons=addons,
    )


def addon_names(addons, status):
    """Names (``name``) of the addons whose status is ``status`` (enabled/disabled)."""
    return [addon['name'] for addon in addons or [] if addon['status'] == status]


# --------------------------------------------------------------------------------------------
# snap
# --------------------------------------------------------------------------------------------

def parse_snapd_version(stdout):
    """``snap version`` -> snapd version text (e.g. ``'2.58.3'``), None when unavailable."""
    for line in (stdout or '').splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == 'snapd' and version_tuple(parts[1]):
            return parts[1]
    return None


def parse_snap_list(stdout, name='microk8s'):
    """``snap list <name>`` -> dict(name, version, revision, tracking, publisher, notes, held).

    ``held`` is True/False from the Notes column; snapd only reports holds there from 2.59, so
    the caller decides what False means on older snapd. None when the snap is not listed.
    """
    lines = (stdout or '').splitlines()
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 5 or parts[0] != name:
            continue
        notes = parts[5].split(',') if len(parts) > 5 and parts[5] != '-' else []
        return dict(
            name=parts[0],
            version=parts[1],
            revision=parts[2],
            tracking=None if parts[3] == '-' else parts[3],
            publisher=parts[4],
            notes=notes,
            classic='classic' in notes,
            held='held' in notes,
        )
    return None


def parse_snap_info(stdout):
    """Top-level ``key: value`` fields of ``snap info <name>`` (tracking, hold, installed...)."""
    info = {}
    for line in (stdout or '').splitlines():
        if not line or line[0] in ' \t-':
            continue
        key, sep, value = line.partition(':')
        if sep:
            info[key.strip()] = value.strip()
    return info


# --------------------------------------------------------------------------------------------
# Addons: names by version, argument rules, plan
# --------------------------------------------------------------------------------------------

ARGS_NONE = 'none'
ARGS_OPTIONAL = 'optional'
ARGS_REQUIRED = 'required'

# Core addons with their argument rule and, where microk8s renamed or dropped them, the
# versions (major, minor) in which the name exists. Addons that are not listed here (community
# and other repositories) are accepted when the node's `microk8s status` lists them.
CORE_ADDONS = {
    'cert-manager': dict(args=ARGS_NONE),
    'cis-hardening': dict(args=ARGS_OPTIONAL),
    'community': dict(args=ARGS_NONE),
    'dashboard': dict(args=ARGS_NONE, until=(1, 35)),
    'dns': dict(args=ARGS_OPTIONAL),
    'gpu': dict(args=ARGS_OPTIONAL, until=(1, 28)),
    'ha-cluster': dict(args=ARGS_NONE),
    'helm': dict(args=ARGS_NONE),
    'helm3': dict(args=ARGS_NONE),
    'host-access': dict(args=ARGS_OPTIONAL),
    'hostpath-storage': dict(args=ARGS_NONE, since=(1, 24)),
    'ingress': dict(args=ARGS_OPTIONAL),
    'kube-ovn': dict(args=ARGS_OPTIONAL),
    'mayastor': dict(args=ARGS_OPTIONAL),
    'metallb': dict(args=ARGS_REQUIRED),
    'metrics-server': dict(args=ARGS_NONE),
    'minio': dict(args=ARGS_OPTIONAL),
    'nvidia': dict(args=ARGS_OPTIONAL, since=(1, 29)),
    'observability': dict(args=ARGS_OPTIONAL),
    'prometheus': dict(args=ARGS_NONE),
    'rbac': dict(args=ARGS_NONE),
    'registry': dict(args=ARGS_OPTIONAL),
    'rook-ceph': dict(args=ARGS_OPTIONAL),
    'storage': dict(args=ARGS_NONE, until=(1, 23)),
}

# old name -> (new name, first version with the new name). Applied in both directions so a
# playbook written for either side of a rename works on the installed version.
RENAMES = {
    'storage': ('hostpath-storage', (1, 24)),
    'gpu': ('nvidia', (1, 29)),
}

# From 1.25 Helm 3 is part of microk8s under both names and cannot be disabled.
HELM_BUILTIN_SINCE = (1, 25)
# From 1.27 a fresh install has dns enabled.
DNS_DEFAULT_SINCE = (1, 27)


def _minor(version):
    parsed = version_tuple(version) if not isinstance(version, tuple) else version
    return tuple(parsed[:2]) if parsed else None


def canonical_addon_name(name, version):
    """The name microk8s ``version`` uses for addon ``name`` (``repo/`` prefixes are kept).

    ``helm`` always means Helm 3 (``helm3``): Helm 2 is unsupported. Unknown version -> the
    newest names.
    """
    repo, slash, bare = name.rpartition('/')
    minor = _minor(version)
    if bare == 'helm':
        bare = 'helm3'
    for old, (new, since) in RENAMES.items():
        if minor is None or minor >= since:
            if bare == old:
                bare = new
        elif bare == new:
            bare = old
    return repo + slash + bare


def core_addons_for(version):
    """Names of the core addons that exist in ``version`` (None = newest)."""
    minor = _minor(version)
    names = []
    for name, rule in CORE_ADDONS.items():
        if minor is not None:
            if 'since' in rule and minor < rule['since']:
                continue
            if 'until' in rule and minor > rule['until']:
                continue
        elif 'until' in rule:
            continue
        names.append(name)
    return sorted(names)


def normalize_args(args):
    """Addon ``args`` option -> list of strings (a single string is one argument).

    An empty list means the same as no args: nothing declared, nothing to compare.
    """
    if args is None or args == [] or args == '':
        return None
    if isinstance(args, (list, tuple)):
        return [str(arg) for arg in args]
    return [str(args)]


# metallb's enable script reads its first argument only (``read -ra ARGUMENTS <<< "$1"``,
# canonical/microk8s-core-addons addons/metallb/enable:18) and splits that word on ",": every
# further word would be dropped without a word of warning.
METALLB = 'metallb'

# nvidia (1.29+) prefixes the GPU operator's options with --gpu-operator- (core-addons branch 1.29
# addons/nvidia/enable:110-127); gpu (1.24-1.28) has the same options without the prefix and
# nothing else (branch 1.28 addons/gpu/enable:34-40). click refuses an option a command does not
# declare, so nvidia's spelling fails on gpu.
GPU_UNTIL = (1, 28)
GPU_OPTION_FROM_NVIDIA = {
    '--gpu-operator-driver': '--driver',
    '--gpu-operator-version': '--version',
    '--gpu-operator-toolkit-version': '--toolkit-version',
    '--gpu-operator-set': '--set',
    '--gpu-operator-values': '--values',
    '--gpu-operator-set-as-default-runtime': '--set-as-default-runtime',
    '--gpu-operator-no-set-as-default-runtime': '--no-set-as-default-runtime',
}
GPU_OPTIONS = ('--requires', '--driver', '--version', '--toolkit-version', '--set', '-f', '--values',
               '--set-as-default-runtime', '--no-set-as-default-runtime')

# Disabling hostpath storage removes its provisioner, then asks on stdin whether to delete the
# volumes' data under SNAP_COMMON/default-storage and exits 1 unless its first argument is
# destroy-storage (core-addons addons/hostpath-storage/disable:17-22, 1.24 to main). A "no"
# fails too, so disabling always costs the data: the declaration has to say so.
DESTROY_STORAGE = 'destroy-storage'
DISABLE_ARGS = {'hostpath-storage': [DESTROY_STORAGE], 'storage': [DESTROY_STORAGE]}


def _gpu_args(args):
    words = []
    for word in args:
        if not word.startswith('-'):
            words.append(word)
            continue
        option, equals, value = word.partition('=')
        option = GPU_OPTION_FROM_NVIDIA.get(option, option)
        if option not in GPU_OPTIONS:
            raise ValueError("option '%s' does not exist for the gpu addon of microk8s 1.28 and older (the "
                             "nvidia addon's options map to: %s)" % (word.partition('=')[0], ', '.join(GPU_OPTIONS)))
        words.append(option + equals + value)
    return words


def addon_command_args(canonical, args, version):
    """The words to put after ``microk8s enable <canonical>`` for the declared ``args``.

    ``canonical`` is the name for ``version`` (``canonical_addon_name``). Joins metallb's
    ranges into its one argument and spells nvidia's options as gpu's on 1.28 and older.
    Raises ValueError for an option the installed addon does not have.
    """
    if args is None:
        return None
    bare = canonical.rpartition('/')[2]
    if bare == METALLB:
        return [','.join(args)]
    minor = _minor(version)
    if bare == 'gpu' and minor is not None and minor <= GPU_UNTIL:
        return _gpu_args(args)
    return list(args)


def validate_addons(declared, version, available=None):
    """Check a declared addon list before anything changes.

    ``declared``: list of dicts with name, state (enabled|disabled), args (list or None).
    ``available``: list of addon dicts from ``parse_status`` (None when microk8s is not
    running/installed: the static core list for ``version`` is used).
    Returns a list of error messages (empty = valid).
    """
    errors = []
    minor = _minor(version)
    if available:
        allowed = set()
        for addon in available:
            allowed.add(addon['name'])
            allowed.add('%s/%s' % (addon['repository'], addon['name']))
    else:
        allowed = set(core_addons_for(version))
    allowed_text = ', '.join(sorted(name for name in allowed if '/' not in name))
    seen = {}
    for index, entry in enumerate(declared):
        name = entry.get('name')
        where = 'addons[%d]' % index
        if not name:
            errors.append('%s: name is required' % where)
            continue
        canonical = canonical_addon_name(name, version)
        bare = canonical.rpartition('/')[2]
        state = entry.get('state', 'enabled')
        args = entry.get('args')
        if canonical not in allowed and not (canonical.startswith('core/') and bare in allowed):
            errors.append("%s: unknown addon '%s' for microk8s %s; allowed: %s"
                          % (where, name, _version_text(minor), allowed_text))
            continue
        key = addon_key(canonical, available)
        previous = seen.get(key)
        if previous is not None:
            prev_index, prev_state = previous
            if prev_state != state:
                errors.append("%s: addon '%s' is declared both enabled and disabled (addons[%d] and %s); "
                              "declare it once with state enabled or disabled" % (where, name, prev_index, where))
            else:
                errors.append("%s: addon '%s' is declared twice (also addons[%d]); declare it once"
                              % (where, name, prev_index))
            continue
        seen[key] = (index, state)
        rule = CORE_ADDONS.get(bare, {}).get('args')
        if state == 'disabled' and bare in DISABLE_ARGS:
            if args != DISABLE_ARGS[bare]:
                errors.append("%s: disabling addon '%s' deletes the data of its volumes (%s/default-storage); "
                              "microk8s asks on stdin and fails otherwise. Declare args: %s to confirm, or leave "
                              "the addon out" % (where, name, SNAP_COMMON, DISABLE_ARGS[bare]))
        elif args and state == 'disabled':
            errors.append("%s: args are only used to enable an addon; remove args from disabled addon '%s'"
                          % (where, name))
        elif args and rule == ARGS_NONE:
            errors.append("%s: addon '%s' takes no arguments; remove args (got %s)" % (where, name, args))
        elif not args and rule == ARGS_REQUIRED and state == 'enabled':
            errors.append("%s: addon '%s' needs args (for metallb an address range such as "
                          "['10.64.140.43-10.64.140.49']); without one microk8s waits for input" % (where, name))
        if args and state == 'enabled':
            try:
                addon_command_args(canonical, args, version)
            except ValueError as exc:
                errors.append("%s: addon '%s' on microk8s %s: %s" % (where, name, _version_text(minor), exc))
        if bare in ('helm', 'helm3') and state == 'disabled' and (minor is None or minor >= HELM_BUILTIN_SINCE):
            errors.append("%s: addon '%s' is built into microk8s %s and cannot be disabled; use state enabled "
                          "or leave it out" % (where, name, _version_text(minor)))
    return errors


def _version_text(minor):
    return '%d.%d' % minor if minor else '(version unknown, newest names assumed)'


def _find_addon(available, canonical):
    repo, slash, bare = canonical.rpartition('/')
    for addon in available or []:
        if addon['name'] == bare and (not slash or addon['repository'] == repo):
            return addon
    return None


def addon_key(canonical, available):
    """``repository/name`` of an addon, so that ``dns`` and ``core/dns`` are the same entry."""
    addon = _find_addon(available, canonical)
    if addon is not None:
        return '%s/%s' % (addon['repository'], addon['name'])
    return canonical if '/' in canonical else 'core/' + canonical


def predicted_enabled_at_install(version, launch_config=None):
    """Addons a fresh install of ``version`` enables by itself (for check mode on a new node).

    The install hook applies the first launch configuration it finds, the bundled one last
    (canonical/microk8s snap/hooks/install:70-87); only that bundled one
    (microk8s-resources/microk8s.default.yaml) enables dns. So with a user ``launch_config``
    the addons it enables are the prediction, and dns only if it lists it.
    """
    minor = _minor(version)
    enabled = []
    if launch_config:
        enabled.extend(canonical_addon_name(str(addon['name']), version)
                       for addon in launch_config.get('addons') or []
                       if isinstance(addon, dict) and addon.get('name') and not addon.get('disable'))
    elif minor is None or minor >= DNS_DEFAULT_SINCE:
        enabled.append('dns')
    if minor is None or minor >= HELM_BUILTIN_SINCE:
        enabled.extend(['helm', 'helm3'])
    return enabled


def plan_addons(declared, version, available, recorded):
    """Decide what to run to reach the declared addon states.

    ``available``: addons from ``parse_status`` (or a prediction, see
    ``predicted_enabled_at_install``); ``recorded``: ``{'repository/name': args list}`` of what
    this module enabled before. Returns a list of actions ``dict(action=enable|disable, name=<name
    microk8s knows>, key=<repository/name>, args=[...], reason=...)``: disables first, then
    enables in declared order. ``args`` are the words the addon's script reads
    (``addon_command_args``); they are also what gets recorded.
    An enabled addon with declared args different from the recorded ones is disabled and
    enabled again, because microk8s ignores the arguments of an already enabled addon.
    """
    disables = []
    enables = []
    for entry in declared:
        canonical = canonical_addon_name(entry['name'], version)
        state = entry.get('state', 'enabled')
        current = _find_addon(available, canonical)
        enabled = current is not None and current['status'] == 'enabled'
        if state == 'disabled':
            if enabled:
                disables.append(dict(action='disable', name=canonical, key=addon_key(canonical, available),
                                     args=normalize_args(entry.get('args')) or [], reason='enabled, declared disabled'))
            continue
        args = addon_command_args(canonical, normalize_args(entry.get('args')), version)
        if not enabled:
            enables.append(dict(action='enable', name=canonical, key=addon_key(canonical, available), args=args or [],
                                reason='disabled, declared enabled'))
            continue
        key = addon_key(canonical, available)
        if args is not None and recorded.get(key) != args:
            reason = ('enabled with arguments %s, declared %s' % (recorded[key], args)
                      if key in recorded else 'enabled with unknown arguments, declared %s' % (args,))
            disables.append(dict(action='disable', name=canonical, key=key, args=[], reason=reason))
            enables.append(dict(action='enable', name=canonical, key=key, args=args, reason=reason))
    return disables + enables


def predicted_status_addons(version, launch_config=None):
    """The addon list a fresh install of ``version`` would report (check mode on a new node)."""
    defaults = predicted_enabled_at_install(version, launch_config)
    return [dict(name=name, repository='core', description='', version='',
                 status='enabled' if name in defaults else 'disabled')
            for name in core_addons_for(version)]


def apply_plan_to_available(available, actions):
    """The addon list as it will be after ``actions`` (for check mode and the result)."""
    result = [dict(addon) for addon in available or []]
    for action in actions:
        addon = _find_addon(result, action['name'])
        if addon is not None:
            addon['status'] = 'disabled' if action['action'] == 'disable' else 'enabled'
    return result


def addons_diff(declared, version, available, recorded, actions):
    """``before``/``after`` of the declared addons: status and recorded arguments."""
    after_available = apply_plan_to_available(available, actions)
    after_record = apply_plan_to_record(recorded, actions)
    before = {}
    after = {}
    for entry in declared:
        canonical = canonical_addon_name(entry['name'], version)
        for target, addons, record in ((before, available, recorded), (after, after_available, after_record)):
            addon = _find_addon(addons, canonical)
            target[canonical] = dict(status=addon['status'] if addon else 'unknown',
                                     args=record.get(addon_key(canonical, addons)))
    return dict(before=before, after=after)


def apply_plan_to_record(recorded, actions):
    """The argument record after ``actions`` ran (enable stores args, disable forgets)."""
    result = dict(recorded)
    for action in actions:
        if action['action'] == 'disable':
            result.pop(action['key'], None)
        else:
            result[action['key']] = list(action['args'])
    return result


def read_addon_record(path=ADDON_STATE_FILE):
    """``{'repository/name': args}`` recorded by microk8s_addons; empty when absent or unreadable."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return {}
    addons = data.get('addons') if isinstance(data, dict) else None
    if not isinstance(addons, dict):
        return {}
    return dict((str(name), normalize_args(args) or []) for name, args in addons.items())


def write_addon_record(record, path=ADDON_STATE_FILE):
    """Store the record atomically (root-only: arguments may hold addresses or tokens)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(dict(managed_by='sciplat.k8s.microk8s_addons', addons=record), handle, indent=2, sort_keys=True)
        handle.write('\n')
    os.rename(tmp, path)


# --------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------

class Microk8sCli(object):
    """Runs microk8s and snap for a module, each call bounded by a timeout.

    ``run``/``snap`` return ``(rc, stdout, stderr)`` and raise Microk8sError on timeout (and on
    a non-zero rc when ``check=True``).
    """

    def __init__(self, module, binary=None, timeout=DEFAULT_TIMEOUT):
        self.module = module
        self.timeout = timeout
        self._binary = binary
        self._timeout_bin = module.get_bin_path('timeout')

    @property
    def binary(self):
        if self._binary is None:
            if os.path.exists(MICROK8S_BIN):
                self._binary = MICROK8S_BIN
            else:
                self._binary = self.module.get_bin_path('microk8s') or ''
        return self._binary

    def installed(self):
        return bool(self.binary)

    def _exec(self, argv, timeout, check, data=None):
        limit = self.timeout if timeout is None else timeout
        cmd = list(argv)
        if self._timeout_bin and limit:
            cmd = [self._timeout_bin, '--kill-after=10', str(int(limit))] + cmd
        rc, out, err = self.module.run_command(cmd, data=data, environ_update=dict(LANG='C', LC_ALL='C'))
        shown = ' '.join(argv)
        if self._timeout_bin and limit and rc in TIMEOUT_RCS:
            raise Microk8sError('%s did not finish within %s seconds' % (shown, limit),
                                rc=rc, stdout=out, stderr=err, cmd=shown)
        if check and rc != 0:
            raise Microk8sError('%s failed (rc=%s): %s' % (shown, rc, (err or out).strip()),
                                rc=rc, stdout=out, stderr=err, cmd=shown)
        return rc, out, err

    def run(self, args, timeout=None, check=False, data=None):
        """``microk8s <args>``."""
        if not self.installed():
            raise Microk8sError('microk8s is not installed (no %s)' % MICROK8S_BIN)
        return self._exec([self.binary] + list(args), timeout, check, data)

    def snap(self, args, timeout=None, check=False):
        """``snap <args>``."""
        snap_bin = self.module.get_bin_path('snap')
        if not snap_bin:
            raise Microk8sError('snap is not installed (install snapd)')
        return self._exec([snap_bin] + list(args), timeout, check)

    def snap_change(self, argv, retries=0, delay=0, sleep=time.sleep):
        """``snap <argv>`` for a change (install, refresh, hold): repeats snapd's retryable errors.

        Raises Microk8sError once the command fails otherwise or ``retries`` repeats are spent.
        """
        attempt = 0
        while True:
            rc, out, err = self.snap(argv)
            if rc == 0:
                return rc, out, err
            wait = snap_retry_wait(rc, attempt, retries, delay)
            if wait is None:
                shown = 'snap ' + ' '.join(argv)
                raise Microk8sError(snap_failure_message(shown, rc, (err or out).strip(), attempt),
                                    rc=rc, stdout=out, stderr=err, cmd=shown)
            attempt += 1
            sleep(wait)

    def wait_seeded(self, timeout):
        """Block until snapd has seeded the system (``snap wait system seed.loaded``), bounded."""
        self.snap(SNAP_WAIT_SEEDED, timeout=timeout, check=True)

    # -- microk8s -------------------------------------------------------------------------

    def status(self, wait_ready_timeout=None):
        """Parsed ``status --format yaml``; with ``wait_ready_timeout`` waits that long first.

        Returns a dict with state ``not_installed`` when there is no microk8s binary.
        """
        if not self.installed():
            return dict(state=STATE_NOT_INSTALLED, running=False, is_worker=False, message=None,
                        high_availability=_ha_summary({}), addons=None)
        args = ['status', '--format', 'yaml']
        timeout = None
        if wait_ready_timeout:
            args += ['--wait-ready', '--timeout', str(int(wait_ready_timeout))]
            timeout = int(wait_ready_timeout) + 30
        rc, out, err = self.run(args, timeout=timeout)
        try:
            return parse_status(out, rc)
        except Microk8sError as exc:
            exc.stderr = err
            exc.cmd = 'microk8s ' + ' '.join(args)
            raise

    def version(self):
        """``{'version', 'revision'}`` from ``microk8s version``; None when not parseable."""
        rc, out, err = self.run(['version'])
        return parse_version(out) if rc == 0 else None

    def installed_version(self):
        """Version text of the installed microk8s, from ``microk8s version`` or else the snap.

        microk8s 1.24 has no ``version`` command; ``snap list`` answers on every release.
        """
        parsed = self.version()
        if parsed:
            return parsed['version']
        return version_from_snap(self.snap_list()) if self.module.get_bin_path('snap') else None

    def is_worker_locked(self):
        return os.path.exists(CLUSTER_LOCK)

    # An addon script that still prompts (read -p) gets an empty line and end of file, so it
    # fails at once instead of waiting on whatever stdin the connection left open.
    def enable(self, name, args=None, timeout=None):
        return self.run(['enable', name] + list(args or []), timeout=timeout, check=True, data=NO_INPUT)

    def disable(self, name, args=None, timeout=None):
        return self.run(['disable', name] + list(args or []), timeout=timeout, check=True, data=NO_INPUT)

    # -- snap ------------------------------------------------------------------------------

    def snapd_version(self):
        rc, out, err = self.snap(['version'])
        return parse_snapd_version(out) if rc == 0 else None

    def snap_list(self, name='microk8s'):
        rc, out, err = self.snap(['list', name])
        if rc != 0:
            return None
        return parse_snap_list(out, name)

    def snap_info(self, name='microk8s'):
        rc, out, err = self.snap(['info', name])
        return parse_snap_info(out) if rc == 0 else {}


def node_facts(cli, wait_ready_timeout=0):
    """Everything microk8s_info reports about the node, read without changing anything."""
    status = cli.status(wait_ready_timeout=wait_ready_timeout)
    facts = dict(
        installed=status['state'] != STATE_NOT_INSTALLED,
        state=status['state'],
        running=bool(status['running']),
        is_worker=status['is_worker'],
        message=status['message'],
        high_availability=status['high_availability'],
        addons=dict(enabled=addon_names(status['addons'], 'enabled'),
                    disabled=addon_names(status['addons'], 'disabled')),
        addon_details=status['addons'] or [],
        version=None,
        revision=None,
        channel=None,
        held=None,
        snapd_version=None,
    )
    # A worker has no datastore view: being locked to a cluster is what makes it clustered.
    facts['clustered'] = status['is_worker'] or len(status['high_availability']['nodes']) > 1
    if cli.module.get_bin_path('snap'):
        facts['snapd_version'] = cli.snapd_version()
        listed = cli.snap_list() if facts['installed'] else None
        if listed:
            facts['channel'] = listed['tracking']
            facts['revision'] = listed['revision']
            facts['version'] = listed['version'].lstrip('v')
            facts['held'] = snap_held(listed, facts['snapd_version'], cli)
    if facts['installed']:
        version = cli.version()
        if version:
            facts['version'] = version['version']
            facts['revision'] = version['revision']
    return facts


def snap_held(listed, snapd_version, cli=None):
    """Whether refreshes of the snap are held: True/False, None when snapd cannot tell (< 2.59).

    snapd shows holds in ``snap list`` notes and ``snap info`` from 2.59 on.
    """
    parsed = version_tuple(snapd_version)
    if listed.get('held'):
        return True
    if parsed is None or parsed[:2] < HOLD_NOTES_MIN_SNAPD:
        if cli is not None:
            info = cli.snap_info(listed['name'])
            if info.get('hold'):
                return True
        return None
    return False


def snap_retry_wait(rc, attempt, retries, delay):
    """Seconds to wait before repeating a snap command that exited ``rc``; None: do not repeat.

    ``attempt`` counts the repeats already made. Only snapd's retryable errors (exit 10) pass.
    """
    if rc != SNAP_RETRYABLE_RC or attempt >= retries:
        return None
    return delay


def snap_failure_message(shown, rc, text, repeats):
    """What failed and, for snapd's retryable errors, why repeating did not help."""
    msg = '%s failed (rc=%s): %s' % (shown, rc, text)
    if rc == SNAP_RETRYABLE_RC:
        msg += ('. snapd refused the change as conflicting %s time(s): it was still seeding or busy with '
                'another change (see snap changes). Raise retries or retry_delay, or run again later'
                % (repeats + 1))
    return msg


def plan_snap(listed, channel, hold, snapd_version, held):
    """Snap commands that bring microk8s to ``channel`` and the requested hold state.

    ``listed``: ``parse_snap_list`` result or None (not installed); ``held``: True/False/None
    (``snap_held``); ``snapd_version``: text or None (unknown: no version check, as in check
    mode before snapd is installed). Returns a list of ``dict(action, argv, reason)`` where
    ``argv`` is what follows ``snap``. Raises ValueError for a bad channel or a hold that the
    installed snapd cannot do.
    """
    parse_channel(channel)
    actions = []
    if listed is None:
        actions.append(dict(action='install', argv=['install', 'microk8s', '--classic', '--channel=%s' % channel],
                            reason='microk8s is not installed'))
        held = False
    elif listed['tracking'] != channel:
        actions.append(dict(action='refresh', argv=['refresh', 'microk8s', '--channel=%s' % channel],
                            reason='tracking %s, declared %s' % (listed['tracking'], channel)))
    if hold is None:
        return actions
    parsed = version_tuple(snapd_version)
    if hold and parsed is not None and parsed[:2] < HOLD_MIN_SNAPD:
        raise ValueError('holding refreshes of a single snap (snap refresh --hold) needs snapd >= %s; this node '
                         'has snapd %s. Upgrade snapd or do not ask for a hold.'
                         % ('.'.join(str(p) for p in HOLD_MIN_SNAPD), snapd_version))
    if hold and held is not True:
        actions.append(dict(action='hold', argv=['refresh', '--hold', 'microk8s'],
                            reason='refreshes not held' if held is False else 'snapd < 2.59 cannot report holds'))
    elif not hold and held is not False and listed is not None:
        actions.append(dict(action='unhold', argv=['refresh', '--unhold', 'microk8s'],
                            reason='refreshes held' if held else 'snapd < 2.59 cannot report holds'))
    return actions
