# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FAKE Onezone for tests: HTTPS on 127.0.0.1 only, self-signed certificate, in-memory tokens.

It answers the two public endpoints the collection uses, shaped after the Onezone REST API
(oz-worker token_rest_translator, ctool tokens/errors):

* ``POST /api/v3/onezone/tokens/examine`` -> ``{onezoneDomain, id, persistence, subject, type, caveats}``
  (examining does not verify caveats, so an expired token is still examined);
* ``POST /api/v3/onezone/tokens/infer_access_token_scope`` -> ``{validUntil, dataAccessScope: {readonly,
  spaces: {id: {name, supports: {providerId: {readonly}}}}, providers: {id: {name, domain, online,
  version}}}}``.

Errors use the Onedata shape ``{"error": {"id", "description", "details"}}``: ``badToken`` (401) for a
token it did not issue, ``tokenCaveatUnverified`` with the time caveat (401) for an expired one,
``notAnAccessToken`` (401) for other token types. ``delay`` holds every answer back (timeouts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import ipaddress
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .tokens import make_token

SPACE_ID = '5b2f4e8a9c1d3f60718293a4b5c6d7e8ch1a2b'
OTHER_SPACE_ID = '0f1e2d3c4b5a69788796a5b4c3d2e1f0ch9c8d'
PROVIDER_ID = '42a2fb7993b8331aa107ff819101b0f1chb73a'
PROVIDER_DOMAIN = 'op.fake.test'
OTHER_PROVIDER_ID = '9d8c7b6a5f4e3d2c1b0a99887766554ach0f0e'
OTHER_PROVIDER_DOMAIN = 'op2.fake.test'
ONEZONE_DOMAIN = 'onezone.fake.test'

_INVITE_SUBTYPES = {'ujs': 'userJoinSpace', 'ujg': 'userJoinGroup', 'ssp': 'supportSpace'}


def _write_self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'FAKE Onezone (sciplat.k8s tests)')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(u'localhost'), x509.IPAddress(ipaddress.ip_address(u'127.0.0.1'))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, 'fake-onezone.crt')
    key_path = os.path.join(directory, 'fake-onezone.key')
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path


def default_scope():
    """One space on one online Oneprovider, plus a second provider that does not support it."""
    return dict(
        spaces={SPACE_ID: dict(name='fake-space', supports={PROVIDER_ID: dict(readonly=False)})},
        providers={
            PROVIDER_ID: dict(name='fake-provider', domain=PROVIDER_DOMAIN, online=True, version='21.02.8'),
            OTHER_PROVIDER_ID: dict(name='other-provider', domain=OTHER_PROVIDER_DOMAIN, online=True,
                                    version='21.02.8'),
        },
    )


class FakeOnezone(object):
    """FAKE Onezone; ``issue()`` makes tokens it knows, ``address`` is ``127.0.0.1:<port>``."""

    def __init__(self, workdir):
        self.ca_path, self._key_path = _write_self_signed(workdir)
        self.tokens = {}
        self.delay = 0.0
        # (status, body bytes) answered to every request instead of the real answer, when set.
        self.override = None
        self.paths = []
        self._server = None
        self._thread = None

    def issue(self, kind='act', valid_until=None, readonly=False, scope=None, serialisation='v1'):
        token_id = os.urandom(16).hex()
        token = make_token(kind=kind, valid_until=valid_until, onezone_domain=ONEZONE_DOMAIN,
                           token_id=token_id, serialisation=serialisation)
        self.tokens[token] = dict(kind=kind, valid_until=valid_until, readonly=readonly, id=token_id,
                                  scope=scope or default_scope())
        return token

    @property
    def address(self):
        return '127.0.0.1:%d' % self._server.server_address[1]

    def start(self):
        fake = self

        class Handler(_Handler):
            onezone = fake

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_path, self._key_path)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name='fake-onezone', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- answers ------------------------------------------------------------------------------

    def examine(self, record):
        caveats = [dict(type='time', validUntil=record['valid_until'])] if record['valid_until'] else []
        return 200, dict(onezoneDomain=ONEZONE_DOMAIN, id=record['id'], persistence='named',
                         subject=dict(type='user', id='0123456789abcdef0123456789abcdef'),
                         type=_type_json(record['kind']), caveats=caveats)

    def infer_scope(self, record):
        if record['kind'] != 'act':
            return 401, _error('notAnAccessToken', 'Received token is not an access token.',
                               received=_type_json(record['kind']))
        if record['valid_until'] is not None and record['valid_until'] <= time.time():
            return 401, _error('tokenCaveatUnverified', 'Provided token is not valid - expired.',
                               caveat=dict(type='time', validUntil=record['valid_until']))
        scope = record['scope']
        return 200, dict(validUntil=record['valid_until'], dataAccessScope=dict(
            readonly=record['readonly'], spaces=scope['spaces'], providers=scope['providers']))


def _type_json(kind):
    if kind == 'act':
        return {'accessToken': {}}
    if kind == 'idn':
        return {'identityToken': {}}
    if kind.startswith('gui-'):
        return {'guiAccessToken': {'sessionId': kind[4:]}}
    return {'inviteToken': {'subtype': _INVITE_SUBTYPES.get(kind[:3], kind[:3]), 'spaceId': kind[4:]}}


def _error(error_id, description, **details):
    return dict(error=dict(id=error_id, description=description, details=details))


class _Handler(BaseHTTPRequestHandler):
    onezone = None
    routes = {
        '/api/v3/onezone/tokens/examine': 'examine',
        '/api/v3/onezone/tokens/infer_access_token_scope': 'infer_scope',
    }

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Silent: a test log must not collect request lines."""

    def do_POST(self):  # pylint: disable=invalid-name
        self.onezone.paths.append(self.path)
        if self.onezone.delay:
            time.sleep(self.onezone.delay)
        if self.onezone.override is not None:
            return self._reply_raw(*self.onezone.override)
        route = self.routes.get(self.path)
        if route is None:
            return self._reply(404, _error('notFound', 'The resource could not be found.'))
        try:
            body = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')
            token = body['token']
        except (ValueError, KeyError, TypeError):
            return self._reply(400, _error('missingRequiredValue', 'Missing required value: token.', key='token'))
        record = self.onezone.tokens.get(token)
        if record is None:
            return self._reply(401, _error('badToken', 'Provided token could not be understood by the server.'))
        return self._reply(*getattr(self.onezone, route)(record))

    def _reply(self, status, payload):
        return self._reply_raw(status, json.dumps(payload).encode('utf-8'))

    def _reply_raw(self, status, data):
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (timeout tests)


@contextlib.contextmanager
def running_fake_onezone(workdir):
    """Start a FakeOnezone in ``workdir`` for the length of a with-block."""
    fake = FakeOnezone(str(workdir)).start()
    try:
        yield fake
    finally:
        fake.stop()
