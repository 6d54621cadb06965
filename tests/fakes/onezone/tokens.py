# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only builder of Onedata-shaped tokens (FAKE: signed with a test key, valid nowhere real).

Follows the published formats: a libmacaroons macaroon (v1 packets or v2 binary, HMAC-SHA256
chain) whose identifier is ``2/<persistence>/<subject>/<type>/<id>``, serialised as base64 and
escaped into Onedata's base62 alphabet (``0``->``00``, ``_ - / + =``->``01``..``05``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os

_ESCAPES = {'0': '00', '_': '01', '-': '02', '/': '03', '+': '04', '=': '05'}
_KEY_GENERATOR = b'macaroons-key-generator'


def _hmac(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


def _signature(secret, identifier, caveats):
    signature = _hmac(_hmac(_KEY_GENERATOR, secret), identifier)
    for caveat in caveats:
        signature = _hmac(signature, caveat)
    return signature


def v1_packet(key, value):
    size = 4 + len(key) + 1 + len(value) + 1
    return ('%04x' % size).encode('ascii') + key + b' ' + value + b'\n'


def _varint(number):
    out = bytearray()
    while True:
        byte = number & 0x7f
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _v2_field(field_type, value):
    return _varint(field_type) + _varint(len(value)) + value


def macaroon_bytes(location, identifier, caveats, secret, serialisation='v1'):
    """A serialised macaroon with first-party caveats."""
    signature = _signature(secret, identifier, caveats)
    if serialisation == 'v1':
        return (v1_packet(b'location', location) + v1_packet(b'identifier', identifier)
                + b''.join(v1_packet(b'cid', caveat) for caveat in caveats)
                + v1_packet(b'signature', signature))
    body = b'\x02' + _v2_field(1, location) + _v2_field(2, identifier) + b'\x00'
    for caveat in caveats:
        body += _v2_field(2, caveat) + b'\x00'
    return body + b'\x00' + _v2_field(6, signature)


def onedata_serialise(raw):
    """base64url without padding, then Onedata's base62 escaping."""
    b64 = base64.urlsafe_b64encode(raw).decode('ascii').rstrip('=')
    return ''.join(_ESCAPES.get(char, char) for char in b64)


def make_token(kind='act', valid_until=None, onezone_domain='onezone.fake.test', persistence='nmd',
               subject='usr-0123456789abcdef0123456789abcdef', caveats=(), secret=b'fake-onezone-secret',
               serialisation='v1', token_id=None):
    """A FAKE Onedata token; ``kind`` is the identifier's type field (act, idn, ujs-<space>, gui-<s>)."""
    token_id = token_id or os.urandom(16).hex()
    identifier = ('2/%s/%s/%s/%s' % (persistence, subject, kind, token_id)).encode('ascii')
    all_caveats = [c.encode('utf-8') for c in caveats]
    if valid_until is not None:
        all_caveats.insert(0, ('time < %d' % valid_until).encode('ascii'))
    raw = macaroon_bytes(onezone_domain.encode('ascii'), identifier, all_caveats, secret, serialisation)
    return onedata_serialise(raw)
