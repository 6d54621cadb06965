"""A real, local Kubernetes control plane for the tests (test-only, never shipped).

`build` compiles kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm and kwok
with the machine's Go from the Go module proxy and caches them under
$SCIPLAT_CACHE/bin/<tool>-<version>/. `start` runs Debian's etcd and those binaries as local
processes with certificates made here; kwok stands in for the kubelets. See README.md.

Usage: python tests/cluster/testcluster.py build|start|stop|status|env
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
KUBERNETES_MODULE = HERE / "go" / "kubernetes"
NODES_CONTAINERS_CONF = REPO_ROOT / "tests" / "nodes" / "containers.conf"


def _read_versions(path: Path) -> dict[str, str]:
    versions = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip()
    return versions


VERSIONS = _read_versions(HERE / "versions.env")
KUBERNETES_VERSION = VERSIONS["KUBERNETES_VERSION"]
HELM_VERSION = VERSIONS["HELM_VERSION"]
KWOK_VERSION = VERSIONS["KWOK_VERSION"]

CACHE = Path(
    os.environ.get("SCIPLAT_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sciplat-k8s"
)
BIN_CACHE = CACHE / "bin"

# Addresses follow microk8s where the collection can see them (API port, service range).
SERVICE_CIDR = "10.152.183.0/24"
SERVICE_IP = "10.152.183.1"
POD_CIDR = "10.1.0.0/16"
NODE_NETWORK = "sciplat-test"
NODE_SUBNET = "10.89.77.0/24"
NODE_GATEWAY = "10.89.77.1"
CLUSTER_NAME = "sciplat-test"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOG_ROTATE_BYTES = 50 * 1024 * 1024

# Go >= 1.27 turns encoding/json v2 on, which breaks the API server's OpenAPI; the experiment
# name is valid (and a no-op) on 1.26 too. GOTOOLCHAIN=local keeps "the machine's Go": a
# module that wants a newer one fails loudly instead of fetching a toolchain.
GO_ENV = {"GOEXPERIMENT": "nojsonv2", "GOTOOLCHAIN": "local"}
KUBE_TOOLS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# Upstream's default stages (what kwokctl feeds kwok), read from the pinned module.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


class ClusterError(RuntimeError):
    """A build or start failure, with enough detail to act on."""


def log(message: str) -> None:
    print(f"[testcluster] {message}", file=sys.stderr, flush=True)


def instance() -> int:
    """SCIPLAT_CLUSTER_INSTANCE=N (N >= 1) selects a second, independent cluster with its own state and ports, so
    that two test streams can run side by side without seeing each other's Nodes and releases (scripts/test.sh)."""
    value = os.environ.get("SCIPLAT_CLUSTER_INSTANCE") or "0"
    if not value.isdigit():
        raise SystemExit(f"SCIPLAT_CLUSTER_INSTANCE={value!r}: give a small number (0 is the default cluster)")
    return int(value)


def state_dir() -> Path:
    default = CACHE / "run" / ("cluster" if instance() == 0 else f"cluster-{instance()}")
    return Path(os.environ.get("SCIPLAT_CLUSTER_STATE") or default)


def tool_path(tool: str, version: str) -> Path:
    return BIN_CACHE / f"{tool}-{version}" / tool


def kube_tool(tool: str) -> Path:
    return tool_path(tool, KUBERNETES_VERSION)


def helm_path() -> Path:
    return tool_path("helm", HELM_VERSION)


def kwok_path() -> Path:
    return tool_path("kwok", KWOK_VERSION)


def tool_dirs() -> str:
    """The directories that put helm and kubectl on PATH."""
    return os.pathsep.join([str(helm_path().parent), str(kube_tool("kubectl").parent)])


def kwok_stages_path() -> Path:
    return kwok_path().parent / "stages.yaml"


@contextlib.contextmanager
def file_lock(path: Path):
    """Serialises builds and starts between concurrent test sessions on this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])


# --------------------------------------------------------------------------- build


def _command_text(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    return f"cd {shlex.quote(str(cwd))} && {assignments} {shlex.join(cmd)}"


def run_go(what: str, cmd: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> None:
    """Runs a go command, reporting progress while it runs; fails with the exact command."""
    env_delta = {**GO_ENV, **(extra_env or {})}
    command_text = _command_text(cmd, cwd, env_delta)
    log_dir = BIN_CACHE / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"build-{what}.log"
    started = time.monotonic()
    log(f"{what}: {command_text}")
    with open(log_file, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env={**os.environ, **env_delta}, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        while True:
            try:
                proc.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                packages = len(log_file.read_text(encoding="utf-8", errors="replace").splitlines())
                log(f"{what}: still building, {time.monotonic() - started:.0f} s, {packages} packages compiled")
    if proc.returncode != 0:
        raise ClusterError(
            f"{what}: go failed with exit code {proc.returncode}\n"
            f"command: {command_text}\n"
            f"output (last lines, full log in {log_file}):\n{tail(log_file, 60)}"
        )
    log(f"{what}: done in {time.monotonic() - started:.0f} s")


def go_module_info(module: str, version: str) -> dict:
    """Asks the Go module proxy for a module (downloading it) and returns `go mod download -json`."""
    cmd = ["go", "mod", "download", "-json", f"{module}@{version}"]
    outside_any_module = Path("/")
    done = subprocess.run(cmd, cwd=outside_any_module, env={**os.environ, **GO_ENV},
                          capture_output=True, text=True, check=False)
    try:
        info = json.loads(done.stdout)
    except json.JSONDecodeError:
        info = {}
    if done.returncode != 0 or info.get("Error") or "Dir" not in info:
        raise ClusterError(f"the Go module proxy did not deliver {module}@{version}\n"
                           f"command: {_command_text(cmd, outside_any_module, GO_ENV)}\n"
                           f"error: {info.get('Error') or done.stderr.strip()}")
    return info


def check_kubernetes_module() -> None:
    """go.mod must require exactly KUBERNETES_VERSION and replace staging modules at its v0 twin."""
    gomod = (KUBERNETES_MODULE / "go.mod").read_text(encoding="utf-8")
    required = re.search(r"^(?:require)?\s*k8s\.io/kubernetes (v\S+)", gomod, re.MULTILINE)
    staging = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => (\S+) (\S+)$", gomod, re.MULTILINE)
    wrong = [f"{old} => {new} {version}" for old, new, version in replaced if old != new or version != staging]
    if not required or required.group(1) != KUBERNETES_VERSION or not replaced or wrong:
        raise ClusterError(
            f"{KUBERNETES_MODULE / 'go.mod'} does not match KUBERNETES_VERSION={KUBERNETES_VERSION} "
            f"from versions.env: it must require k8s.io/kubernetes {KUBERNETES_VERSION} and replace every "
            f"k8s.io staging module at {staging}; offending lines: {wrong or 'the require line'}. "
            "Edit go.mod and run `go mod tidy` there."
        )


# As in the upstream release builds: no symbol tables, a third smaller.
STRIP_LDFLAGS = "-s -w"


def _version_ldflags(package_prefixes: tuple[str, ...], values: dict[str, str]) -> str:
    return " ".join(f"-X {prefix}.{key}={value}" for prefix in package_prefixes for key, value in values.items())


def _install_outputs(build_dir: Path, outputs: dict[str, list[Path]], version: str, note: str) -> None:
    """Moves freshly built files into <tool>-<version>/ so an interrupted build never looks cached."""
    for tool, files in outputs.items():
        final = BIN_CACHE / f"{tool}-{version}"
        staging = build_dir / f"{tool}-{version}"
        staging.mkdir()
        for file in files:
            shutil.move(str(file), staging / file.name)
        (staging / "BUILD_INFO").write_text(note, encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(staging), final)


def _go_version() -> str:
    return subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()


def build_kubernetes(build_dir: Path) -> None:
    check_kubernetes_module()
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    # What the release scripts stamp in: without it the binaries say v0.0.0-master, which
    # helm charts' kubeVersion constraints and version checks in clients reject.
    ldflags = " ".join([STRIP_LDFLAGS, _version_ldflags(
        ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"),
        {"gitVersion": KUBERNETES_VERSION, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"},
    )])
    out = build_dir / "out"
    out.mkdir()
    cmd = ["go", "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{out}/", "tool"]
    log(f"building {', '.join(KUBE_TOOLS)} {KUBERNETES_VERSION} (about 5 min with an empty Go build cache)")
    run_go("kubernetes", cmd, KUBERNETES_MODULE)
    note = f"{_go_version()}\n{_command_text(cmd, KUBERNETES_MODULE, GO_ENV)}\n"
    _install_outputs(build_dir, {tool: [out / tool] for tool in KUBE_TOOLS}, KUBERNETES_VERSION, note)


def build_helm(build_dir: Path) -> None:
    info = go_module_info("helm.sh/helm/v3", HELM_VERSION)
    client_go = re.search(r"k8s\.io/client-go v0\.(\d+)\.", Path(info["GoMod"]).read_text(encoding="utf-8"))
    if not client_go:
        raise ClusterError(f"cannot find k8s.io/client-go in {info['GoMod']}")
    # helm's Makefile stamps its version and the Kubernetes version `helm template` assumes.
    ldflags = " ".join(
        [
            STRIP_LDFLAGS,
            _version_ldflags(("helm.sh/helm/v3/internal/version",), {"version": HELM_VERSION}),
            _version_ldflags(
                ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"),
                {"k8sVersionMajor": "1", "k8sVersionMinor": client_go.group(1)},
            ),
        ]
    )
    gobin = build_dir / "gobin"
    cmd = ["go", "install", "-v", "-trimpath", "-ldflags", ldflags, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"]
    log(f"building helm {HELM_VERSION}")
    run_go("helm", cmd, build_dir, {"GOBIN": str(gobin)})
    note = f"{_go_version()}\n{_command_text(cmd, build_dir, {**GO_ENV, 'GOBIN': str(gobin)})}\n"
    _install_outputs(build_dir, {"helm": [gobin / "helm"]}, HELM_VERSION, note)


def build_kwok(build_dir: Path) -> None:
    info = go_module_info("sigs.k8s.io/kwok", KWOK_VERSION)
    gobin = build_dir / "gobin"
    cmd = ["go", "install", "-v", "-trimpath", "-ldflags", STRIP_LDFLAGS, f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"]
    log(f"building kwok {KWOK_VERSION}")
    run_go("kwok", cmd, build_dir, {"GOBIN": str(gobin)})
    stages = build_dir / "stages.yaml"
    stages.write_text(
        "".join(f"---\n# from sigs.k8s.io/kwok@{KWOK_VERSION}/{name}\n" + (Path(info["Dir"]) / name).read_text(
            encoding="utf-8") for name in KWOK_STAGE_FILES),
        encoding="utf-8",
    )
    note = f"{_go_version()}\n{_command_text(cmd, build_dir, {**GO_ENV, 'GOBIN': str(gobin)})}\n"
    _install_outputs(build_dir, {"kwok": [gobin / "kwok", stages]}, KWOK_VERSION, note)


BUILDS = (
    ("kubernetes", build_kubernetes, [kube_tool(tool) for tool in KUBE_TOOLS]),
    ("helm", build_helm, [helm_path()]),
    ("kwok", build_kwok, [kwok_path(), kwok_stages_path()]),
)


def build() -> None:
    """Builds whatever is not cached yet; a cache hit costs a few file checks."""
    if shutil.which("go") is None:
        raise ClusterError("`go` is not on PATH: the test cluster is built with the machine's Go toolchain")
    with file_lock(BIN_CACHE / ".build.lock"):
        for name, builder, outputs in BUILDS:
            if all(path.exists() for path in outputs):
                continue
            with tempfile.TemporaryDirectory(dir=BIN_CACHE, prefix=f".build-{name}-") as build_dir:
                builder(Path(build_dir))


def built() -> bool:
    return all(path.exists() for build_step in BUILDS for path in build_step[2])


# --------------------------------------------------------------------------- certificates

API_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")
API_IPS = ("127.0.0.1", SERVICE_IP, NODE_GATEWAY)
# file stem -> (common name, organisation). The control-plane components get the identities
# their bootstrap RBAC roles are bound to, as in kubeadm clusters.
CLIENT_CERTS = {
    "admin": ("admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("kwok", "system:masters"),
}
FRONT_PROXY_CLIENT = "front-proxy-client"


class Pki:
    """Keys and certificates, each made only when missing: they are kept across restarts so
    that kubeconfigs already copied into node containers stay valid."""

    def __init__(self, directory: Path):
        self.dir = directory

    def ensure(self) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric import rsa
        except ImportError as error:
            raise ClusterError("the Python package `cryptography` is missing: run with the project's venv "
                               "(bash scripts/setup.sh, then source .venv/bin/activate)") from error
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        from cryptography.x509.oid import ExtendedKeyUsageOID

        self.dir.mkdir(parents=True, exist_ok=True)
        self._ca("ca", "sciplat-test-ca")
        # Its own CA, as in kubeadm: client certificates of the main CA must not pass as the proxy.
        self._ca("front-proxy-ca", "sciplat-test-front-proxy-ca")
        self._leaf("apiserver", "ca", "kube-apiserver", None, ExtendedKeyUsageOID.SERVER_AUTH, API_DNS_NAMES, API_IPS)
        for stem, (common_name, organisation) in CLIENT_CERTS.items():
            self._leaf(stem, "ca", common_name, organisation, ExtendedKeyUsageOID.CLIENT_AUTH)
        self._leaf(FRONT_PROXY_CLIENT, "front-proxy-ca", FRONT_PROXY_CLIENT, None, ExtendedKeyUsageOID.CLIENT_AUTH)
        if not (self.dir / "sa.pub").exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._write_key("sa", key)
            (self.dir / "sa.pub").write_bytes(key.public_key().public_bytes(
                Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))

    def _write_key(self, stem: str, key) -> None:
        from cryptography.hazmat.primitives import serialization

        path = self.dir / f"{stem}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)

    def _load(self, stem: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        certificate = x509.load_pem_x509_certificate((self.dir / f"{stem}.crt").read_bytes())
        key = serialization.load_pem_private_key((self.dir / f"{stem}.key").read_bytes(), password=None)
        return certificate, key

    @staticmethod
    def _name(common_name: str, organisation: str | None = None):
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organisation:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
        return x509.Name(attributes)

    @staticmethod
    def _builder(subject, issuer, public_key):
        from cryptography import x509

        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        )

    def _ca(self, stem: str, common_name: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding

        if (self.dir / f"{stem}.crt").exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        name = self._name(common_name)
        certificate = (
            self._builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self._write_key(stem, key)
        (self.dir / f"{stem}.crt").write_bytes(certificate.public_bytes(Encoding.PEM))

    def _leaf(self, stem: str, ca: str, common_name: str, organisation: str | None, usage,
              dns_names: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding

        wanted = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if (self.dir / f"{stem}.crt").exists():
            existing = self._load(stem)[0]
            try:
                current = list(existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except x509.ExtensionNotFound:
                current = []
            if set(current) == set(wanted):
                return
        ca_certificate, ca_key = self._load(ca)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(self._name(common_name, organisation), ca_certificate.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if wanted:
            builder = builder.add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        self._write_key(stem, key)
        (self.dir / f"{stem}.crt").write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(Encoding.PEM))


def write_kubeconfig(path: Path, pki: Path, user: str, server: str) -> None:
    """Self-contained (certificates inline) so that it can be copied into a node container."""
    import base64

    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server, "certificate-authority-data": data("ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate-data": data(f"{user}.crt"),
                                          "client-key-data": data(f"{user}.key")}}],
        "contexts": [{"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": CLUSTER_NAME,
        "preferences": {},
    }
    temporary = path.with_suffix(".tmp")
    # JSON is YAML, and every Kubernetes client reads it.
    temporary.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)


# --------------------------------------------------------------------------- processes


def _http_ok(url: str, context: ssl.SSLContext | None = None, expect: bytes | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as response:
            body = response.read()
            return response.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _insecure_context() -> ssl.SSLContext:
    """For the components' self-signed /healthz endpoints on loopback (no secrets are sent)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class Ports:
    """The cluster's TCP ports; the defaults are the test cluster's (16443 as in microk8s)."""

    api: int = 16443
    etcd_client: int = 23790
    etcd_peer: int = 23800
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247

    def shifted(self, offset: int) -> "Ports":
        return Ports(**{field: value + offset for field, value in vars(self).items()})


# Apart from the default ports, from tests/lab's private clusters (+1000) and from each other.
INSTANCE_PORT_OFFSET = 2000


def default_ports() -> Ports:
    return Ports().shifted(INSTANCE_PORT_OFFSET * instance()) if instance() else Ports()


@dataclass(frozen=True)
class Component:
    name: str
    binary: Path
    args: tuple[str, ...]
    ports: tuple[int, ...]
    health_url: str
    secure: bool = False
    health_expect: bytes | None = None
    timeout: float = 60.0
    env: tuple[tuple[str, str], ...] = ()


class Cluster:
    """The control plane's processes and files under one state directory."""

    def __init__(self, state: Path | None = None, ports: Ports | None = None):
        self.state = state or state_dir()
        self.ports = ports = ports or default_ports()
        self.server = f"https://127.0.0.1:{ports.api}"
        self.nodes_server = f"https://{NODE_GATEWAY}:{ports.api}"
        self.pki = self.state / "pki"
        self.logs = self.state / "logs"
        self.pids = self.state / "pids"
        self.kubeconfig = self.state / "admin.kubeconfig"
        self.nodes_kubeconfig = self.state / "nodes.kubeconfig"

    # -- configuration

    def components(self) -> list[Component]:
        pki, state, ports = self.pki, self.state, self.ports
        return [
            Component(
                "etcd", Path(shutil.which("etcd") or "/usr/bin/etcd"),
                (
                    "--name=sciplat-test", f"--data-dir={state / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
                    f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
                    f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
                    f"--initial-cluster=sciplat-test=http://127.0.0.1:{ports.etcd_peer}",
                    "--logger=zap", "--log-level=warn",
                ),
                (ports.etcd_client, ports.etcd_peer),
                f"http://127.0.0.1:{ports.etcd_client}/health", health_expect=b'"health":"true"', timeout=30,
            ),
            Component(
                "kube-apiserver", kube_tool("kube-apiserver"),
                (
                    f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
                    "--bind-address=0.0.0.0", f"--secure-port={ports.api}",
                    # What node containers reach, so the `kubernetes` Service points there too.
                    f"--advertise-address={NODE_GATEWAY}",
                    f"--cert-dir={state / 'kube-apiserver'}",
                    f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                    f"--client-ca-file={pki / 'ca.crt'}",
                    "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                    # Its not-ready taint would be lifted by the node lifecycle controller, which is
                    # off (see the controller manager); kwok makes every node Ready instead.
                    "--disable-admission-plugins=TaintNodesByCondition",
                    f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                    f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                    "--requestheader-username-headers=X-Remote-User",
                    "--requestheader-group-headers=X-Remote-Group",
                    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                    f"--proxy-client-cert-file={pki / (FRONT_PROXY_CLIENT + '.crt')}",
                    f"--proxy-client-key-file={pki / (FRONT_PROXY_CLIENT + '.key')}",
                    f"--service-account-issuer={SA_ISSUER}",
                    f"--service-account-key-file={pki / 'sa.pub'}",
                    f"--service-account-signing-key-file={pki / 'sa.key'}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    # microk8s allows privileged pods; charts for CSI drivers need them.
                    "--allow-privileged=true",
                    # Debian's etcd 3.4 cannot report watch progress, so streaming lists fail; with
                    # WatchList on, the server also turns every legacy watch from resourceVersion 0
                    # into one (kwok makes those) and such watchers never get an event.
                    "--feature-gates=WatchList=false",
                ),
                (ports.api,),
                f"{self.server}/readyz", secure=True, health_expect=b"ok", timeout=120,
            ),
            Component(
                "kube-controller-manager", kube_tool("kube-controller-manager"),
                (
                    *self._component_auth("controller-manager"),
                    f"--cert-dir={state / 'kube-controller-manager'}",
                    "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
                    # No kubelet runs here: node health is whatever kwok writes, and the node
                    # lifecycle controller would taint and evict on a late simulated heartbeat
                    # or whenever kwok is not running.
                    "--controllers=*,-nodelifecycle",
                    f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                    f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                    "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--cluster-name={CLUSTER_NAME}", "--leader-elect=false",
                ),
                (ports.controller_manager,),
                f"https://127.0.0.1:{ports.controller_manager}/healthz",
            ),
            Component(
                "kube-scheduler", kube_tool("kube-scheduler"),
                (
                    *self._component_auth("scheduler"),
                    f"--cert-dir={state / 'kube-scheduler'}",
                    "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}", "--leader-elect=false",
                ),
                (ports.scheduler,),
                f"https://127.0.0.1:{ports.scheduler}/healthz",
            ),
            Component(
                "kwok", kwok_path(),
                (
                    f"--kubeconfig={state / 'kwok.kubeconfig'}", f"--config={kwok_stages_path()}",
                    "--manage-all-nodes=true", f"--server-address=127.0.0.1:{ports.kwok}",
                    "--node-lease-duration-seconds=40", f"--cidr={POD_CIDR}",
                ),
                (ports.kwok,),
                f"http://127.0.0.1:{ports.kwok}/healthz",
                env=(
                    # Keeps a ~/.kwok/kwok.yaml of the machine out of the test cluster.
                    ("KWOK_WORKDIR", str(state / "kwok")),
                ),
            ),
        ]

    def _component_auth(self, user: str) -> tuple[str, ...]:
        kubeconfig = self.state / f"{user}.kubeconfig"
        return (f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}")

    def _client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(self.pki / "admin.crt", self.pki / "admin.key")
        return context

    def healthy(self, component: Component) -> bool:
        if component.secure:
            context = self._client_context()
        elif component.health_url.startswith("https"):
            context = _insecure_context()
        else:
            context = None
        return _http_ok(component.health_url, context, component.health_expect)

    # -- process bookkeeping

    def _pid_file(self, component: Component) -> Path:
        return self.pids / f"{component.name}.pid"

    def pid(self, component: Component) -> int | None:
        """The component's pid if that process still runs this component's binary."""
        try:
            pid = int(self._pid_file(component).read_text(encoding="utf-8"))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        if state in ("Z", "X") or cmdline[0].decode(errors="replace") != str(component.binary):
            return None
        return pid

    def _port_users(self, port: int) -> str:
        ss = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False)
        return ss.stdout.strip() or f"something listens on port {port}"

    def _spawn(self, component: Component) -> None:
        if not component.binary.exists():
            raise ClusterError(f"{component.binary} is missing: run `python {Path(__file__)} build`")
        for port in component.ports:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise ClusterError(f"{component.name}: port {port} is taken by a process that is not "
                                       f"this cluster's:\n{self._port_users(port)}")
        log_path = self.logs / f"{component.name}.log"
        if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_suffix(".log.1"))
        argv = [str(component.binary), *component.args]
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"\n=== {datetime.datetime.now().isoformat()} {shlex.join(argv)}\n")
        # sh puts the component in the background of a session of its own and prints its pid:
        # the component outlives this Python process, which waits for sh only, so that no
        # zombie or "still running" warning is left behind in a long pytest session.
        launcher = subprocess.run(
            ["sh", "-c", 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!', "sh", str(log_path), *argv],
            cwd=self.state, env={**os.environ, **dict(component.env)}, capture_output=True, text=True,
            start_new_session=True, check=True,
        )
        self._pid_file(component).write_text(launcher.stdout.strip(), encoding="utf-8")

    def _wait_healthy(self, component: Component) -> None:
        deadline = time.monotonic() + component.timeout
        while time.monotonic() < deadline:
            if self.healthy(component):
                return
            if self.pid(component) is None:
                raise ClusterError(self._failure(component, "exited"))
            time.sleep(0.3)
        raise ClusterError(self._failure(component, f"not healthy at {component.health_url} after {component.timeout:.0f} s"))

    def _failure(self, component: Component, what: str) -> str:
        log_path = self.logs / f"{component.name}.log"
        return f"{component.name} {what}; last lines of {log_path}:\n{tail(log_path)}"

    def _stop_component(self, component: Component) -> None:
        pid = self.pid(component)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while self.pid(component) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.pid(component) is not None:
                os.kill(pid, signal.SIGKILL)
                while self.pid(component) is not None:
                    time.sleep(0.1)
        self._pid_file(component).unlink(missing_ok=True)

    # -- lifecycle

    def status(self) -> dict[str, str]:
        result = {}
        for component in self.components():
            pid = self.pid(component)
            if pid is None:
                result[component.name] = "stopped"
            else:
                result[component.name] = f"{'healthy' if self.healthy(component) else 'UNHEALTHY'} (pid {pid})"
        return result

    def running(self) -> bool:
        return all(self.pid(c) is not None and self.healthy(c) for c in self.components())

    def start(self) -> bool:
        """Starts what is not running; returns False when everything already was (a no-op)."""
        with file_lock(self.state / ".lock"):
            if self.running():
                return False
            started = time.monotonic()
            if not built():
                build()
            for directory in (self.logs, self.pids):
                directory.mkdir(parents=True, exist_ok=True)
            Pki(self.pki).ensure()
            write_kubeconfig(self.kubeconfig, self.pki, "admin", self.server)
            write_kubeconfig(self.nodes_kubeconfig, self.pki, "admin", self.nodes_server)
            for user in ("controller-manager", "scheduler", "kwok"):
                write_kubeconfig(self.state / f"{user}.kubeconfig", self.pki, user, self.server)
            ensure_node_network(self.state)
            components = self.components()
            etcd = components[0]
            if self.pid(etcd) is None:
                # Without its etcd the API server's caches are stale: begin again with an empty cluster.
                for component in reversed(components):
                    self._stop_component(component)
                shutil.rmtree(self.state / "etcd", ignore_errors=True)
            for component in components:
                if self.pid(component) is None:
                    log(f"starting {component.name}")
                    self._spawn(component)
                # The API server must serve before the rest can settle; the others start together.
                if component.name in ("etcd", "kube-apiserver"):
                    self._wait_healthy(component)
            for component in components[2:]:
                self._wait_healthy(component)
            self._wait_default_service_account()
            log(f"cluster ready in {time.monotonic() - started:.1f} s: KUBECONFIG={self.kubeconfig}")
            return True

    def _wait_default_service_account(self, timeout: float = 60) -> None:
        """Pods are refused until the namespace's default ServiceAccount exists."""
        url = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _http_ok(url, self._client_context()):
                return
            time.sleep(0.3)
        controller_manager = self.components()[2]
        raise ClusterError(self._failure(controller_manager, f"did not create the default ServiceAccount in {timeout:.0f} s"))

    def stop(self) -> None:
        with file_lock(self.state / ".lock"):
            for component in reversed(self.components()):
                if self.pid(component) is not None:
                    log(f"stopping {component.name}")
                self._stop_component(component)

    def env(self) -> dict[str, str]:
        """Variables for subprocesses (kubectl, helm, ansible's kubernetes.core)."""
        path = os.pathsep.join([tool_dirs(), os.environ.get("PATH", "")])
        return {"KUBECONFIG": str(self.kubeconfig), "K8S_AUTH_KUBECONFIG": str(self.kubeconfig), "PATH": path}


def ensure_node_network(state: Path) -> None:
    """The podman network the node containers join; they reach the API server at its gateway."""
    podman = shutil.which("podman")
    if podman is None:
        raise ClusterError("podman is not installed (run scripts/setup.sh): the node network cannot be created")
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf(state))}
    if subprocess.run([podman, "network", "exists", NODE_NETWORK], env=env, check=False).returncode == 0:
        return
    cmd = [podman, "network", "create", "--subnet", NODE_SUBNET, "--gateway", NODE_GATEWAY, NODE_NETWORK]
    created = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    # A concurrent session may have created it in between.
    if created.returncode != 0 and subprocess.run([podman, "network", "exists", NODE_NETWORK], env=env,
                                                  check=False).returncode != 0:
        raise ClusterError(f"`{shlex.join(cmd)}` failed: {created.stderr.strip()}")


def containers_conf(state: Path) -> Path:
    if NODES_CONTAINERS_CONF.exists():
        return NODES_CONTAINERS_CONF
    fallback = state / "containers.conf"
    fallback.write_text('[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n', encoding="utf-8")
    return fallback


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("command", choices=("build", "start", "stop", "status", "env"))
    args = parser.parse_args(argv)
    cluster = Cluster()
    try:
        if args.command == "build":
            started = time.monotonic()
            build()
            log(f"binaries ready in {time.monotonic() - started:.1f} s under {BIN_CACHE}")
        elif args.command == "start":
            if not cluster.start():
                log(f"already running and healthy: KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "stop":
            cluster.stop()
        elif args.command == "status":
            status = cluster.status()
            for name, text in status.items():
                print(f"{name:25} {text}")
            return 0 if all(text.startswith("healthy") for text in status.values()) else 3
        else:
            for key, value in cluster.env().items():
                if key != "PATH":
                    print(f"export {key}={shlex.quote(value)}")
            print(f'export PATH={shlex.quote(tool_dirs())}:"$PATH"')
    except ClusterError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
