# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""onedata_token_secret refuses bad input before it connects anywhere (the Secret itself is tested
against the real API server in tests/integration/test_onedata.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.sciplat.k8s.plugins.modules import onedata_token_secret
from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import PROVIDER_DOMAIN, SPACE_ID
from ansible_collections.sciplat.k8s.tests.fakes.onezone.tokens import make_token

pytest.importorskip('kubernetes')

# Nothing listens here: any attempt to reach the API server would fail with another message.
UNREACHABLE = dict(host='https://127.0.0.1:1', validate_certs=False, api_key='not-a-real-api-key')


def run_module(capsys, **args):
    with patch_module_args(dict(UNREACHABLE, name='onedata-x', namespace='ns', **args)):
        with pytest.raises(SystemExit):
            onedata_token_secret.main()
    out = capsys.readouterr().out
    return out, json.loads(out)


@pytest.mark.parametrize('args,expected', [
    (dict(provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID), 'no Onedata token given'),
    (dict(token=make_token(), space_id=SPACE_ID), 'provider_host is required'),
    (dict(token=make_token(), provider_host=PROVIDER_DOMAIN), 'space_id is required'),
    (dict(token=make_token(valid_until=1000), provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID),
     'expired at 1970-01-01T00:16:40Z'),
    (dict(token=make_token(kind='idn'), provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID), 'identityToken'),
    (dict(token=make_token(), provider_host=PROVIDER_DOMAIN + ':443', space_id=SPACE_ID), '--port N'),
    (dict(token=make_token(), provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID, secret_keys=dict(token='host')),
     'same Secret key'),
    (dict(token=make_token(), provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID, validate_online=True),
     'ONEZONE_HOST'),
])
def test_refuses_before_connecting(capsys, monkeypatch, args, expected):
    monkeypatch.delenv('ONEDATA_TOKEN', raising=False)
    monkeypatch.delenv('ONEZONE_HOST', raising=False)
    out, result = run_module(capsys, **args)
    assert result['failed'] and expected in result['msg'], result['msg']
    if args.get('token'):
        assert args['token'] not in out


def test_api_errors_are_one_line(capsys):
    out, result = run_module(capsys, token=make_token(), provider_host=PROVIDER_DOMAIN, space_id=SPACE_ID)
    assert result['failed'] and result['msg'].startswith('Cannot reach the Kubernetes API server for Secret ns/onedata-x')
    assert 'Connection refused' in result['msg'] and 'Traceback' not in out
