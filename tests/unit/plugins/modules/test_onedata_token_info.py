# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The onedata_token_info module, run in-process against the loopback FAKE Onezone."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.sciplat.k8s.plugins.modules import onedata_token_info
from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    SPACE_ID,
    running_fake_onezone,
)


@pytest.fixture(scope='module')
def fake(tmp_path_factory):
    with running_fake_onezone(tmp_path_factory.mktemp('onezone')) as onezone:
        yield onezone


def run_module(capsys, args, env=None, monkeypatch=None):
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            onedata_token_info.main()
    out = capsys.readouterr().out
    return out, json.loads(out)


def test_online_scope_with_token_and_host_from_environment(fake, capsys, monkeypatch):
    token = fake.issue(valid_until=int(time.time()) + 600)
    out, result = run_module(capsys, dict(onezone_ca_path=fake.ca_path, space_id=SPACE_ID,
                                          provider_host=PROVIDER_DOMAIN),
                             env=dict(ONEDATA_TOKEN=token, ONEZONE_HOST=fake.address), monkeypatch=monkeypatch)
    assert not result.get('failed') and result['changed'] is False
    assert result['scope']['spaces'][0]['name'] == 'fake-space'
    assert result['token']['type'] == 'accessToken'
    assert token not in out


def test_space_not_in_scope_fails_clearly(fake, capsys):
    token = fake.issue()
    out, result = run_module(capsys, dict(token=token, onezone_host=fake.address, onezone_ca_path=fake.ca_path,
                                          space_id=OTHER_SPACE_ID))
    assert result['failed']
    assert result['msg'].startswith('Onedata token check failed: Onezone 127.0.0.1:')
    assert 'does not give access to space %s' % OTHER_SPACE_ID in result['msg']
    assert token not in out


def test_offline_only(capsys, fake):
    token = fake.issue()
    out, result = run_module(capsys, dict(token=token, validate_online=False))
    assert result['scope'] is None and result['token']['serialisation'] == 'macaroon-v1'
    assert fake.paths == [] or token not in out


def test_online_without_onezone_host(capsys, fake, monkeypatch):
    monkeypatch.delenv('ONEZONE_HOST', raising=False)
    out, result = run_module(capsys, dict(token=fake.issue()))
    assert result['failed'] and 'ONEZONE_HOST' in result['msg']


def test_readonly_scope_warns(fake, capsys):
    token = fake.issue(readonly=True)
    out, result = run_module(capsys, dict(token=token, onezone_host=fake.address, onezone_ca_path=fake.ca_path))
    # ansible-core 2.19 returns warnings as structured events; the text is inside.
    assert 'the token only allows read-only data access' in json.dumps(result['warnings'])


def test_bad_inputs_fail_before_any_request(fake, capsys):
    before = len(fake.paths)
    out, result = run_module(capsys, dict(token=fake.issue(), onezone_host=fake.address, space_id='my-space',
                                          provider_host='https://op.example.org'))
    assert result['failed'] and 'not a URL' in result['msg'] and 'not a Onedata space ID' in result['msg']
    assert len(fake.paths) == before
