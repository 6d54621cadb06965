# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Token validation, redaction and the Onezone check (against the loopback FAKE Onezone)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import time

import pytest

from ansible_collections.sciplat.k8s.plugins.module_utils import onedata
from ansible_collections.sciplat.k8s.tests.fakes.onezone.server import (
    OTHER_PROVIDER_DOMAIN,
    OTHER_SPACE_ID,
    PROVIDER_DOMAIN,
    PROVIDER_ID,
    SPACE_ID,
    default_scope,
    running_fake_onezone,
)
from ansible_collections.sciplat.k8s.tests.fakes.onezone.tokens import (
    macaroon_bytes,
    make_token,
    onedata_serialise,
    v1_packet,
)

NOW = 1750000000
HOUR = 3600


@pytest.fixture(scope='module')
def fake(tmp_path_factory):
    with running_fake_onezone(tmp_path_factory.mktemp('onezone')) as onezone:
        yield onezone


@pytest.fixture()
def client(fake):
    fake.delay = 0.0
    fake.override = None
    return onedata.OnezoneClient(fake.address, ca_path=fake.ca_path, timeout=5)


def shape_error(token, now=NOW):
    with pytest.raises(onedata.TokenShapeError) as info:
        onedata.check_token_offline(token, now=now)
    message = str(info.value)
    if token and len(token) > 8:
        assert token not in message
    return message


# --- offline shape -------------------------------------------------------------------------------

@pytest.mark.parametrize('serialisation', ['v1', 'v2'])
def test_parse_access_token(serialisation):
    token = make_token(valid_until=NOW + HOUR, caveats=['data.readonly', 'time < %d' % (NOW + 2 * HOUR)],
                       serialisation=serialisation)
    info = onedata.parse_token(token)
    assert info['type'] == 'accessToken'
    assert info['serialisation'] == 'macaroon-' + serialisation
    assert info['version'] == 2
    assert info['persistence'] == 'named'
    assert info['onezone_domain'] == 'onezone.fake.test'
    assert info['caveats'] == ['time', 'data.readonly']
    assert info['valid_until'] == NOW + HOUR  # the earliest of two time caveats


def test_v1_serialised_token_starts_like_onezone_tokens():
    # "0015location ..." base64-encodes to MDAx...; Onezone escapes the "0" of "F0aW9u" as "00".
    token = make_token(onezone_domain='onezone')
    assert token.startswith('MDAxNWxvY2F00aW9u')
    assert onedata.parse_token(token)['onezone_domain'] == 'onezone'


def test_legacy_identifier_is_an_access_token():
    raw = macaroon_bytes(b'onezone.example.org', b'0123456789abcdef0123456789abcdef', [], b'k')
    info = onedata.parse_token(onedata_serialise(raw))
    assert (info['version'], info['type'], info['valid_until']) == (1, 'accessToken', None)


def test_temporary_persistence_and_infinite_time_caveat():
    info = onedata.parse_token(make_token(persistence='tmp-3', caveats=['time < infinity']))
    assert info['persistence'] == 'temporary'
    assert info['valid_until'] is None


def test_third_party_caveats_are_not_read_as_time_limits():
    raw = (v1_packet(b'location', b'onezone.fake.test') + v1_packet(b'identifier', b'2/nmd/usr-x/act/0011')
           + v1_packet(b'cid', b'time < 1000') + v1_packet(b'vid', b'abcde') + v1_packet(b'cl', b'other.test')
           + v1_packet(b'signature', b'\x01' * 32))
    assert onedata.parse_token(onedata_serialise(raw))['valid_until'] is None


def test_unknown_v1_packets_are_refused():
    raw = (v1_packet(b'location', b'oz') + v1_packet(b'identifier', b'2/nmd/usr-x/act/0011' * 3)
           + v1_packet(b'nonsense', b'x') + v1_packet(b'signature', b'\x01' * 32))
    assert 'unknown packets' in shape_error(onedata_serialise(raw))


@pytest.mark.parametrize('kind,expected', [
    ('idn', 'identityToken'),
    ('ujs-' + SPACE_ID, 'inviteToken:userJoinSpace'),
    ('rop-abc', 'inviteToken:registerOneprovider'),
    ('gui-session1', 'guiAccessToken'),
])
def test_other_token_types_are_refused_offline(kind, expected):
    token = make_token(kind=kind)
    assert onedata.parse_token(token)['type'] == expected
    assert 'not an access token' in shape_error(token)


def test_unknown_type_is_left_to_onezone():
    assert onedata.check_token_offline(make_token(kind='zzz'), now=NOW)['type'] == 'unknown'


def test_expired_offline():
    message = shape_error(make_token(valid_until=NOW - 1))
    assert 'expired at 2025-06-15T15:06:39Z' in message


def test_not_expired_offline():
    assert onedata.check_token_offline(make_token(valid_until=NOW + 1), now=NOW)['valid_until'] == NOW + 1


def _flip(token, index):
    replacement = 'A' if token[index] != 'A' else 'B'
    return token[:index] + replacement + token[index + 1:]


@pytest.mark.parametrize('mutate,expected', [
    (lambda t: '', 'no Onedata token given'),
    (lambda t: t + '\n', 'whitespace'),
    (lambda t: ' ' + t, 'whitespace'),
    (lambda t: 'opw-' + t, 'service prefix'),
    (lambda t: t[:40], 'at least 64'),
    (lambda t: t[:100] + '-' + t[100:], 'base62 alphabet'),
    (lambda t: t[:100] + '"' + t[100:], 'base62 alphabet'),
    (lambda t: t[:100] + '09' + t[100:], 'escape "0"'),
    (lambda t: t[:-1] + '0', 'escape "0"'),
    (lambda t: t[:-3], 'inconsistent length'),
    (lambda t: 'Q' * 120, 'does not hold a macaroon'),
    (lambda t: _flip(t, 9), 'macaroon v1'),
])
def test_shape_errors_say_what_is_wrong_but_never_the_token(mutate, expected):
    # A fixed token ID keeps the mutations deterministic (a random one could end in an escape).
    token = make_token(valid_until=NOW + HOUR, token_id='0123456789abcdef0123456789abcdef')
    assert expected in shape_error(mutate(token))


def test_signature_length_is_checked():
    raw = (v1_packet(b'location', b'onezone.fake.test') + v1_packet(b'identifier', b'2/nmd/usr-x/act/0011' * 3)
           + v1_packet(b'signature', b'\x01' * 20))
    assert 'signature is 20 bytes' in shape_error(onedata_serialise(raw))


def test_v2_truncated():
    token = make_token(serialisation='v2', valid_until=NOW + HOUR)
    assert 'macaroon v2' in shape_error(onedata_serialise(base64.urlsafe_b64decode(
        _pad(onedata._unescape_base62(token)))[:-5]))


def _pad(text):
    return text + '=' * (-len(text) % 4)


# --- host and space ID ---------------------------------------------------------------------------

@pytest.mark.parametrize('host', ['oneprovider.example.org', 'op-1.cloud.example.org.', 'localhost', '10.0.0.5'])
def test_valid_provider_hosts(host):
    assert onedata.validate_hostname(host, 'provider_host') is None


@pytest.mark.parametrize('host,expected', [
    ('', 'empty'),
    ('https://op.example.org', 'not a URL'),
    ('op.example.org/api', 'not a URL'),
    ('op.example.org:443', '--port N'),
    ('-op.example.org', 'not a valid host name'),
    ('op_1.example.org', 'not a valid host name'),
    ('300.1.1.1', 'neither a host name nor an IPv4'),
    ('a' * 64 + '.org', 'not a valid host name'),
])
def test_invalid_provider_hosts(host, expected):
    assert expected in onedata.validate_hostname(host, 'provider_host')


def test_onezone_host_may_carry_a_port():
    assert onedata.validate_hostname('127.0.0.1:8443', 'onezone_host', allow_port=True) is None
    assert 'invalid port' in onedata.validate_hostname('oz.example.org:0', 'onezone_host', allow_port=True)
    assert 'optional :port' in onedata.validate_hostname('oz:1:2', 'onezone_host', allow_port=True)


@pytest.mark.parametrize('space_id', [SPACE_ID, '0123456789abcdef0123456789abcdef'])
def test_valid_space_ids(space_id):
    assert onedata.validate_space_id(space_id) is None


@pytest.mark.parametrize('space_id', ['', 'my-space', SPACE_ID.upper(), SPACE_ID + 'x', SPACE_ID[:-1],
                                      '0123456789abcdef0123456789abcde'])
def test_invalid_space_ids(space_id):
    assert onedata.validate_space_id(space_id)


# --- redaction and Secret data -------------------------------------------------------------------

def test_fingerprint_is_short_and_stable():
    token = make_token()
    first = onedata.fingerprint(token)
    assert first == onedata.fingerprint(token.encode('utf-8'))
    assert first.startswith('sha256:') and len(first) == len('sha256:') + 8
    assert first[7:] not in token
    assert onedata.fingerprint(make_token()) != first
    assert onedata.fingerprint(None) is None


def test_scrub_removes_secrets():
    assert onedata.scrub('bad token abc123 here', ['abc123', None, '']) == 'bad token <redacted> here'


def desired(token_value, labels=None, **keys):
    return dict(data=onedata.secret_data(keys, PROVIDER_DOMAIN, token_value, SPACE_ID, '--force-direct-io'),
                labels=labels or {}, annotations={})


def as_secret(data, labels=None, secret_type='Opaque'):
    return dict(type=secret_type, metadata=dict(labels=labels or {}), data=onedata.encode_data(data))


def test_secret_data_defaults_match_csi_onedata():
    data = desired('T' * 70)['data']
    assert data == {'host': PROVIDER_DOMAIN, 'onedata_token': 'T' * 70, 'space_id': SPACE_ID,
                    'oneclient_options': '--force-direct-io'}


def test_secret_key_names_are_configurable_and_checked():
    data = desired('tok', token='token', host=None)['data']
    assert sorted(data) == ['host', 'oneclient_options', 'space_id', 'token']
    with pytest.raises(onedata.OnedataError, match='same Secret key'):
        desired('tok', token='host')
    with pytest.raises(onedata.OnedataError, match='not valid'):
        desired('tok', token='a/b')


def test_delta_create_lists_every_key_as_fingerprints():
    token = make_token()
    delta = onedata.secret_delta(None, desired(token))
    assert delta['changed'] and delta['before'] is None
    assert delta['changed_keys'] == ['host', 'oneclient_options', 'onedata_token', 'space_id']
    assert delta['after']['data']['onedata_token'] == onedata.fingerprint(token)
    assert token not in json.dumps(delta)


def test_delta_unchanged_when_decoded_data_matches():
    token = make_token()
    want = desired(token, labels={'a': '1'})
    delta = onedata.secret_delta(as_secret(want['data'], labels={'a': '1', 'other': 'x'}), want)
    assert not delta['changed'] and delta['changed_keys'] == []
    assert delta['after']['labels'] == {'a': '1', 'other': 'x'}


def test_delta_rotation_changes_only_the_token_key():
    old, new = make_token(), make_token()
    delta = onedata.secret_delta(as_secret(desired(old)['data']), desired(new))
    assert delta['changed_keys'] == ['onedata_token']
    assert delta['before']['data']['onedata_token'] == onedata.fingerprint(old)
    assert delta['after']['data']['onedata_token'] == onedata.fingerprint(new)
    assert old not in json.dumps(delta) and new not in json.dumps(delta)


def test_delta_removes_foreign_keys_and_adds_labels():
    want = desired('tok', labels={'team': 'x'})
    stored = dict(want['data'], stale='1')
    delta = onedata.secret_delta(as_secret(stored), want)
    assert delta['changed_keys'] == ['stale'] and delta['metadata_changed']


def test_undecodable_stored_value_counts_as_different():
    want = desired('tok')
    secret = as_secret(want['data'])
    secret['data']['space_id'] = '%%%'
    assert onedata.secret_delta(secret, want)['changed_keys'] == ['space_id']


# --- scope verdicts (pure) -----------------------------------------------------------------------

def summary(readonly=False, **changes):
    scope = default_scope()
    scope.update(changes)
    return onedata.scope_summary(dict(validUntil=None, dataAccessScope=dict(readonly=readonly, **scope)))


def test_scope_ok():
    assert onedata.scope_problems(summary(), SPACE_ID, PROVIDER_DOMAIN.upper(), now=NOW) == ([], [])


def test_scope_space_missing_lists_what_is_there():
    errors, dummy = onedata.scope_problems(summary(), OTHER_SPACE_ID, None, now=NOW)
    assert errors == ['the token does not give access to space %s; spaces in its scope: fake-space (%s).'
                      % (OTHER_SPACE_ID, SPACE_ID)]


def test_scope_provider_missing_or_not_supporting():
    errors, dummy = onedata.scope_problems(summary(), SPACE_ID, 'op9.fake.test', now=NOW)
    assert 'Oneprovider op9.fake.test is not in the token\'s scope' in errors[0]
    errors, dummy = onedata.scope_problems(summary(), SPACE_ID, OTHER_PROVIDER_DOMAIN, now=NOW)
    assert 'does not support space' in errors[0]


def test_scope_warnings_offline_and_readonly():
    scope = default_scope()
    scope['providers'][PROVIDER_ID]['online'] = False
    scope['spaces'][SPACE_ID]['supports'][PROVIDER_ID]['readonly'] = True
    errors, warnings = onedata.scope_problems(summary(readonly=True, **scope), SPACE_ID, PROVIDER_DOMAIN, now=NOW)
    assert errors == []
    assert len(warnings) == 3 and 'offline' in warnings[0] and 'read-only' in warnings[1]


def test_scope_expired():
    errors, dummy = onedata.scope_problems(dict(summary(), valid_until=NOW - 5), None, None, now=NOW)
    assert errors and 'expired' in errors[0]


# --- online, against the FAKE Onezone over loopback HTTPS ----------------------------------------

def online_error(token, client, **kwargs):
    with pytest.raises(onedata.OnedataError) as info:
        onedata.inspect_token(token, client, **kwargs)
    assert token not in str(info.value)
    return str(info.value)


def test_online_valid(fake, client):
    token = fake.issue(valid_until=int(time.time()) + HOUR)
    result = onedata.inspect_token(token, client, space_id=SPACE_ID, provider_host=PROVIDER_DOMAIN)
    assert result['token']['fingerprint'] == onedata.fingerprint(token)
    assert [s['id'] for s in result['scope']['spaces']] == [SPACE_ID]
    assert result['warnings'] == []
    assert fake.paths[-2:] == ['/api/v3/onezone/tokens/examine', '/api/v3/onezone/tokens/infer_access_token_scope']
    assert token not in json.dumps(result)


def test_online_v2_token(fake, client):
    token = fake.issue(serialisation='v2')
    assert onedata.inspect_token(token, client, space_id=SPACE_ID)['token']['serialisation'] == 'macaroon-v2'


def test_online_expired_reported_by_onezone(fake, client):
    # The local clock is behind Onezone's: the offline check passes, Onezone refuses the time caveat.
    valid_until = int(time.time()) - 60
    token = fake.issue(valid_until=valid_until)
    message = online_error(token, client, now=valid_until - 600)
    assert 'tokens/infer_access_token_scope' in message and 'has expired' in message
    assert onedata.format_epoch(valid_until) in message


def test_examine_verdicts():
    examined = onedata.examine_result(dict(
        type={'accessToken': {}}, persistence='named', onezoneDomain='oz',
        caveats=[dict(type='time', validUntil=NOW + 50), dict(type='time', validUntil=NOW + 10),
                 dict(type='data.readonly')]))
    assert examined['valid_until'] == NOW + 10
    assert onedata.examine_problem(examined, NOW) is None
    assert 'expired at' in onedata.examine_problem(examined, NOW + 10)
    invite = onedata.examine_result(dict(type={'inviteToken': {'subtype': 'userJoinSpace'}}, caveats=[]))
    assert 'it is an inviteToken:userJoinSpace, not an access token' in onedata.examine_problem(invite, NOW)


def test_online_wrong_space(fake, client):
    token = fake.issue()
    message = online_error(token, client, space_id=OTHER_SPACE_ID)
    assert 'does not give access to space %s' % OTHER_SPACE_ID in message


def test_online_wrong_provider(fake, client):
    message = online_error(fake.issue(), client, space_id=SPACE_ID, provider_host=OTHER_PROVIDER_DOMAIN)
    assert 'does not support space' in message


def test_online_401_unknown_token(fake, client):
    token = make_token(valid_until=int(time.time()) + HOUR)  # well formed, not issued by this Onezone
    message = online_error(token, client)
    assert 'does not accept the token (badToken)' in message


def test_online_401_without_onedata_error(fake, client):
    fake.override = (401, b'')
    assert '401 Unauthorized.' in online_error(fake.issue(), client)


def test_online_server_error_is_named(fake, client):
    fake.override = (500, json.dumps(dict(error=dict(id='internalServerError', description='boom'))).encode())
    assert 'HTTP 500 (internalServerError: boom)' in online_error(fake.issue(), client)


def test_online_error_description_is_scrubbed(fake, client):
    token = fake.issue()
    fake.override = (403, json.dumps(dict(error=dict(id='forbidden', description='no: ' + token))).encode())
    assert 'no: <redacted>' in online_error(token, client)


def test_online_not_json(fake, client):
    fake.override = (200, b'<html>hello</html>')
    assert 'not JSON' in online_error(fake.issue(), client)


def test_online_not_an_access_token(fake, client):
    message = online_error(fake.issue(kind='zzz-1'), client)
    assert 'not an access token' in message


def test_online_timeout(fake, client):
    fake.delay = 2.0
    started = time.time()
    message = online_error(fake.issue(), onedata.OnezoneClient(fake.address, ca_path=fake.ca_path, timeout=1))
    assert 'no answer within 1 seconds' in message
    assert time.time() - started < 2.0


def test_online_untrusted_certificate(fake, client):
    message = online_error(fake.issue(), onedata.OnezoneClient(fake.address, timeout=5))
    assert 'onezone_ca_path' in message and 'CERTIFICATE_VERIFY_FAILED' in message


def test_online_certificate_check_can_be_disabled(fake, client):
    result = onedata.inspect_token(fake.issue(), onedata.OnezoneClient(fake.address, validate_certs=False))
    assert result['scope']['providers'][0]['domain'] == PROVIDER_DOMAIN


def test_online_connection_refused(fake, client):
    message = online_error(fake.issue(), onedata.OnezoneClient('127.0.0.1:1', ca_path=fake.ca_path, timeout=2))
    assert 'cannot connect' in message and 'Connection refused' in message


def test_offline_only_without_client():
    result = onedata.inspect_token(make_token(), None)
    assert result['scope'] is None and result['token']['type'] == 'accessToken'


def test_onezone_client_from_params_checks_the_host():
    with pytest.raises(onedata.OnedataError, match='ONEZONE_HOST'):
        onedata.onezone_client(dict(onezone_host=None, onezone_validate_certs=True, onezone_timeout=5))
    client = onedata.onezone_client(dict(onezone_host='oz.example.org:8443', onezone_validate_certs=False,
                                         onezone_ca_path=None, onezone_timeout=3))
    assert client.url('/tokens/examine') == 'https://oz.example.org:8443/api/v3/onezone/tokens/examine'
