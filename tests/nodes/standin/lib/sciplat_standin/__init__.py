"""TEST DOUBLES of snapd and microk8s for sciplat.k8s's tests. NOT the real software.

They reproduce the documented command-line behaviour of `snap` and `microk8s` (formats, flags,
messages, exit codes, lock files, paths) on top of a real Kubernetes API server that the test
harness runs; they run no Kubernetes component of their own. tests/nodes/README.md lists what
they do not reproduce.
"""
