"""kubectl and helm as the integration tests use them against the test cluster (the k8s_cluster fixture).

One place for running the real tools and reading their JSON, so each test module states only what it checks.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

import yaml


def kubectl(cluster, *args, check=True, stdin=None, timeout=300):
    """Runs kubectl against the test cluster; a failure raises with kubectl's message unless check=False."""
    done = subprocess.run([str(cluster.kubectl), *args], env=dict(os.environ, **cluster.env), input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def get(cluster, *args):
    """The object(s) `kubectl get <args>` returns, or None when there is none."""
    done = kubectl(cluster, "get", *args, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def apply(cluster, *manifests):
    kubectl(cluster, "apply", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(m) for m in manifests))


def helm_json(cluster, *args):
    """What `helm <args> -o json` prints, or None when helm fails (no such release)."""
    done = subprocess.run([str(cluster.helm), *args, "-o", "json"], env=dict(os.environ, **cluster.env),
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def decoded(secret):
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def kwok_node(cluster, name, labels, allocatable):
    """A kwok Node that also advertises `allocatable` (stand-in for a device plugin or a node's disk)."""
    apply(cluster, {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": name, "labels": {"kubernetes.io/hostname": name, **labels}, "annotations": {"kwok.x-k8s.io/node": "fake"}}})
    kubectl(cluster, "wait", "--for=condition=Ready", f"node/{name}", "--timeout=60s")
    kubectl(cluster, "patch", "node", name, "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": {"capacity": allocatable, "allocatable": allocatable}}))


def static_volumes(cluster, names, storage_class, size, access_mode, root):
    """Stand-in for a provisioner: hostPath PersistentVolumes the controllers bind to claims of the class."""
    apply(cluster, *({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                      "spec": {"storageClassName": storage_class, "capacity": {"storage": size},
                               "accessModes": [access_mode], "persistentVolumeReclaimPolicy": "Retain",
                               "hostPath": {"path": str(root / name)}}} for name in names))


def helm_uninstall(cluster, release, namespace):
    """Removes a release a test left behind, if there is one."""
    subprocess.run([str(cluster.helm), "uninstall", release, "-n", namespace, "--wait"],
                   env=dict(os.environ, **cluster.env), capture_output=True, check=False)


def server_dry_run(cluster, manifest):
    """What the API server (admission and schema validation included) answers to this object, storing nothing."""
    return kubectl(cluster, "apply", "--dry-run=server", "-f", "-", check=False, stdin=json.dumps(manifest))


def can_i(cluster, who, verb, resource, namespace=None, groups=()):
    """The API server's authorisation answer for an impersonated user (SubjectAccessReview)."""
    args = ["auth", "can-i", verb, resource, f"--as={who}", *[f"--as-group={g}" for g in groups]]
    answer = kubectl(cluster, *args, *([f"--namespace={namespace}"] if namespace else []), check=False).stdout.strip()
    assert answer in ("yes", "no"), answer
    return answer == "yes"
