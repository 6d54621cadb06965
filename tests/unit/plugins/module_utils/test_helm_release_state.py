# -*- coding: utf-8 -*-
"""Recovery of releases that a helm operation did not finish: the plan from a release's history. The real helm
leaves such releases in tests/integration/test_helm_release_faults.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import time

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import helm_release_state as state

NOW = state.timestamp('2026-12-07T15:00:00Z')


def revision(number, status, minutes_ago=60):
    moment = NOW - minutes_ago * 60
    stamp = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=moment)
    return {'revision': number, 'status': status, 'updated': stamp.strftime('%Y-%m-%dT%H:%M:%S.123456789Z')}


@pytest.mark.parametrize('text, seconds', [
    ('10m', 600), ('1h30m', 5400), ('300s', 300), ('1m30s', 90), ('250ms', 0.25), ('45', 45), (600, 600),
])
def test_durations_as_helm_takes_them(text, seconds):
    assert state.duration_seconds(text) == seconds


@pytest.mark.parametrize('text', ['', 'ten minutes', '10 m', '10x', '-5m', 'm'])
def test_bad_durations_are_named(text):
    with pytest.raises(state.ReleaseStateError, match='is not a duration'):
        state.duration_seconds(text)


@pytest.mark.parametrize('text', [
    '2026-12-07T15:00:00Z', '2026-12-07T15:00:00.123456789Z', '2026-12-07T16:00:00+01:00',
    '2026-12-07T10:00:00.5-05:00', '2026-12-07 15:00:00 +0000 UTC',
])
def test_times_in_every_form_helm_prints(text):
    assert int(state.timestamp(text)) == int(NOW)


def test_an_unreadable_time_is_an_error():
    with pytest.raises(state.ReleaseStateError, match='cannot read'):
        state.timestamp('yesterday')


def test_a_release_that_does_not_exist_or_is_deployed_is_left_alone():
    assert state.plan([], NOW, 600)['action'] == 'none'
    found = state.plan([revision(1, 'superseded'), revision(2, 'deployed')], NOW, 600)
    assert (found['action'], found['status'], found['revision']) == ('none', 'deployed', 2)


@pytest.mark.parametrize('status', state.PENDING)
def test_a_young_pending_revision_may_be_a_live_operation(status):
    found = state.plan([revision(1, 'deployed'), revision(2, status, minutes_ago=2)], NOW, 600)
    assert found['action'] == 'wait' and found['revision'] == 2 and 100 < found['age'] < 140
    assert 'another helm operation may still be running' in state.describe(found, 'mip', 'mip')


@pytest.mark.parametrize('status', state.PENDING + ('failed',))
def test_an_abandoned_or_failed_revision_goes_back_to_the_last_deployed_one(status):
    history = [revision(1, 'superseded'), revision(2, 'deployed'), revision(3, 'failed'), revision(4, status, 20)]
    found = state.plan(history, NOW, 600)
    assert (found['action'], found['revision'], found['target']) == ('rollback', 4, 2)
    assert state.command('rollback', 'mip', 'mip-ns', found['target']) == ['rollback', 'mip', '2', '--namespace', 'mip-ns']
    assert 'goes back to revision 2, the last one deployed' in state.describe(found, 'mip', 'mip-ns')


def test_a_failed_revision_is_recovered_at_once_whatever_its_age():
    found = state.plan([revision(1, 'deployed'), revision(2, 'failed', minutes_ago=0)], NOW, 600)
    assert (found['action'], found['target']) == ('rollback', 1)


@pytest.mark.parametrize('history', [
    [revision(1, 'pending-install', 20)],
    [revision(1, 'failed')],
    [revision(1, 'failed'), revision(2, 'pending-upgrade', 20)],
    [revision(1, 'deployed'), revision(2, 'uninstalling', 0)],
])
def test_a_release_never_deployed_or_stuck_uninstalling_is_uninstalled(history):
    found = state.plan(history, NOW, 600)
    assert found['action'] == 'uninstall'
    assert state.command('uninstall', 'mip', 'mip', None) == ['uninstall', 'mip', '--namespace', 'mip']


def test_revisions_are_ordered_by_number_not_by_position():
    found = state.plan([revision(10, 'failed'), revision(9, 'deployed'), revision(2, 'superseded')], NOW, 600)
    assert (found['revision'], found['target']) == (10, 9)


def test_the_private_folder_is_made_owner_only_and_loses_only_old_leftovers(tmp_path):
    folder = tmp_path / 'helm-tmp'
    assert state.private_tmp_dir(str(folder), 60, check_mode=True) == (True, []) and not folder.exists()
    assert state.private_tmp_dir(str(folder), 60, check_mode=False) == (True, [])
    assert (folder.stat().st_mode & 0o777) == 0o700
    old, fresh, old_dir = folder / 'tmpold.yml', folder / 'tmpnew.yml', folder / 'payload'
    old.write_text('secret')
    fresh.write_text('secret')
    old_dir.mkdir()
    (old_dir / 'module.py').write_text('')
    for path in (old, old_dir):
        os.utime(path, (time.time() - 120, time.time() - 120))
    assert state.private_tmp_dir(str(folder), 60, check_mode=True) == (True, [str(old_dir), str(old)])
    assert old.exists() and old_dir.exists()
    assert state.private_tmp_dir(str(folder), 60, check_mode=False) == (True, [str(old_dir), str(old)])
    assert not old.exists() and not old_dir.exists() and fresh.exists()
    assert state.private_tmp_dir(str(folder), 60, check_mode=False) == (False, [])
