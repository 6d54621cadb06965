# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to do, before an install or upgrade, about a release that an earlier helm operation did not finish.

helm records an operation as a revision in state pending-install, pending-upgrade or pending-rollback before it
applies anything, and moves it to deployed or failed when it ends. A run that is killed (or loses the API server)
in between leaves the pending revision behind, and every later install or upgrade is refused with "another
operation (install/upgrade/rollback) is in progress". A revision left failed (an upgrade that was not atomic, or
whose rollback failed) is worse: kubernetes.core.helm compares only values and chart version, so a rerun with the
same values reports the release unchanged while it stays failed.

Both are recovered the way an operator would: back to the last revision that was deployed (helm rollback), or,
when no revision ever was (the first install never finished), helm uninstall so that the install starts again.
A pending revision younger than the longest time a helm operation of the collection may take can still be a live
operation of another run: it is never touched, the caller is told to wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import shutil
import stat
import time

PENDING = ('pending-install', 'pending-upgrade', 'pending-rollback')
# Statuses of a revision that was deployed at some time: the current one, and the ones it replaced.
WAS_DEPLOYED = ('deployed', 'superseded')
# The release is where helm left it after a finished operation (uninstalled: kept history of a finished uninstall).
SETTLED = ('deployed', 'uninstalled')

_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)(ms|h|m|s)')
_UNIT_SECONDS = {'h': 3600.0, 'm': 60.0, 's': 1.0, 'ms': 0.001}
_RFC3339 = re.compile(r'^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)')


class ReleaseStateError(Exception):
    pass


def duration_seconds(text):
    """Seconds of a Go duration as helm takes it ('10m', '1h30m', '300s'), or of a plain number of seconds."""
    text = str(text).strip()
    if re.match(r'^\d+(\.\d+)?$', text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not text or ''.join(number + unit for number, unit in parts) != text:
        raise ReleaseStateError("'%s' is not a duration such as 10m, 1h30m or 300s" % text)
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def timestamp(text):
    """Seconds since the epoch of a time helm prints (RFC 3339, any fraction and offset)."""
    match = _RFC3339.match(text or '')
    if not match:
        raise ReleaseStateError("helm printed a time this module cannot read: '%s'" % text)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    seconds = (moment - datetime.datetime(1970, 1, 1)).total_seconds() + float('0.' + (fraction or '0'))
    if offset != 'Z':
        sign = -1 if offset.startswith('-') else 1
        digits = offset[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def plan(history, now, stale_after):
    """What to do about the release, from its helm history (dicts with revision, status, updated).

    Returns a dict: action (none, wait, rollback or uninstall), status and revision of the newest revision, target
    (the revision a rollback returns to) and age (seconds since the newest revision was written)."""
    if not history:
        return {'action': 'none', 'status': None, 'revision': None, 'target': None, 'age': None}
    latest = max(history, key=lambda entry: int(entry['revision']))
    found = {'status': latest['status'], 'revision': int(latest['revision']), 'target': None,
             'age': max(0.0, now - timestamp(latest['updated']))}
    if latest['status'] in SETTLED:
        return dict(found, action='none')
    if latest['status'] in PENDING and found['age'] < stale_after:
        return dict(found, action='wait')
    if latest['status'] == 'uninstalling':
        return dict(found, action='uninstall')
    earlier = [int(entry['revision']) for entry in history
               if entry['status'] in WAS_DEPLOYED and int(entry['revision']) < found['revision']]
    if earlier:
        return dict(found, action='rollback', target=max(earlier))
    return dict(found, action='uninstall')


def command(action, name, namespace, target=None):
    """The helm arguments that carry out a planned action (what an operator would type)."""
    if action == 'rollback':
        return ['rollback', name, str(target), '--namespace', namespace]
    if action == 'uninstall':
        return ['uninstall', name, '--namespace', namespace]
    raise ReleaseStateError('no command for action %s' % action)


def describe(found, name, namespace):
    """One sentence on what was found and what it means."""
    where = '%s/%s' % (namespace, name)
    if found['action'] == 'wait':
        return ('Release %s has been %s since %d s ago (revision %d): another helm operation may still be running. '
                'Wait for it to end and run again' % (where, found['status'], found['age'], found['revision']))
    if found['action'] == 'rollback':
        return ('Release %s was left %s by an operation that did not finish (revision %d); it goes back to revision '
                '%d, the last one deployed' % (where, found['status'], found['revision'], found['target']))
    if found['action'] == 'uninstall':
        return ('Release %s was left %s (revision %d) and no revision of it was ever deployed; it is uninstalled so '
                'that the install starts again' % (where, found['status'], found['revision']))
    return 'Release %s is %s' % (where, found['status'] or 'not installed')


def private_tmp_dir(path, stale_after, check_mode):
    """Makes `path` a folder only its owner can enter, and removes what interrupted runs left in it (older than
    `stale_after`). Returns (changed, removed paths)."""
    changed = False
    if not os.path.isdir(path):
        if not check_mode:
            os.makedirs(path, 0o700)
        return True, []
    if stat.S_IMODE(os.stat(path).st_mode) != 0o700:
        changed = True
        if not check_mode:
            os.chmod(path, 0o700)
    removed = []
    for name in sorted(os.listdir(path)):
        entry = os.path.join(path, name)
        if time.time() - os.lstat(entry).st_mtime < stale_after:
            continue
        removed.append(entry)
        if not check_mode:
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                os.unlink(entry)
    return changed or bool(removed), removed
