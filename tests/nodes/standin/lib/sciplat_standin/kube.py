"""TEST DOUBLE support: a small client for the REAL Kubernetes API server of the test harness.

Standard library only (plus PyYAML for the kubeconfig), because the node containers have no
Kubernetes client library and the stand-in must not depend on the kubectl mount for its own work.
"""
from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from . import common


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status


def _material(entry: dict, key: str) -> str | None:
    """Path of a certificate/key given inline (`<key>-data`) or by file in the kubeconfig."""
    if entry.get(f"{key}-data"):
        handle = tempfile.NamedTemporaryFile("wb", delete=False, prefix="standin-kube-")
        with handle:
            handle.write(base64.b64decode(entry[f"{key}-data"]))
        return handle.name
    return entry.get(key)


def load_kubeconfig(path: str | None = None) -> dict:
    with open(path or common.harness_kubeconfig(), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def current_entries(config: dict) -> tuple[dict, dict]:
    """The cluster and user entries of the kubeconfig's current context."""
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    context = contexts[config.get("current-context") or next(iter(contexts))]
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters", [])}
    users = {u["name"]: u["user"] for u in config.get("users", [])}
    return clusters[context["cluster"]], users[context["user"]]


class Client:
    def __init__(self, kubeconfig: str | None = None, timeout: float = 30.0):
        cluster, user = current_entries(load_kubeconfig(kubeconfig))
        self.server = cluster["server"].rstrip("/")
        self.timeout = timeout
        self.token = user.get("token")
        ctx = ssl.create_default_context()
        ca = _material(cluster, "certificate-authority")
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif ca:
            ctx.load_verify_locations(ca)
        cert = _material(user, "client-certificate")
        if cert:
            ctx.load_cert_chain(cert, _material(user, "client-key"))
        self.ctx = ctx

    def request(self, method: str, path: str, body: dict | None = None,
                content_type: str = "application/json") -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except ValueError:
                pass
            raise ApiError(err.code, detail) from None
        except (urllib.error.URLError, OSError) as err:
            raise ApiError(0, str(err)) from None
        return json.loads(raw) if raw else {}

    def get(self, path: str) -> dict | None:
        try:
            return self.request("GET", path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def merge_patch(self, path: str, patch: dict) -> dict:
        return self.request("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, path: str) -> bool:
        try:
            self.request("DELETE", path)
            return True
        except ApiError as err:
            if err.status == 404:
                return False
            raise

    def apply(self, path: str, obj: dict) -> dict:
        """Create `obj` in collection `path`, or merge it into the existing object."""
        try:
            return self.request("POST", path, obj)
        except ApiError as err:
            if err.status != 409:
                raise
        return self.merge_patch(f"{path}/{obj['metadata']['name']}", obj)


def node_object(hostname: str, address: str, worker: bool) -> dict:
    """A Node as a microk8s kubelet registers it (the labels microk8s itself sets)."""
    role = "microk8s-worker" if worker else "microk8s-controlplane"
    other = "microk8s-controlplane" if worker else "microk8s-worker"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": hostname,
            "labels": {
                "kubernetes.io/hostname": hostname,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "microk8s.io/cluster": "true",
                f"node.kubernetes.io/{role}": role,
                # a merge patch removes the other role's label when a node changes role
                f"node.kubernetes.io/{other}": None,
            },
            "annotations": {"sciplat.test/standin": "microk8s test double"},
        },
        "status": {"addresses": [{"type": "InternalIP", "address": address},
                                 {"type": "Hostname", "address": hostname}]},
    }


def register_node(client: Client, hostname: str, address: str, worker: bool) -> None:
    obj = node_object(hostname, address, worker)
    create = json.loads(json.dumps(obj))
    labels = create["metadata"]["labels"]
    for key in [k for k, v in labels.items() if v is None]:
        del labels[key]
    try:
        client.request("POST", "/api/v1/nodes", create)
    except ApiError as err:
        if err.status != 409:
            raise
        client.merge_patch(f"/api/v1/nodes/{hostname}", {"metadata": obj["metadata"]})


def node_ready(node: dict | None) -> bool:
    if not node:
        return False
    for cond in node.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def wait(predicate, timeout: float, interval: float = 1.0) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds (0 = forever) have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if timeout and time.monotonic() >= deadline:
            return False
        time.sleep(interval)
