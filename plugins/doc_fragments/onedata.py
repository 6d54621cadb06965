# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  token:
    description:
      - The Onedata access token (a serialised macaroon in Onedata's base62 alphabet).
      - Never returned, logged or shown in a diff; results carry its fingerprint, C(sha256:) and the first 8 hex
        characters of its SHA-256.
      - Checked offline before anything else is done; its shape (base62, base64, macaroon v1 or v2 packets, a
        32-byte signature), its type (an access token, not an identity or invite token) and its time caveat
        (not expired).
      - Can be set with the E(ONEDATA_TOKEN) environment variable, which is how an AWX custom credential injects it.
    type: str
    aliases: [onedata_token]
  onezone_host:
    description:
      - Host name (optionally C(:port)) of the Onezone that issued the token, for the online check.
      - Can be set with the E(ONEZONE_HOST) environment variable.
    type: str
  onezone_validate_certs:
    description:
      - Whether to verify the Onezone TLS certificate.
    type: bool
    default: true
  onezone_ca_path:
    description:
      - A PEM file of CA certificates to verify the Onezone certificate with.
    type: path
  onezone_timeout:
    description:
      - Seconds to wait for each Onezone answer.
    type: int
    default: 10
  space_id:
    description:
      - The Onedata space ID, 32 lowercase hex characters optionally followed by C(ch) and 4 hex characters.
      - With the online check, the token must give access to this space.
    type: str
  provider_host:
    description:
      - Host name of the Oneprovider that serves the space (what oneclient connects to), without scheme or port.
      - With the online check, this Oneprovider must be in the token's scope and support O(space_id).
      - Can be set with the E(ONEPROVIDER_HOST) environment variable.
    type: str
    aliases: [oneprovider_host]
notes:
  - The online check sends the token to C(https://<onezone_host>/api/v3/onezone/tokens/examine) and
    C(/api/v3/onezone/tokens/infer_access_token_scope), the public Onezone REST endpoints, and fails when the token
    has expired (validUntil), is not an access token, was revoked, is unknown to that Onezone, or does not give
    access to the space or Oneprovider. Timeouts and network errors fail with a message, not a traceback.
'''
