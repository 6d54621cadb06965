# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection's modules connect to the Kubernetes API.

Every module that talks to Kubernetes takes AUTH_ARG_SPEC (documented by the doc fragment
``sciplat.k8s.k8s_auth``) and calls :func:`api_client`. Options fall back to the same
``K8S_AUTH_*`` environment variables as kubernetes.core, which is how an AWX kubeconfig
credential reaches the modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

try:
    import kubernetes
    # Modules import ApiException from here, so this import is their one source of it.
    from kubernetes.client.rest import ApiException  # noqa: F401 pylint: disable=unused-import
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):
        """Stands in for kubernetes.client.rest.ApiException so except clauses still parse."""

        status = None
        reason = None
        body = None


try:
    # The kubernetes client's transport: a refused or dropped connection surfaces as this, not as an ApiException.
    from urllib3.exceptions import HTTPError as TransportError  # noqa: F401 pylint: disable=unused-import
except ImportError:  # reported by require_kubernetes: urllib3 comes with the kubernetes client
    class TransportError(Exception):
        """Stands in for urllib3's HTTPError so except clauses still parse."""


AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type='raw', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
    context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
    host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
    username=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_PASSWORD'])),
    validate_certs=dict(type='bool', aliases=['verify_ssl'], fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
    client_cert=dict(type='path', aliases=['cert_file'], fallback=(env_fallback, ['K8S_AUTH_CERT_FILE'])),
    client_key=dict(type='path', aliases=['key_file'], no_log=False, fallback=(env_fallback, ['K8S_AUTH_KEY_FILE'])),
    proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_PROXY'])),
    no_proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_NO_PROXY'])),
)

# Options that override single fields of whatever configuration was loaded.
_CONFIGURATION_OVERRIDES = dict(
    host='host',
    username='username',
    password='password',
    validate_certs='verify_ssl',
    ca_cert='ssl_ca_cert',
    client_cert='cert_file',
    client_key='key_file',
    proxy='proxy',
    no_proxy='no_proxy',
)


class K8sConnectionError(Exception):
    """The API could not be reached or authenticated against; the message says why."""


def require_kubernetes(module):
    """Fail the module with the standard message when the kubernetes client is missing."""
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=KUBERNETES_IMPORT_ERROR)


def _load_configuration(params):
    configuration = kubernetes.client.Configuration()
    kubeconfig = params.get('kubeconfig')
    context = params.get('context')
    try:
        if isinstance(kubeconfig, dict):
            kubernetes.config.load_kube_config_from_dict(
                config_dict=kubeconfig, context=context, client_configuration=configuration)
        elif kubeconfig:
            kubernetes.config.load_kube_config(
                config_file=str(kubeconfig), context=context, client_configuration=configuration)
        elif params.get('host'):
            pass  # every field comes from the explicit options below
        else:
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(context=context, client_configuration=configuration)
    except (kubernetes.config.ConfigException, IOError, OSError, ValueError, TypeError) as exc:
        raise K8sConnectionError(
            'Could not load a Kubernetes configuration (kubeconfig=%s, context=%s): %s. Set the module option '
            '`kubeconfig` or the K8S_AUTH_KUBECONFIG environment variable.'
            % (kubeconfig if not isinstance(kubeconfig, dict) else '<inline>', context, exc))
    return configuration


def api_client(params):
    """Build a kubernetes ApiClient from the AUTH_ARG_SPEC options in ``params``."""
    configuration = _load_configuration(params)
    for option, field in _CONFIGURATION_OVERRIDES.items():
        if params.get(option) is not None:
            setattr(configuration, field, params[option])
    if params.get('api_key'):
        configuration.api_key = {'authorization': 'Bearer %s' % params['api_key']}
    return kubernetes.client.ApiClient(configuration)


def transport_error_message(exc, what):
    """Why ``what`` (for example "Secret mip/mip-secret") could not be read or written: the API did not answer."""
    return ('Cannot reach the Kubernetes API server for %s: %s. Check that the API server is up and that the kubeconfig '
            '(the module option kubeconfig or K8S_AUTH_KUBECONFIG) points at it, then run again.'
            % (what, getattr(exc, 'reason', None) or exc))


def api_error_message(exc):
    """A one-line explanation of an ApiException: status, reason and the server's message."""
    detail = ''
    body = getattr(exc, 'body', None)
    if body:
        try:
            detail = json.loads(body).get('message', '')
        except (ValueError, TypeError, AttributeError):
            detail = str(body)[:300]
    return '%s %s%s' % (exc.status, exc.reason, (': ' + detail) if detail else '')
