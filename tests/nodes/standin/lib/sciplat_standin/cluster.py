"""TEST DOUBLE: microk8s clustering — shared cluster state, the cluster agent and the join client.

Where real microk8s keeps its control-plane membership in dqlite, the stand-in keeps it in a
ConfigMap `kube-system/sciplat-standin-microk8s-<cluster id>` of the REAL API server (key
`state.json`), so that every control plane reads the same members, roles and addons. Each node
records its cluster id in D/var/sciplat-standin/cluster-id and mirrors the members into
D/var/kubernetes/backend/cluster.yaml as microk8s does.
"""
from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from . import common
from .kube import ApiError, Client, register_node

NAMESPACE = "kube-system"
JOIN_PATH = "/cluster/api/v2.0/join"
TOKEN_MIN_LEN = 32
FINGERPRINT_MIN_LEN = 12
MAX_VOTERS = 3
MAX_STANDBYS = 3


# ---------------------------------------------------------------- local files

def cluster_id_file() -> Path:
    return common.snap_data() / "var/sciplat-standin/cluster-id"


def backend_dir() -> Path:
    return common.snap_data() / "var/kubernetes/backend"


def tokens_file() -> Path:
    return common.snap_data() / "credentials/cluster-tokens.txt"


def persistent_token_file() -> Path:
    return common.snap_data() / "credentials/persistent-cluster-token.txt"


def cert_files() -> tuple[Path, Path]:
    certs = common.snap_data() / "certs"
    return certs / "server.crt", certs / "server.key"


def fingerprint() -> str:
    """First 12 hex digits of the SHA-256 of the agent certificate (DER), like server_cert_check."""
    pem = cert_files()[0].read_text()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()[:FINGERPRINT_MIN_LEN]


def make_certificate(ip: str) -> None:
    crt, key = cert_files()
    crt.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                    "-subj", "/CN=127.0.0.1", "-addext", f"subjectAltName=IP:127.0.0.1,IP:{ip}",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    key.chmod(0o600)


def dqlite_id() -> int:
    return secrets.randbelow(2**63 - 1) + 1


def write_backend(members: list[dict]) -> None:
    """D/var/kubernetes/backend/cluster.yaml and info.yaml in dqlite's format."""
    roles = {"voter": 0, "standby": 1, "spare": 2}
    backend = backend_dir()
    backend.mkdir(parents=True, exist_ok=True)
    (backend / "cluster.yaml").write_text(yaml.safe_dump(
        [{"Address": m["address"], "ID": m["id"], "Role": roles[m["role"]]} for m in members],
        sort_keys=False))
    me = next((m for m in members if m["hostname"] == common.hostname()), None)
    if me:
        (backend / "info.yaml").write_text(yaml.safe_dump(
            {"Address": me["address"], "ID": me["id"], "Role": roles[me["role"]]}, sort_keys=False))


def read_backend() -> list[dict]:
    names = {0: "voter", 1: "standby", 2: "spare"}
    try:
        entries = yaml.safe_load((backend_dir() / "cluster.yaml").read_text()) or []
    except OSError:
        return []
    return [{"address": e["Address"], "id": e["ID"], "role": names[e["Role"]], "hostname": ""}
            for e in entries]


def assign_roles(members: list[dict]) -> None:
    """First voters, then standbys, then spares, in join order (dqlite's role adjustment)."""
    for index, member in enumerate(members):
        member["role"] = ("voter" if index < MAX_VOTERS
                          else "standby" if index < MAX_VOTERS + MAX_STANDBYS else "spare")


# ---------------------------------------------------------------- tokens

def add_token(token: str, ttl: int) -> None:
    tokens_file().parent.mkdir(parents=True, exist_ok=True)
    with tokens_file().open("a") as handle:
        handle.write(f"{token}|{int(round(time.time())) + ttl}\n" if ttl != -1 else f"{token}\n")


_token_lock = threading.Lock()


def consume_token(token: str) -> bool:
    """Valid? A token without expiry is removed at its first check, whatever happens next."""
    if persistent_token_file().exists() and token == persistent_token_file().read_text().strip():
        return True
    with _token_lock:
        try:
            lines = tokens_file().read_text().splitlines()
        except OSError:
            return False
        now = time.time()
        valid = False
        keep = []
        for line in lines:
            value, dummy, expiry = line.partition("|")
            if expiry and float(expiry) < now:
                continue
            if value == token and not valid:
                valid = True
                if not expiry:
                    continue
            keep.append(line)
        tokens_file().write_text("".join(f"{line}\n" for line in keep))
        return valid


# ---------------------------------------------------------------- shared state

def new_state(minor: int, addons_state: dict) -> dict:
    ip = common.ips()[0]
    me = {"hostname": common.hostname(), "address": f"{ip}:{common.DQLITE_PORT}", "id": dqlite_id(),
          "role": "voter"}
    return {"members": [me], "workers": [], "addons": addons_state, "minor": minor}


class SharedState:
    def __init__(self, cluster_id: str, client: Client | None = None):
        self.cluster_id = cluster_id
        self._client = client

    @classmethod
    def for_this_node(cls) -> "SharedState":
        return cls(cluster_id_file().read_text().strip())

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client()
        return self._client

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{NAMESPACE}/configmaps/sciplat-standin-microk8s-{self.cluster_id}"

    def create(self, state: dict) -> None:
        self.client.apply(f"/api/v1/namespaces/{NAMESPACE}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.path.rsplit("/", 1)[1],
                         "labels": {"sciplat.test/standin": "microk8s"}},
            "data": {"state.json": json.dumps(state)}})

    def load(self) -> dict:
        obj = self.client.get(self.path)
        if obj is None:
            pending = common.read_json(pending_state_file(), {})
            if pending.get("cluster_id") != self.cluster_id:
                raise ApiError(404, f"cluster state {self.cluster_id} not found")
            self.create(pending["state"])
            return pending["state"]
        return json.loads(obj["data"]["state.json"])

    def update(self, change) -> dict:
        """Apply `change(state)` with optimistic concurrency (retries on conflict)."""
        self.load()
        for dummy in range(20):
            obj = self.client.get(self.path)
            if obj is None:
                raise ApiError(404, f"cluster state {self.cluster_id} not found")
            state = json.loads(obj["data"]["state.json"])
            change(state)
            obj["data"]["state.json"] = json.dumps(state)
            try:
                self.client.request("PUT", self.path, obj)
                return state
            except ApiError as exc:
                if exc.status != 409:
                    raise
                time.sleep(0.2)
        raise ApiError(409, "too many conflicts updating the cluster state")

    def delete(self) -> None:
        self.client.delete(self.path)


def pending_state_file() -> Path:
    return common.snap_data() / "var/sciplat-standin/initial-state.json"


def departed_marker() -> Path:
    """Present on a node that left its cluster with `microk8s leave` and has not joined another.

    Such a node runs a one-node cluster of its own, whose API server this stand-in does not simulate:
    the shared API server is the cluster the node left, where a real kubelet of that node no longer
    registers. Fresh installs keep registering there (the tests look at their Nodes)."""
    return common.snap_data() / "var/sciplat-standin/departed"


def start_new_cluster(minor: int, addons_state: dict) -> SharedState:
    """Make this node a one-member cluster (fresh install, or after `microk8s leave`).

    The state is also kept locally so that it can be published later when the API server
    was not reachable at install time."""
    cluster_id = secrets.token_hex(6)
    cluster_id_file().parent.mkdir(parents=True, exist_ok=True)
    cluster_id_file().write_text(cluster_id)
    state = new_state(minor, addons_state)
    write_backend(state["members"])
    common.write_json(pending_state_file(), {"cluster_id": cluster_id, "state": state})
    shared = SharedState(cluster_id)
    shared.create(state)
    return shared


def remove_member(state: dict, hostname: str | None = None, address: str | None = None) -> None:
    def match(entry: dict) -> bool:
        return entry["hostname"] == hostname or entry["address"].split(":")[0] == address
    state["members"] = [m for m in state["members"] if not match(m)]
    state["workers"] = [w for w in state["workers"] if not match(w)]
    assign_roles(state["members"])


# ---------------------------------------------------------------- cluster agent

class JoinRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def handle_join(request: dict, peer_ip: str) -> dict:
    """The cluster agent's decision on a join request; raises JoinRefused with the HTTP status."""
    minor = common.installed_minor()
    if not consume_token(str(request.get("token", ""))):
        raise JoinRefused(500, "invalid token")
    if not common.has_lock("ha-cluster"):
        raise JoinRefused(501, "the cluster is not HA-capable (dqlite is not running)")
    if int(request.get("port", common.AGENT_PORT)) != common.AGENT_PORT:
        raise JoinRefused(502, f"the joining node's cluster agent port must be {common.AGENT_PORT}")
    my_ips = common.ips()[1]
    if peer_ip in my_ips:
        raise JoinRefused(503, f"the joining node ({peer_ip}) has the same IP address as the control plane")
    hostname = str(request.get("hostname", "")).lower()
    worker = bool(request.get("worker"))
    shared = SharedState.for_this_node()
    state = shared.load()
    address = f"{peer_ip}:{common.DQLITE_PORT}"
    if not worker and any(m["address"] == address or m["hostname"] == hostname for m in state["members"]):
        if minor <= 28:
            raise JoinRefused(504, f"node {address} is already known to dqlite")
        raise JoinRefused(500, f"Failed to retrieve dqlite cluster nodes: node {address} "
                               "is already known to dqlite")

    def add(s: dict) -> None:
        remove_member(s, hostname=hostname, address=peer_ip)
        if worker:
            s["workers"].append({"hostname": hostname, "address": peer_ip})
        else:
            s["members"].append({"hostname": hostname, "address": address, "id": dqlite_id(),
                                 "role": "voter"})
            assign_roles(s["members"])

    state = shared.update(add)
    voters = [member["address"] for member in state["members"] if member["role"] == "voter"]
    return {"cluster_id": shared.cluster_id, "voters": voters,
            "members": state["members"], "hostname_override": peer_ip, "apiport": "16443",
            "ca_key": None if worker else "(test double: no CA key)"}


class _AgentHandler(http.server.BaseHTTPRequestHandler):
    server_version = "sciplat-standin-cluster-agent"

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path != JOIN_PATH:
            self._reply(404, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            self._reply(200, handle_join(request, self.client_address[0]))
        except JoinRefused as exc:
            self._reply(exc.status, {"error": str(exc)})
        except (ApiError, ValueError, OSError) as exc:
            self._reply(500, {"error": f"join failed: {exc}"})

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write("cluster-agent: " + fmt % args + "\n")


def serve_agent() -> None:
    """Entry point of snap.microk8s.daemon-cluster-agent (a systemd service in the container)."""
    from . import launcher  # the agent also applies run-time launch configurations

    ensure_own_node()
    threading.Thread(target=launcher.watch, daemon=True).start()
    threading.Thread(target=register_when_due, daemon=True).start()
    crt, key = cert_files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    server = http.server.ThreadingHTTPServer(("0.0.0.0", common.AGENT_PORT), _AgentHandler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def ensure_own_node() -> None:
    """What a starting kubelet does: register this node's Node object if it is missing."""
    if departed_marker().exists() or registration_pending():
        return
    ip = common.ips()[0]
    worker = common.has_lock("clustered.lock")
    for dummy in range(30):
        try:
            client = Client()
            if client.get(f"/api/v1/nodes/{common.hostname()}") is None:
                register_node(client, common.hostname(), ip, worker)
            if not worker:
                SharedState.for_this_node().load()
            return
        except (ApiError, OSError):
            time.sleep(2)


# ---------------------------------------------------------------- the joined node's kubelet

# Upstream, `microk8s join` returns once the joining node's services restart; its kubelet registers
# the Node with the joined cluster later ("The node has joined the cluster and will appear in the
# nodes list in a few seconds", MK scripts/wrappers/join.py:738). Seconds on a test node, up to a
# minute on a loaded machine; a test sets its own delay in registration_delay_file().
DEFAULT_REGISTRATION_DELAY = 5.0


def registration_delay_file() -> Path:
    """Test-only: seconds between a join and the registration of the joined node's Node."""
    return common.path("/etc/sciplat-standin/node-registration-delay")


def registration_file() -> Path:
    """Present while a joined node's kubelet has not registered its Node yet; holds when it will."""
    return common.snap_data() / "var/sciplat-standin/node-registers-at"


def registration_delay() -> float:
    try:
        return float(registration_delay_file().read_text().strip())
    except (OSError, ValueError):
        return DEFAULT_REGISTRATION_DELAY


def registration_pending() -> bool:
    return registration_file().exists()


def register_when_due() -> None:
    """The kubelet's late registration after a join (runs in the agent service, which outlives `join`)."""
    while True:
        try:
            due = float(registration_file().read_text())
        except (OSError, ValueError):
            due = None
        if due is not None and time.time() >= due:
            try:
                register_node(Client(), common.hostname(), common.ips()[0], common.has_lock("clustered.lock"))
                registration_file().unlink(missing_ok=True)
            except (ApiError, OSError):
                pass
        time.sleep(1)


# ---------------------------------------------------------------- join client

def parse_connection(connection: str, minor: int) -> tuple[str, int, str, str | None]:
    """Split `<ip>:<port>/<token>[/<fingerprint>]`; exit 1 with "Invalid connection" (>= 1.29)."""
    parts = connection.split("/")
    if len(parts) < 2 or ":" not in parts[0]:
        _invalid(f"expected <address>:<port>/<token>[/<fingerprint>], got {connection}")
    host, dummy, port = parts[0].rpartition(":")
    token = parts[1]
    check = parts[2] if len(parts) > 2 else None
    if minor >= 29:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
        except OSError:
            _invalid(f"{host} is not an IP address")
        if len(token) < TOKEN_MIN_LEN:
            _invalid(f"the token must be at least {TOKEN_MIN_LEN} characters long")
        if check is not None and len(check) < FINGERPRINT_MIN_LEN:
            _invalid(f"the fingerprint must be at least {FINGERPRINT_MIN_LEN} characters long")
    if not port.isdigit():
        _invalid(f"{port} is not a port number")
    return host, int(port), token, check


def _invalid(detail: str) -> None:
    common.out(f"Invalid connection: {detail}")
    sys.exit(1)


def request_join(host: str, port: int, token: str, check: str | None, verify: bool, worker: bool) -> dict:
    """POST the join request like microk8s's join.py (same messages and exit codes)."""
    context = ssl._create_unverified_context()  # noqa: SLF001 - microk8s checks the fingerprint itself
    try:
        # No timeout and no handler for OSError, as join.py:158-159 and :182-187: a refused, unroutable
        # or silently dropped connection ends in a Python traceback (exit 1), after the kernel's SYN
        # retries (about 127 s) for a dropped one.
        conn = http.client.HTTPSConnection(host, port, context=context)
        conn.connect()
        if verify and check:
            if len(check) < FINGERPRINT_MIN_LEN:
                common.out("Joining cluster failed. Fingerprint too short."
                           " Use '--skip-verify' to skip server certificate check.")
                sys.exit(4)
            peer = hashlib.sha256(conn.sock.getpeercert(True)).hexdigest()
            if not peer.startswith(check):
                common.out(f"Joining cluster failed. Could not verify the identity of {host}."
                           " Use '--skip-verify' to skip server certificate check.")
                sys.exit(4)
        body = json.dumps({"token": token, "hostname": common.hostname(), "port": common.AGENT_PORT,
                           "worker": worker})
        conn.request("POST", JOIN_PATH, body, {"Content-type": "application/json",
                                               "Accept": "application/json"})
        response = conn.getresponse()
        raw = response.read().decode()
        if response.status != 200:
            message = "Connection failed."
            try:
                message = f"{message} {json.loads(raw)['error']}"
            except (ValueError, KeyError):
                pass
            common.out(f"{message} ({response.status}).")
            sys.exit(6)
        return json.loads(raw)
    except http.client.HTTPException as exc:
        common.out(f"Connecting to cluster failed with {exc}.")
        sys.exit(5)
    except ssl.SSLError as exc:
        common.out(f"Peer node verification failed with {exc}.")
        sys.exit(4)


def adopt_cluster(info: dict, worker: bool) -> None:
    """The joining node's side: forget its own one-node cluster and record the joined one."""
    common.set_marker(departed_marker(), False)
    old = SharedState.for_this_node() if cluster_id_file().exists() else None
    if old and old.cluster_id != info["cluster_id"]:
        old.delete()
    cluster_id_file().write_text(info["cluster_id"])
    # The shared API server's Node of this host stands for its Node in its own one-node cluster; the
    # joined cluster has none until the kubelet registers (register_when_due).
    registration_file().parent.mkdir(parents=True, exist_ok=True)
    registration_file().write_text(str(time.time() + registration_delay()))
    Client().delete(f"/api/v1/nodes/{common.hostname()}")
    if worker:
        for name in ("clustered.lock", "no-k8s-dqlite"):
            common.set_lock(name)
        (backend_dir() / "cluster.yaml").unlink(missing_ok=True)
    else:
        write_backend(info["members"])
    common.set_lock("no-cert-reissue")
