# -*- coding: utf-8 -*-
# Copyright: sciplat.k8s contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig content as a dictionary.
      - Without it, and without O(host), the in-cluster service account is tried, then C(~/.kube/config).
      - Can be set with the E(K8S_AUTH_KUBECONFIG) environment variable, which is how an AWX kubeconfig credential
        reaches the module.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Can be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, overriding the kubeconfig. Can be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Can be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for basic authentication. Can be set with E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for basic authentication. Can be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Can be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate that signed the API server's certificate. Can be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate. Can be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert). Can be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for API requests. Can be set with E(K8S_AUTH_PROXY).
    type: str
  no_proxy:
    description:
      - Comma-separated hosts that bypass O(proxy). Can be set with E(K8S_AUTH_NO_PROXY).
    type: str
requirements:
  - kubernetes >= 24.2.0 (Python library)
notes:
  - The connection options and their E(K8S_AUTH_*) environment variables are the same as those of
    kubernetes.core, so one C(module_defaults) group (C(group/sciplat.k8s.k8s)) or one AWX credential serves both.
'''
