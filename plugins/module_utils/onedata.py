# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Onedata access tokens: offline shape checks, the Onezone scope check, redaction, Secret data.

Nothing in this file returns, logs or formats a token. Errors name the problem and the option to fix;
values that reach a user are key names, fingerprints (first hex digits of a SHA-256) and public
scope facts (space and provider IDs, names, validUntil).

Token format, as Onezone writes it (ctool ``tokens``/``base62``, macaroons ``macaroon_v1``/``v2``):
the macaroon is serialised (v1: packets ``<4 hex length><key> <value>\\n``; v2: binary fields),
encoded as base64 and then escaped into a base62 alphabet: ``0`` becomes ``00`` and
``_ - / + =`` become ``01``..``05``. The macaroon identifier of a version-2 token reads
``2/<persistence>/<subject>/<type>/<id>`` where type ``act`` is an access token; a legacy (v1)
identifier is a bare ID and always an access token. Time caveats read ``time < <epoch>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json
import re
import socket
import ssl
import time

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_client import (
    ApiException,
    K8sConnectionError,
    TransportError,
    api_client,
    api_error_message,
    require_kubernetes,
    transport_error_message,
)
from ansible_collections.sciplat.k8s.plugins.module_utils.k8s_secrets import (
    decode_data,
    encode_data,
    fingerprint,
    redact_data,
)

try:
    from kubernetes.client import CoreV1Api
except ImportError:
    CoreV1Api = None  # require_kubernetes() reports the missing library

# Onezone refuses serialised tokens above 1 MiB (ctool max_token_size); the smallest real macaroon
# (location, identifier and a 32-byte signature) is longer than 64 characters once encoded.
TOKEN_MIN_LENGTH = 64
TOKEN_MAX_LENGTH = 1048576
SIGNATURE_BYTES = 32

# csi-onedata reads exactly these keys from the Secret named by nodePublishSecretRef.
DEFAULT_SECRET_KEYS = dict(
    host='host',
    token='onedata_token',
    space_id='space_id',
    oneclient_options='oneclient_options',
)

# Onedata IDs are 16 random bytes in hex, plus since 19.02.1 a "ch" + 4-hex consistent-hashing
# label (cluster-worker datastore_key).
SPACE_ID_RE = re.compile(r'^[0-9a-f]{32}(ch[0-9a-f]{4})?$')
_HOST_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
_BASE62_RE = re.compile(r'^[A-Za-z0-9]+$')
_BASE62_UNESCAPE = {'0': '0', '1': '_', '2': '-', '3': '/', '4': '+', '5': '='}
_SERVICE_PREFIX_RE = re.compile(r'^(opw|opp|ozw|ozp)-')

_INVITE_TYPES = dict(
    ujg='userJoinGroup', gjg='groupJoinGroup', ujs='userJoinSpace', gjs='groupJoinSpace',
    ssp='supportSpace', rop='registerOneprovider', ujc='userJoinCluster', gjc='groupJoinCluster',
    ujh='userJoinHarvester', gjh='groupJoinHarvester', sjh='spaceJoinHarvester',
)

ONEZONE_ARG_SPEC = dict(
    token=dict(type='str', no_log=True, aliases=['onedata_token'],
               fallback=(env_fallback, ['ONEDATA_TOKEN'])),
    onezone_host=dict(type='str', fallback=(env_fallback, ['ONEZONE_HOST'])),
    onezone_validate_certs=dict(type='bool', default=True),
    onezone_ca_path=dict(type='path'),
    onezone_timeout=dict(type='int', default=10),
    space_id=dict(type='str'),
    provider_host=dict(type='str', aliases=['oneprovider_host'],
                       fallback=(env_fallback, ['ONEPROVIDER_HOST'])),
)


class OnedataError(Exception):
    """A problem with a token, its scope or Onezone; the message never contains the token."""


class TokenShapeError(OnedataError):
    """The token is not a serialised Onedata macaroon, or not one that can mount data."""


class OnezoneError(OnedataError):
    """Onezone could not be asked, or its answer rules the token out."""


# ---------------------------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------------------------

def scrub(text, secrets):
    """Remove every secret from a text that came from elsewhere (a server's error description)."""
    text = '' if text is None else str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, '<redacted>')
    return text


# ---------------------------------------------------------------------------------------------
# Offline checks
# ---------------------------------------------------------------------------------------------

def validate_hostname(value, option, allow_port=False):
    """Return an error message when ``value`` is not a bare host name or IPv4 address, else None."""
    if not value:
        return '%s is empty: set it to a host name such as provider.example.org.' % option
    if '://' in value or '/' in value:
        return ('%s must be a bare host name without scheme or path (for example provider.example.org), '
                'not a URL.' % option)
    host = value
    if allow_port and re.match(r'^[^:]+:[0-9]+$', value):
        host, port = value.rsplit(':', 1)
        if not 0 < int(port) < 65536:
            return '%s has an invalid port %s.' % (option, port)
    if ':' in host:
        if allow_port:
            return '%s %r is not a host name with an optional :port.' % (option, value)
        return ('%s must not carry a port; oneclient takes the Oneprovider port as "--port N" in '
                'oneclient_options.' % option)
    if len(host) > 253:
        return '%s is longer than 253 characters.' % option
    if re.match(r'^[0-9.]+$', host):
        parts = host.split('.')
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return None
        return '%s %r is neither a host name nor an IPv4 address.' % (option, host)
    labels = host[:-1].split('.') if host.endswith('.') else host.split('.')
    if not all(_HOST_LABEL_RE.match(label) for label in labels):
        return ('%s %r is not a valid host name: use letters, digits and hyphens in dot-separated labels.'
                % (option, host))
    return None


def validate_space_id(value):
    """Return an error message when ``value`` is not shaped like a Onedata space ID, else None."""
    if not value:
        return 'space_id is empty: copy the space ID from the Onezone web interface (space > Overview).'
    if SPACE_ID_RE.match(value):
        return None
    return ('space_id %r is not a Onedata space ID: expected 32 lowercase hex characters, optionally followed '
            'by "ch" and 4 hex characters (for example 8c5f0b3a2e1d4c6b9a7f0e1d2c3b4a59chd1e2). A space '
            'name is not accepted.' % value)


def _unescape_base62(token):
    out = []
    i = 0
    while i < len(token):
        char = token[i]
        if char == '0':
            if i + 1 >= len(token) or token[i + 1] not in _BASE62_UNESCAPE:
                raise TokenShapeError(
                    'the token is not valid Onedata base62: an escape "0" at position %d is not followed by '
                    'one of 0-5 (was it truncated or edited?).' % i)
            out.append(_BASE62_UNESCAPE[token[i + 1]])
            i += 2
        else:
            out.append(char)
            i += 1
    return ''.join(out)


def _b64decode(text):
    text = text.replace('-', '+').replace('_', '/').rstrip('=')
    if len(text) % 4 == 1:
        raise TokenShapeError('the token decodes to an impossible base64 length (was it truncated?).')
    try:
        return base64.b64decode(text + '=' * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise TokenShapeError('the token does not decode as base64 once its base62 escapes are undone.')


def _parse_v1(raw):
    """libmacaroons v1: packets of a 4-hex-digit length (counting itself and the newline), key, space, value."""
    fields = []
    pos = 0
    while pos < len(raw):
        header = raw[pos:pos + 4]
        try:
            size = int(header.decode('ascii'), 16)
        except (UnicodeDecodeError, ValueError):
            raise TokenShapeError('macaroon v1 packet at byte %d has no hex length header.' % pos)
        if size < 6 or pos + size > len(raw) or raw[pos + size - 1:pos + size] != b'\n':
            raise TokenShapeError('macaroon v1 packet at byte %d has an inconsistent length.' % pos)
        key, sep, value = raw[pos + 4:pos + size - 1].partition(b' ')
        if not sep:
            raise TokenShapeError('macaroon v1 packet at byte %d has no "key value" content.' % pos)
        fields.append((key.decode('ascii', 'replace'), value))
        pos += size
    keys = [key for key, dummy in fields]
    if len(keys) < 3 or keys[0] != 'location' or keys[1] != 'identifier' or keys[-1] != 'signature':
        raise TokenShapeError('macaroon v1 must start with location and identifier and end with signature.')
    caveat_keys = set(keys[2:-1])
    if not caveat_keys <= set(['cid', 'vid', 'cl']):
        raise TokenShapeError('macaroon v1 holds unknown packets %s.' % sorted(caveat_keys - set(['cid', 'vid', 'cl'])))
    # A cid followed by a vid is a third-party caveat; only first-party ones carry time limits.
    body = fields[2:-1]
    caveats = [value for i, (key, value) in enumerate(body)
               if key == 'cid' and (i + 1 == len(body) or body[i + 1][0] != 'vid')]
    return fields[0][1], fields[1][1], caveats, fields[-1][1]


def _read_varint(raw, pos):
    result = shift = 0
    while True:
        if pos >= len(raw):
            raise TokenShapeError('macaroon v2 ends inside a length field.')
        byte = bytearray(raw[pos:pos + 1])[0]
        pos += 1
        result |= (byte & 0x7f) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def _read_v2_field(raw, pos, wanted):
    """Return (content, new position) when the next field has type ``wanted``, else (None, pos)."""
    if pos >= len(raw):
        raise TokenShapeError('macaroon v2 ends where a field was expected.')
    field_type, after_type = _read_varint(raw, pos)
    if field_type != wanted:
        return None, pos
    length, start = _read_varint(raw, after_type)
    if start + length > len(raw):
        raise TokenShapeError('macaroon v2 field is longer than the token.')
    return raw[start:start + length], start + length


def _expect_eos(raw, pos):
    if raw[pos:pos + 1] != b'\x00':
        raise TokenShapeError('macaroon v2 is missing an end-of-section marker.')
    return pos + 1


def _parse_v2(raw):
    """libmacaroons v2 binary: version byte 2, [location] identifier EOS, caveats EOS, signature."""
    location, pos = _read_v2_field(raw, 1, 1)
    identifier, pos = _read_v2_field(raw, pos, 2)
    if identifier is None:
        raise TokenShapeError('macaroon v2 has no identifier.')
    pos = _expect_eos(raw, pos)
    caveats = []
    while raw[pos:pos + 1] != b'\x00':
        dummy, pos = _read_v2_field(raw, pos, 1)
        cid, pos = _read_v2_field(raw, pos, 2)
        if cid is None:
            raise TokenShapeError('macaroon v2 caveat has no identifier.')
        vid, pos = _read_v2_field(raw, pos, 4)
        pos = _expect_eos(raw, pos)
        if vid is None:
            caveats.append(cid)
    pos = _expect_eos(raw, pos)
    signature, pos = _read_v2_field(raw, pos, 6)
    if signature is None or pos != len(raw):
        raise TokenShapeError('macaroon v2 must end with its signature.')
    return location or b'', identifier, caveats, signature


def _classify_identifier(identifier):
    """Token version, persistence and type from the macaroon identifier (ctool tokens:from_identifier)."""
    parts = identifier.split('/')
    if len(parts) == 1 or not parts[0].isdigit():
        return dict(version=1, persistence='named', type='accessToken')
    if parts[0] != '2' or len(parts) != 5:
        return dict(version=int(parts[0]), persistence=None, type='unknown')
    persistence, dummy, kind = parts[1], parts[2], parts[3]
    persistence = 'named' if persistence == 'nmd' else 'temporary' if persistence.startswith('tmp-') else persistence
    if kind == 'act':
        token_type = 'accessToken'
    elif kind.startswith('gui-'):
        token_type = 'guiAccessToken'
    elif kind == 'idn':
        token_type = 'identityToken'
    elif kind[:3] in _INVITE_TYPES and kind[3:4] == '-':
        token_type = 'inviteToken:' + _INVITE_TYPES[kind[:3]]
    else:
        token_type = 'unknown'
    return dict(version=2, persistence=persistence, type=token_type)


def _caveat_summary(caveats):
    kinds = []
    valid_until = None
    for caveat in caveats:
        text = caveat.decode('utf-8', 'replace')
        kind = re.split(r'[ =<>]', text, 1)[0]
        if kind not in kinds:
            kinds.append(kind)
        match = re.match(r'^time < (\d+)$', text)
        if match:
            stamp = int(match.group(1))
            valid_until = stamp if valid_until is None else min(valid_until, stamp)
    return kinds, valid_until


def parse_token(token):
    """Check the token's shape and describe it: format, type, persistence, caveat kinds, validUntil.

    Raises TokenShapeError with a message that says what is wrong, never what the token is.
    """
    if not token:
        raise TokenShapeError('no Onedata token given: set the token option or the ONEDATA_TOKEN environment variable.')
    if token != token.strip():
        raise TokenShapeError('the token has leading or trailing whitespace (a newline from a file?); strip it.')
    if _SERVICE_PREFIX_RE.match(token):
        raise TokenShapeError('the token carries a service prefix (opw-/opp-/...): that is a Oneprovider service '
                              'token, not a user access token for oneclient.')
    if len(token) < TOKEN_MIN_LENGTH:
        raise TokenShapeError('the token is %d characters long; Onedata access tokens are at least %d.'
                              % (len(token), TOKEN_MIN_LENGTH))
    if len(token) > TOKEN_MAX_LENGTH:
        raise TokenShapeError('the token is longer than Onezone accepts (%d characters).' % TOKEN_MAX_LENGTH)
    if not _BASE62_RE.match(token):
        raise TokenShapeError('the token contains characters outside the Onedata base62 alphabet [A-Za-z0-9] '
                              '(quotes, spaces, "-" or "=" pasted along?).')
    raw = _b64decode(_unescape_base62(token))
    if raw[:1] == b'\x02':
        serialisation = 'macaroon-v2'
        location, identifier, caveats, signature = _parse_v2(raw)
    elif raw[:1].isdigit() or raw[:1] in b'abcdef':
        serialisation = 'macaroon-v1'
        location, identifier, caveats, signature = _parse_v1(raw)
    else:
        raise TokenShapeError('the token does not hold a macaroon (neither v1 packets nor v2 binary).')
    if len(signature) != SIGNATURE_BYTES:
        raise TokenShapeError('the macaroon signature is %d bytes, not %d.' % (len(signature), SIGNATURE_BYTES))
    info = _classify_identifier(identifier.decode('utf-8', 'replace'))
    kinds, valid_until = _caveat_summary(caveats)
    info.update(
        serialisation=serialisation,
        onezone_domain=location.decode('utf-8', 'replace'),
        caveats=kinds,
        valid_until=valid_until,
    )
    return info


def check_token_offline(token, now=None):
    """parse_token plus the verdicts that need no server: an access token, not expired."""
    info = parse_token(token)
    if info['type'] not in ('accessToken', 'unknown'):
        raise TokenShapeError('the token is an %s, not an access token; create an access token in Onezone '
                              '(Tokens > Create new token > Access token).' % info['type'])
    now = time.time() if now is None else now
    if info['valid_until'] is not None and info['valid_until'] <= now:
        raise TokenShapeError('the token expired at %s (its time caveat); create a new access token.'
                              % format_epoch(info['valid_until']))
    return info


def format_epoch(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


# ---------------------------------------------------------------------------------------------
# Onezone
# ---------------------------------------------------------------------------------------------

class OnezoneClient(object):
    """The two public Onezone token endpoints, over ansible.module_utils.urls.open_url.

    fetch_url is not used on purpose: it reads validate_certs/client_cert/client_key from the
    module's parameters, which in this collection belong to the Kubernetes connection.
    """

    def __init__(self, onezone_host, validate_certs=True, ca_path=None, timeout=10):
        self.onezone_host = onezone_host
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout

    def url(self, path):
        return 'https://%s/api/v3/onezone%s' % (self.onezone_host, path)

    def post_token(self, path, token):
        url = self.url(path)
        where = 'Onezone %s (POST %s)' % (self.onezone_host, '/api/v3/onezone' + path)
        try:
            response = open_url(
                url, data=json.dumps(dict(token=token)), method='POST',
                headers={'Content-Type': 'application/json', 'Accept': 'application/json'},
                validate_certs=self.validate_certs, ca_path=self.ca_path, timeout=self.timeout,
                http_agent='sciplat.k8s-onedata', follow_redirects='none')
            body = response.read()
        except HTTPError as exc:
            raise _http_error(where, exc, token)
        except SSLValidationError as exc:
            raise OnezoneError('%s: TLS certificate verification failed (%s). Set onezone_ca_path to the CA '
                               'that signed it, or onezone_validate_certs=false for a test Onezone.'
                               % (where, scrub(_first_line(exc), [token])))
        except (socket.timeout, TimeoutError):
            raise OnezoneError('%s: no answer within %s seconds (onezone_timeout).' % (where, self.timeout))
        except URLError as exc:
            reason = getattr(exc, 'reason', exc)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise OnezoneError('%s: no answer within %s seconds (onezone_timeout).' % (where, self.timeout))
            if isinstance(reason, ssl.SSLError):
                raise OnezoneError('%s: TLS handshake failed (%s). Set onezone_ca_path to the CA that signed the '
                                   'certificate, or onezone_validate_certs=false for a test Onezone.'
                                   % (where, scrub(reason, [token])))
            raise OnezoneError('%s: cannot connect (%s). Check onezone_host and the network.'
                               % (where, scrub(reason, [token])))
        except (UrlsConnectionError, socket.error, ssl.SSLError) as exc:
            raise OnezoneError('%s: connection failed (%s).' % (where, scrub(exc, [token])))
        try:
            return json.loads(body)
        except ValueError:
            raise OnezoneError('%s answered 200 with a body that is not JSON; is onezone_host a Onezone?' % where)

    def examine(self, token):
        return self.post_token('/tokens/examine', token)

    def infer_access_token_scope(self, token):
        return self.post_token('/tokens/infer_access_token_scope', token)


def _first_line(exc):
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def _onedata_error(body):
    """The ``error`` object of a Onedata REST error, following an ``unauthorized`` wrapper to its cause."""
    try:
        error = json.loads(body).get('error') or {}
    except (ValueError, AttributeError):
        return {}
    if not isinstance(error, dict):
        return {}
    inner = (error.get('details') or {}).get('authError') if isinstance(error.get('details'), dict) else None
    return inner if isinstance(inner, dict) and inner.get('id') else error


def _http_error(where, exc, token):
    try:
        body = exc.read()
    except Exception:  # pylint: disable=broad-except
        body = b''
    error = _onedata_error(body)
    error_id = error.get('id') or ''
    description = scrub(error.get('description') or '', [token]).rstrip('.')
    details = error.get('details') if isinstance(error.get('details'), dict) else {}
    caveat = details.get('caveat') if isinstance(details.get('caveat'), dict) else {}
    if error_id == 'tokenCaveatUnverified' and caveat.get('type') == 'time':
        return OnezoneError('%s: the token has expired (validUntil %s); create a new access token.'
                            % (where, _format_optional_epoch(caveat.get('validUntil'))))
    if error_id == 'tokenCaveatUnverified':
        return OnezoneError('%s: a caveat of the token does not hold (%s): %s'
                            % (where, caveat.get('type') or 'unknown', description))
    if error_id == 'notAnAccessToken':
        return OnezoneError('%s: the token is not an access token: %s' % (where, description))
    if error_id == 'tokenRevoked':
        return OnezoneError('%s: the token has been revoked; create a new access token.' % where)
    if error_id in ('badToken', 'tokenInvalid'):
        return OnezoneError('%s: Onezone does not accept the token (%s)%s. Was it issued by this Onezone?'
                            % (where, error_id, (': ' + description) if description else ''))
    if exc.code == 401:
        return OnezoneError('%s: 401 Unauthorized%s.' % (where, (' (%s: %s)' % (error_id, description)) if error_id else ''))
    return OnezoneError('%s: HTTP %s%s.' % (where, exc.code, (' (%s: %s)' % (error_id, description)) if error_id else ''))


def _format_optional_epoch(value):
    return format_epoch(value) if isinstance(value, int) else 'unknown'


def examine_result(examined):
    """Type and validUntil from a /tokens/examine answer (type is e.g. {"accessToken": {}})."""
    token_type = examined.get('type') or {}
    kind = next(iter(token_type), 'unknown') if isinstance(token_type, dict) else 'unknown'
    if kind == 'inviteToken' and isinstance(token_type.get('inviteToken'), dict):
        kind = 'inviteToken:%s' % token_type['inviteToken'].get('subtype', '')
    valid_until = None
    for caveat in examined.get('caveats') or []:
        if isinstance(caveat, dict) and caveat.get('type') == 'time' and isinstance(caveat.get('validUntil'), int):
            valid_until = caveat['validUntil'] if valid_until is None else min(valid_until, caveat['validUntil'])
    return dict(type=kind, valid_until=valid_until, persistence=examined.get('persistence'),
                onezone_domain=examined.get('onezoneDomain'))


def examine_problem(examined, now):
    """Why an examined token cannot mount data (not an access token, expired), or None."""
    if examined['type'] != 'accessToken':
        return ('it is an %s, not an access token; create an access token in Onezone (Tokens > Create new token > '
                'Access token).' % examined['type'])
    if examined['valid_until'] is not None and examined['valid_until'] <= now:
        return 'it expired at %s (validUntil).' % format_epoch(examined['valid_until'])
    return None


def scope_summary(inferred):
    """Public facts from /tokens/infer_access_token_scope: spaces, providers, validUntil, readonly."""
    access = inferred.get('dataAccessScope') or {}
    spaces = []
    for space_id, space in sorted((access.get('spaces') or {}).items()):
        supports = space.get('supports') or {}
        spaces.append(dict(
            id=space_id, name=space.get('name'),
            providers=sorted(supports),
            readonly_providers=sorted(p for p, s in supports.items() if (s or {}).get('readonly')),
        ))
    providers = []
    for provider_id, provider in sorted((access.get('providers') or {}).items()):
        providers.append(dict(id=provider_id, name=provider.get('name'), domain=provider.get('domain'),
                              online=provider.get('online'), version=provider.get('version')))
    return dict(valid_until=inferred.get('validUntil'), readonly=bool(access.get('readonly')),
                spaces=spaces, providers=providers)


def scope_problems(scope, space_id=None, provider_host=None, now=None):
    """(errors, warnings) for a scope summary against the space and Oneprovider a volume will use."""
    errors, warnings = [], []
    now = time.time() if now is None else now
    if scope.get('valid_until') is not None and scope['valid_until'] <= now:
        errors.append('the token expired at %s (validUntil).' % format_epoch(scope['valid_until']))
    space = next((s for s in scope['spaces'] if s['id'] == space_id), None)
    if space_id and space is None:
        listed = ', '.join('%s (%s)' % (s['name'], s['id']) for s in scope['spaces'][:10]) or 'none'
        errors.append('the token does not give access to space %s; spaces in its scope: %s.' % (space_id, listed))
    if provider_host:
        matching = [p for p in scope['providers'] if (p.get('domain') or '').lower() == provider_host.lower()]
        if not matching:
            listed = ', '.join('%s (%s)' % (p['domain'], p['name']) for p in scope['providers'][:10]) or 'none'
            errors.append('Oneprovider %s is not in the token\'s scope; providers in its scope: %s.'
                          % (provider_host, listed))
        elif space is not None and not any(p['id'] in space['providers'] for p in matching):
            errors.append('Oneprovider %s does not support space %s in the token\'s scope (supported by: %s).'
                          % (provider_host, space_id, ', '.join(space['providers']) or 'no provider'))
        elif not any(p.get('online') for p in matching):
            warnings.append('Oneprovider %s is offline according to Onezone; mounts fail until it is back.'
                            % provider_host)
        if space is not None and any(p['id'] in space['readonly_providers'] for p in matching):
            warnings.append('space %s is read-only on Oneprovider %s for this token.' % (space_id, provider_host))
    if scope.get('readonly'):
        warnings.append('the token only allows read-only data access (data.readonly caveat).')
    return errors, warnings


def inspect_token(token, onezone=None, space_id=None, provider_host=None, now=None):
    """Offline checks, then (with an OnezoneClient) examine + infer_access_token_scope.

    Returns dict(token=<public facts>, scope=<summary or None>, warnings=[...]); raises OnedataError.
    """
    now = time.time() if now is None else now
    info = check_token_offline(token, now=now)
    result = dict(token=dict(info, fingerprint=fingerprint(token)), scope=None, warnings=[])
    if onezone is None:
        return result
    problem = examine_problem(examine_result(onezone.examine(token)), now)
    if problem:
        raise OnezoneError('Onezone %s examined the token: %s' % (onezone.onezone_host, problem))
    scope = scope_summary(onezone.infer_access_token_scope(token))
    errors, warnings = scope_problems(scope, space_id=space_id, provider_host=provider_host, now=now)
    if errors:
        raise OnezoneError('Onezone %s: %s' % (onezone.onezone_host, ' '.join(errors)))
    result.update(scope=scope, warnings=warnings)
    return result


def onezone_client(params):
    """An OnezoneClient from ONEZONE_ARG_SPEC options; raises OnedataError when onezone_host is bad."""
    error = validate_hostname(params.get('onezone_host'), 'onezone_host', allow_port=True)
    if error:
        raise OnedataError(error + ' (the online check needs onezone_host or the ONEZONE_HOST environment variable)')
    return OnezoneClient(params['onezone_host'], validate_certs=params['onezone_validate_certs'],
                         ca_path=params.get('onezone_ca_path'), timeout=params['onezone_timeout'])


# ---------------------------------------------------------------------------------------------
# Secret data
# ---------------------------------------------------------------------------------------------

def secret_data(keys, provider_host, token, space_id, oneclient_options):
    """The decoded Secret data csi-onedata reads, under the configured key names."""
    names = dict(DEFAULT_SECRET_KEYS, **dict((k, v) for k, v in (keys or {}).items() if v))
    if len(set(names.values())) != len(names):
        raise OnedataError('keys maps two values to the same Secret key: %s.' % sorted(names.values()))
    for name in names.values():
        if not re.match(r'^[-._a-zA-Z0-9]+$', name):
            raise OnedataError('Secret key name %r is not valid (letters, digits, "-", "_", ".").' % name)
    return {
        names['host']: provider_host,
        names['token']: token,
        names['space_id']: space_id,
        names['oneclient_options']: oneclient_options or '',
    }


def secret_delta(existing, desired):
    """Compare an existing Secret (API dict or None) with the desired decoded data/labels/annotations.

    Returns dict(changed=bool, changed_keys=[...], metadata_changed=bool, before=<redacted>, after=<redacted>).
    Labels and annotations are merged into what exists; data is owned completely.
    """
    after = dict(data=redact_data(desired['data']), labels=dict(desired['labels']),
                 annotations=dict(desired['annotations']), type='Opaque')
    if existing is None:
        return dict(changed=True, changed_keys=sorted(desired['data']), metadata_changed=True,
                    before=None, after=after)
    metadata = existing.get('metadata') or {}
    current = decode_data(existing.get('data'))
    labels = dict(metadata.get('labels') or {})
    annotations = dict(metadata.get('annotations') or {})
    changed_keys = sorted(key for key in set(current) | set(desired['data'])
                          if current.get(key) != desired['data'].get(key) or key not in current)
    merged_labels = dict(labels, **desired['labels'])
    merged_annotations = dict(annotations, **desired['annotations'])
    metadata_changed = merged_labels != labels or merged_annotations != annotations
    before = dict(data=redact_data(current), labels=labels, annotations=annotations, type=existing.get('type'))
    after.update(labels=merged_labels, annotations=merged_annotations)
    return dict(changed=bool(changed_keys) or metadata_changed, changed_keys=changed_keys,
                metadata_changed=metadata_changed, before=before, after=after)


# ---------------------------------------------------------------------------------------------
# The module runners
# ---------------------------------------------------------------------------------------------

_CONFLICT_RETRIES = 3


def _fail(module, msg, **extra):
    module.fail_json(msg=msg, **extra)


def inspect_from_params(module):
    """inspect_token for a module's ONEZONE_ARG_SPEC options: dict(token, scope), or the module fails."""
    params = module.params
    errors = [
        params.get('provider_host') and validate_hostname(params['provider_host'], 'provider_host'),
        params.get('space_id') and validate_space_id(params['space_id']),
    ]
    if any(errors):
        _fail(module, ' '.join(error for error in errors if error))
    try:
        onezone = onezone_client(params) if params.get('validate_online') else None
        result = inspect_token(params.get('token'), onezone, space_id=params.get('space_id'),
                               provider_host=params.get('provider_host'))
    except OnedataError as exc:
        _fail(module, 'Onedata token check failed: %s' % scrub(exc, [params.get('token')]))
    for warning in result.pop('warnings'):
        module.warn(warning)
    return result


def run_token_info(module):
    """onedata_token_info: offline checks and, with validate_online, the Onezone scope."""
    result = inspect_from_params(module)
    module.exit_json(changed=False, **result)


def _read_secret(core, name, namespace):
    try:
        return core.api_client.sanitize_for_serialization(core.read_namespaced_secret(name, namespace))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _secret_body(existing, name, namespace, desired):
    body = existing or dict(apiVersion='v1', kind='Secret', type='Opaque', metadata=dict(name=name, namespace=namespace))
    body.pop('stringData', None)
    metadata = body.setdefault('metadata', {})
    metadata['labels'] = dict(metadata.get('labels') or {}, **desired['labels'])
    metadata['annotations'] = dict(metadata.get('annotations') or {}, **desired['annotations'])
    body['data'] = encode_data(desired['data'])
    return body


def _write_secret(core, name, namespace, desired, check_mode):
    """Create or replace the Secret when it differs; reads again when someone else wrote in between."""
    conflicts = 0
    while True:
        existing = _read_secret(core, name, namespace)
        if existing is not None and existing.get('type') not in (None, 'Opaque'):
            raise OnedataError('Secret %s/%s exists with type %s; csi-onedata needs an Opaque Secret and the type '
                               'cannot change: delete it or choose another name.'
                               % (namespace, name, existing.get('type')))
        delta = secret_delta(existing, desired)
        if not delta['changed'] or check_mode:
            return delta
        body = _secret_body(existing, name, namespace, desired)
        try:
            if existing is None:
                core.create_namespaced_secret(namespace, body)
            else:
                core.replace_namespaced_secret(name, namespace, body)
            return delta
        except ApiException as exc:
            conflicts += 1
            if exc.status != 409 or conflicts >= _CONFLICT_RETRIES:
                raise


def _delete_secret(core, name, namespace, check_mode):
    existing = _read_secret(core, name, namespace)
    if existing is None:
        return dict(changed=False, changed_keys=[], before=None, after=None)
    if not check_mode:
        try:
            core.delete_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
    before = dict(data=redact_data(decode_data(existing.get('data'))),
                  labels=(existing.get('metadata') or {}).get('labels') or {},
                  annotations=(existing.get('metadata') or {}).get('annotations') or {},
                  type=existing.get('type'))
    return dict(changed=True, changed_keys=sorted(before['data']), before=before, after=None)


def run_token_secret(module):
    """onedata_token_secret: validate, then create/update/delete the Secret, returning only fingerprints."""
    require_kubernetes(module)
    params = module.params
    name, namespace = params['name'], params['namespace']
    result = dict(changed=False, token=None, scope=None)
    desired = None
    if params['state'] == 'present':
        if not params.get('provider_host'):
            _fail(module, 'provider_host is required with state=present (or the ONEPROVIDER_HOST environment variable).')
        if not params.get('space_id'):
            _fail(module, 'space_id is required with state=present.')
        result.update(inspect_from_params(module))
        try:
            data = secret_data(params.get('secret_keys'), params['provider_host'], params['token'], params['space_id'],
                               params.get('oneclient_options'))
        except OnedataError as exc:
            _fail(module, str(exc))
        desired = dict(data=data, labels=params.get('labels') or {}, annotations=params.get('annotations') or {})
    try:
        core = CoreV1Api(api_client(params))
        if desired is None:
            delta = _delete_secret(core, name, namespace, module.check_mode)
        else:
            delta = _write_secret(core, name, namespace, desired, module.check_mode)
    except K8sConnectionError as exc:
        _fail(module, str(exc))
    except TransportError as exc:
        _fail(module, scrub(transport_error_message(exc, 'Secret %s/%s' % (namespace, name)), [params.get('token')]))
    except ApiException as exc:
        _fail(module, 'Kubernetes API error on Secret %s/%s: %s' % (
            namespace, name, scrub(api_error_message(exc), [params.get('token')])))
    except OnedataError as exc:
        _fail(module, str(exc))
    state = delta['after'] or delta['before'] or {}
    result.update(
        changed=delta['changed'],
        changed_keys=delta['changed_keys'],
        secret=dict(name=name, namespace=namespace, type=state.get('type') or 'Opaque',
                    data=(delta['after'] or {}).get('data', {}),
                    labels=(delta['after'] or {}).get('labels', {}),
                    annotations=(delta['after'] or {}).get('annotations', {})),
    )
    if module._diff:
        result['diff'] = dict(before=delta['before'] or {}, after=delta['after'] or {})
    module.exit_json(**result)
