# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token parser against an independent macaroon reader: pymacaroons (PyPI) reads the same tokens.

Onezone serialises a token with ctool's ``macaroon:serialize`` (base64url of the libmacaroons v1 or v2
bytes) and then ``base62:from_base64``, which writes ``0`` as ``00`` and ``_ - / + =`` as ``01``..``05``.
pymacaroons knows the first layer only, so the two helpers below do the second one as ctool does; the
macaroon itself is read by pymacaroons alone. Tokens come from the team's builder and from pymacaroons
itself, with caveats written as ctool's ``caveats:serialize`` writes them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

import pytest
from pymacaroons import MACAROON_V1, MACAROON_V2, Macaroon, Verifier
from pymacaroons.exceptions import MacaroonInvalidSignatureException
from pymacaroons.serializers.binary_serializer import BinarySerializer
from pymacaroons.utils import raw_b64decode

from ansible_collections.sciplat.k8s.plugins.module_utils import onedata
from ansible_collections.sciplat.k8s.tests.fakes.onezone.tokens import make_token

SECRET = b'fake-onezone-secret'
LOCATION = 'onezone.fake.test'
SPACE_ID = '8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59'
IDENTIFIER = '2/nmd/usr-0123456789abcdef0123456789abcdef/act/0123456789abcdef0123456789abcdef'
NOW = 1750000000
# ctool base62: the character at index i of this string is written as "0<i>".
CTOOL_ESCAPED = '0_-/+='
VERSIONS = {'v1': MACAROON_V1, 'v2': MACAROON_V2}


def ctool_from_base64(text):
    return re.sub('[0_/+=-]', lambda match: '0%d' % CTOOL_ESCAPED.index(match.group()), text)


def ctool_to_base64(token):
    # A lone "0" at the very end is kept as it is: ctool's to_base64 unescapes only a "0" followed by a character.
    return re.sub('0(.)', lambda match: CTOOL_ESCAPED[int(match.group(1))], token, flags=re.DOTALL)


def serialise(macaroon):
    return ctool_from_base64(macaroon.serialize())


def oracle_fields(token):
    """What pymacaroons reads from a serialised token, or None when it cannot read it.

    A reading counts only when pymacaroons writes the very same bytes back: its v1 reader trusts the packet
    lengths, so a truncated token reads as a shorter macaroon instead of failing.
    """
    try:
        text = ctool_to_base64(token)
        macaroon = Macaroon.deserialize(text)
        raw = raw_b64decode(text)
    # A bad escape fails in ctool_to_base64 (as ctool's unescape has no clause for it); pymacaroons raises its
    # own exceptions, binascii and struct errors, and a bare Exception on a cut varint.
    except Exception:  # pylint: disable=broad-except
        return None
    if BinarySerializer().serialize_raw(macaroon) != raw:
        return None
    return dict(serialisation='macaroon-v%d' % macaroon.version, location=macaroon.location.encode('utf-8'),
                identifier=macaroon.identifier_bytes,
                caveats=[caveat.caveat_id_bytes for caveat in macaroon.first_party_caveats()],
                signature=binascii.unhexlify(macaroon.signature_bytes))


def parser_fields(token):
    """The same fields as the parser reads them; its private decoders, since its API never returns token parts."""
    serialisation = onedata.parse_token(token)['serialisation']
    raw = onedata._b64decode(onedata._unescape_base62(token))
    decode = onedata._parse_v1 if serialisation == 'macaroon-v1' else onedata._parse_v2
    location, identifier, caveats, signature = decode(raw)
    return dict(serialisation=serialisation, location=location, identifier=identifier, caveats=caveats,
                signature=signature)


def onedata_macaroon(caveats=(), version='v1', identifier=IDENTIFIER):
    macaroon = Macaroon(location=LOCATION, identifier=identifier, key=SECRET, version=VERSIONS[version])
    for caveat in caveats:
        macaroon.add_first_party_caveat(caveat)
    return macaroon


def verified(macaroon):
    verifier = Verifier()
    verifier.satisfy_general(lambda caveat: True)
    return verifier.verify(macaroon, SECRET)


def data_path(*paths):
    return 'data.path = ' + '|'.join(base64.b64encode(path.encode('utf-8')).decode('ascii') for path in paths)


# --- the same reading ------------------------------------------------------------------------------

@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_builder_tokens_read_the_same_and_verify_in_pymacaroons(version):
    token = make_token(valid_until=NOW + 3600, caveats=['data.readonly', 'interface = oneclient'], secret=SECRET,
                       serialisation=version, token_id='0123456789abcdef0123456789abcdef')
    fields = oracle_fields(token)
    assert fields == parser_fields(token)
    assert fields['identifier'] == IDENTIFIER.encode('ascii')
    assert fields['caveats'] == [b'time < %d' % (NOW + 3600), b'data.readonly', b'interface = oneclient']
    # The builder's HMAC chain is the libmacaroons one: pymacaroons accepts its signature.
    assert verified(Macaroon.deserialize(ctool_to_base64(token)))


@pytest.mark.parametrize('version', sorted(VERSIONS))
@pytest.mark.parametrize('caveats,kinds,valid_until', [
    (['time < %d' % (NOW + 60), 'interface = oneclient'], ['time', 'interface'], NOW + 60),
    ([data_path('/%s/experiments/run 1' % SPACE_ID, '/%s' % SPACE_ID), 'data.readonly',
      'data.objectid = 00000000006CB8F3736861726547756964233362306530'],
     ['data.path', 'data.readonly', 'data.objectid'], None),
    (['ip = 149.156.0.0/16', 'geo.country != PL|DE', 'asn = 3', 'time < %d' % (NOW + 7200), 'time < %d' % (NOW + 90)],
     ['ip', 'geo.country', 'asn', 'time'], NOW + 90),
], ids=['time-interface', 'data-path-space', 'network-two-times'])
def test_pymacaroons_tokens_with_onedata_caveats(version, caveats, kinds, valid_until):
    token = serialise(onedata_macaroon(caveats, version))
    fields = oracle_fields(token)
    assert fields == parser_fields(token)
    assert fields['caveats'] == [caveat.encode('utf-8') for caveat in caveats]
    info = onedata.parse_token(token)
    assert (info['onezone_domain'], info['serialisation']) == (LOCATION, 'macaroon-' + version)
    assert (info['type'], info['caveats'], info['valid_until']) == ('accessToken', kinds, valid_until)


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_third_party_caveats_are_left_out_by_both(version):
    macaroon = onedata_macaroon(['interface = rest'], version)
    macaroon.add_third_party_caveat('auth.other.test', b'third-party-key', 'time < 1000')
    token = serialise(macaroon)
    fields = oracle_fields(token)
    assert fields == parser_fields(token)
    assert fields['caveats'] == [b'interface = rest']
    assert onedata.parse_token(token)['valid_until'] is None


def test_legacy_identifier_reads_the_same():
    token = serialise(onedata_macaroon(identifier='0123456789abcdef0123456789abcdef'))
    assert oracle_fields(token) == parser_fields(token)
    assert (onedata.parse_token(token)['version'], onedata.parse_token(token)['type']) == (1, 'accessToken')


# --- the same refusals -----------------------------------------------------------------------------

def _reencoded(token, change):
    """The token with its macaroon bytes changed, serialised again (so only the macaroon is malformed)."""
    raw = raw_b64decode(ctool_to_base64(token))
    return ctool_from_base64(base64.urlsafe_b64encode(change(raw)).decode('ascii').rstrip('='))


@pytest.mark.parametrize('version', sorted(VERSIONS))
@pytest.mark.parametrize('mutate', [
    lambda t: '',
    lambda t: t + '\n',
    lambda t: ' ' + t,
    lambda t: 'opw-' + t,
    lambda t: t[:40],
    lambda t: t[:100] + '-' + t[100:],
    lambda t: t[:100] + '"' + t[100:],
    lambda t: t[:100] + '09' + t[100:],
    lambda t: t[:-3],
    lambda t: 'Q' * 120,
    lambda t: _reencoded(t, lambda raw: raw[:-5]),
    lambda t: _reencoded(t, lambda raw: raw + b'\n'),
    lambda t: _reencoded(t, lambda raw: b'\x03' + raw[1:]),
], ids=['empty', 'newline', 'space', 'service-prefix', 'cut-to-40', 'dash', 'quote', 'bad-escape', 'cut-3',
        'not-a-macaroon', 'bytes-cut', 'byte-appended', 'unknown-format'])
def test_malformed_tokens_are_refused_by_both(version, mutate):
    token = mutate(serialise(onedata_macaroon(['time < %d' % (NOW + 60)], version)))
    with pytest.raises(onedata.TokenShapeError):
        onedata.parse_token(token)
    assert oracle_fields(token) is None


def test_unknown_v1_packet_is_refused_by_both():
    raw_token = serialise(onedata_macaroon(['data.readonly']))
    token = _reencoded(raw_token, lambda raw: raw.replace(b'cid data.readonly', b'not data.readonly'))
    assert token != raw_token
    with pytest.raises(onedata.TokenShapeError, match='unknown packets'):
        onedata.parse_token(token)
    assert oracle_fields(token) is None


def test_lone_trailing_zero_in_v1_is_refused_by_both():
    # A v1 macaroon ends with the newline of its signature packet, which base64 never writes as "0":
    # a lone final "0" changes that newline, and pymacaroons cannot write back what it read.
    token = serialise(onedata_macaroon(['data.readonly']))
    edited = token[:-1] + '0'
    with pytest.raises(onedata.TokenShapeError, match='escape "0"'):
        onedata.parse_token(edited)
    assert oracle_fields(edited) is None


# --- where they differ, and why ---------------------------------------------------------------------

def test_difference_lone_trailing_zero_in_v2():
    """ctool's to_base64 unescapes only a "0" followed by a character and keeps a lone final "0" as it is, so
    a v2 token whose base64 ends in "0" (written "00") decodes to the same bytes without its last character,
    and pymacaroons reads the same macaroon. The parser refuses it: from_base64 always writes "0" as "00",
    so Onezone never hands out such a token; it was cut or edited."""
    # Caveats of growing length, until one gives a serialisation that ends in "0".
    macaroon = next(macaroon for macaroon in (onedata_macaroon(['time < %d' % until], 'v2') for until in range(2000))
                    if macaroon.serialize().endswith('0'))
    token = serialise(macaroon)
    assert oracle_fields(token[:-1]) == oracle_fields(token) == parser_fields(token)
    with pytest.raises(onedata.TokenShapeError, match='escape "0"'):
        onedata.parse_token(token[:-1])


def test_difference_minimum_length():
    """A well-formed macaroon can be short; an Onedata one cannot (its identifier alone has a 32-character ID
    and the signature takes 43 characters), so the parser refuses anything under 64 characters."""
    token = serialise(Macaroon(location='oz', identifier='x', key=SECRET, version=MACAROON_V2))
    assert len(token) < onedata.TOKEN_MIN_LENGTH
    assert oracle_fields(token)['identifier'] == b'x'
    with pytest.raises(onedata.TokenShapeError, match='at least 64'):
        onedata.parse_token(token)


def test_difference_short_signature():
    """pymacaroons reads a 20-byte signature without a word, but no HMAC-SHA256 chain ends in one, so its
    verifier refuses the token even with the right key; the parser refuses it at once."""
    macaroon = onedata_macaroon(['data.readonly'])
    macaroon.signature = macaroon.signature_bytes[:40]
    token = serialise(macaroon)
    assert len(oracle_fields(token)['signature']) == 20
    with pytest.raises(MacaroonInvalidSignatureException):
        verified(Macaroon.deserialize(ctool_to_base64(token)))
    with pytest.raises(onedata.TokenShapeError, match='signature is 20 bytes'):
        onedata.parse_token(token)
