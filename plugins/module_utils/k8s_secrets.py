# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret values in and out of Kubernetes without ever showing them.

Shared by every module that writes a Secret: values are compared decoded, and whatever a module
returns or shows in a diff carries key names and short fingerprints only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import secrets
import string
import uuid

FINGERPRINT_HEX_CHARS = 8


def fingerprint(value):
    """``sha256:`` and the first hex digits of the value's SHA-256: enough to tell values apart."""
    if value is None:
        return None
    if not isinstance(value, bytes):
        value = value.encode('utf-8')
    return 'sha256:' + hashlib.sha256(value).hexdigest()[:FINGERPRINT_HEX_CHARS]


def redact_data(data):
    """Secret data (decoded) as key -> fingerprint."""
    return dict((key, fingerprint(value)) for key, value in sorted((data or {}).items()))


def decode_data(data):
    """Base64 ``data`` of a Secret as text; undecodable values compare as different (None)."""
    decoded = {}
    for key, value in (data or {}).items():
        try:
            decoded[key] = base64.b64decode(value).decode('utf-8')
        except (binascii.Error, ValueError, TypeError):
            decoded[key] = None
    return decoded


def encode_data(data):
    return dict((key, base64.b64encode(value.encode('utf-8')).decode('ascii')) for key, value in data.items())


# Generators for values that are made once and then only ever read back.
_ALPHANUMERIC = string.ascii_letters + string.digits


def _password(length):
    return ''.join(secrets.choice(_ALPHANUMERIC) for dummy in range(length))


def _hex(length):
    return secrets.token_hex((length + 1) // 2)[:length]


def _uuid(length):  # pylint: disable=unused-argument
    return str(uuid.uuid4())


def _base64_bytes(length):
    return base64.b64encode(secrets.token_bytes(length)).decode('ascii')


def _rsa_private_key(length):
    # Imported here: only this generator needs cryptography, and the module reports it missing.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=length)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode('ascii')


GENERATORS = dict(
    password=(_password, 32),
    hex=(_hex, 64),
    uuid=(_uuid, 36),
    base64_bytes=(_base64_bytes, 32),
    rsa_private_key=(_rsa_private_key, 2048),
)


def generate(kind, length=None):
    function, default_length = GENERATORS[kind]
    return function(length or default_length)
