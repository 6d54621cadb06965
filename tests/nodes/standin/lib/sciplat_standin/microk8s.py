"""TEST DOUBLE of the `microk8s` command (the snap's wrapper scripts). NOT microk8s.

Follows the command-line behaviour documented in the project's reference (status, add-node,
join, leave, remove-node, enable/disable, config, kubectl, helm/helm3, version, start/stop);
Kubernetes itself is the test harness's real API server. See tests/nodes/README.md."""
from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys

import yaml

from . import addons, cluster, common, kube

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
STOPPED = "microk8s is not running, try microk8s start"
AGENT_UNIT = "snap.microk8s.daemon-cluster-agent.service"


def client_config() -> str:
    return str(common.snap_data() / "credentials/client.config")


def is_worker() -> bool:
    return common.has_lock("clustered.lock")


def print_worker_message() -> None:
    common.out("This MicroK8s deployment is acting as a node in a cluster.",
               "Please use the control plane node.")


def control_plane_only(worker_exit: int):
    """microk8s's is_cluster_locked(): on a worker node, print so and exit with `worker_exit`."""
    def wrap(func):
        def run(*args):
            if is_worker():
                print_worker_message()
                return worker_exit
            return func(*args)
        return run
    return wrap


def exit_if_no_permission() -> None:
    if not os.access(client_config(), os.R_OK):
        user = os.environ.get("USER") or str(os.getuid())
        common.out("Insufficient permissions to access MicroK8s.",
                   f"You can either try again with sudo or add the user {user} to the 'microk8s' group:",
                   "", f"    sudo usermod -a -G microk8s {user}", "    sudo chown -R $USER ~/.kube", "",
                   "After this, reload the user groups either via a reboot or by running 'newgrp microk8s'.")
        sys.exit(1)


def ensure_started() -> None:
    if common.has_lock("stopped.lock"):
        common.err(STOPPED)
        sys.exit(1)


# ---------------------------------------------------------------- readiness and status

def is_ready() -> bool:
    """Ready when the API server answers and this node's Node is Ready (kwok makes it so)."""
    if common.has_lock("stopped.lock"):
        return False
    if cluster.departed_marker().exists():
        return True  # its own one-node cluster, not simulated (cluster.departed_marker)
    try:
        client = kube.Client(client_config(), timeout=5)
        node = client.get(f"/api/v1/nodes/{common.hostname()}")
        if node is None and cluster.registration_pending():
            # Upstream readiness is "service/kubernetes exists and ANY node is Ready" (MK
            # scripts/wrappers/common/utils.py:82-88), so a joined control plane is ready before
            # its own kubelet has registered (cluster.register_when_due).
            members = cluster.SharedState.for_this_node().load()["members"]
            return any(kube.node_ready(client.get(f"/api/v1/nodes/{member['hostname']}")) for member in members)
        if node is None:
            # a kubelet re-registers its Node when it has been deleted
            ip = common.ips()[0]
            kube.register_node(client, common.hostname(), ip, is_worker())
            return False
        return kube.node_ready(node)
    except (kube.ApiError, OSError):
        return False


class DqliteQueryFailed(Exception):
    """The `dqlite ... .cluster` query of this node failed (a CalledProcessError upstream)."""


def dqlite_unavailable_file():
    """Test-only fault: while it exists, this node's dqlite queries fail, as on a lost quorum, a
    two-voter cluster with one voter down or an overloaded disk. It may hold a number: that many more
    queries fail, then it is removed (a datastore that answers again after a leader election)."""
    return common.snap_data() / "var/sciplat-standin/dqlite-unavailable"


def query_dqlite(shared: cluster.SharedState) -> list[dict]:
    """The members as `dqlite -f json k8s .cluster` lists them; raises DqliteQueryFailed under the fault."""
    marker = dqlite_unavailable_file()
    if marker.exists():
        left = marker.read_text().strip()
        if left.isdigit():
            if int(left) <= 1:
                marker.unlink()
            else:
                marker.write_text(str(int(left) - 1))
        raise DqliteQueryFailed("dqlite did not answer")
    return shared.load()["members"]


def dqlite_members() -> list[dict]:
    """high-availability.nodes of status. Upstream get_dqlite_info answers [] when its query failed ten
    times (MK scripts/wrappers/common/utils.py:105-128), and status then prints `nodes:` alone."""
    try:
        members = query_dqlite(cluster.SharedState.for_this_node())
        cluster.write_backend(members)
        return members
    except DqliteQueryFailed:
        return []
    except (kube.ApiError, OSError, KeyError):
        return cluster.read_backend()


def render_yaml(running: bool, ha_enabled: bool, members: list[dict], enabled: list, disabled: list) -> str:
    """`microk8s status --format yaml`: microk8s, high-availability, addons, in that order."""
    lines = ["microk8s:", f"  running: {running}"]
    lines += ["high-availability:", f"  enabled: {ha_enabled}"]
    if ha_enabled:
        lines.append("  nodes:")
        for member in members:
            lines += [f"    - address: {member['address']}", f"      role: {member['role']}"]
    if not running:
        # After the high-availability block, at its indentation (MK scripts/wrappers/status.py print_yaml).
        lines.append(f"  message: {NOT_RUNNING}")
    if running:
        lines.append("addons:")
        for status, group in (("enabled", enabled), ("disabled", disabled)):
            for addon in group:
                lines += [f"  - name: {addon.name}", f"    repository: {addon.repository}",
                          f"    description: {addon.description}", f"    version: {addon.version}",
                          f"    status: {status}"]
    return "\n".join(lines)


def render_pretty(running: bool, ha_enabled: bool, members: list[dict], enabled: list, disabled: list) -> str:
    if not running:
        return NOT_RUNNING
    voters = [m["address"] for m in members if m["role"] == "voter"]
    standby = [m["address"] for m in members if m["role"] == "standby"]
    lines = ["microk8s is running",
             f"high-availability: {'yes' if ha_enabled and len(voters) > 2 else 'no'}"]
    if ha_enabled:
        lines += [f"  datastore master nodes: {' '.join(voters) or 'none'}",
                  f"  datastore standby nodes: {' '.join(standby) or 'none'}"]
    lines.append("addons:")
    for status, group in (("enabled", enabled), ("disabled", disabled)):
        if group:
            lines.append(f"  {status}:")
            lines += [f"    {a.name:<20} # ({a.repository}) {a.description}" for a in group]
    return "\n".join(lines)


def render_short(running: bool, enabled: list, disabled: list) -> str:
    if not running:
        return NOT_RUNNING
    return "\n".join(["microk8s is running", "addons:"]
                     + [f"{a.repository}/{a.name}: enabled" for a in enabled]
                     + [f"{a.repository}/{a.name}: disabled" for a in disabled])


@control_plane_only(0)
def cmd_status(argv: list[str]) -> int:
    if common.has_lock("stopped.lock"):
        common.out(STOPPED)
        return 0
    exit_if_no_permission()
    parser = argparse.ArgumentParser(prog="microk8s status", description="Microk8s cluster status check.")
    parser.add_argument("--format", default="pretty", choices=("pretty", "yaml", "short"),
                        help="print cluster and addon status, output can be in yaml, pretty or short")
    parser.add_argument("-w", "--wait-ready", action="store_true", help="wait until the cluster is in ready state")
    parser.add_argument("-t", "--timeout", type=int, default=0,
                        help="specify a timeout in seconds when waiting for the cluster to be ready.")
    parser.add_argument("-a", "--addon", default="all", help="check the status of an addon.")
    parser.add_argument("--yaml", action="store_true", help="DEPRECATED, use '--format yaml' instead")
    args = parser.parse_args(argv)

    minor = common.installed_minor()
    running = kube.wait(is_ready, args.timeout, 2) if args.wait_ready else is_ready()
    state_addons = {}
    if running:
        try:
            state_addons = cluster.SharedState.for_this_node().load()["addons"]
        except (kube.ApiError, OSError):
            running = False
    enabled, disabled = addons.split_status(minor, state_addons) if running else ([], [])
    if args.addon != "all":
        common.out("enabled" if any(a.name == args.addon for a in enabled) else "disabled")
    elif args.format == "yaml":
        common.out(render_yaml(running, common.has_lock("ha-cluster"), dqlite_members(), enabled, disabled))
    elif args.format == "short":
        common.out(render_short(running, enabled, disabled))
    else:
        common.out(render_pretty(running, common.has_lock("ha-cluster"), dqlite_members(), enabled, disabled))
    return 1 if args.wait_ready and not running and minor >= 28 else 0


# ---------------------------------------------------------------- clustering

def join_urls(token: str, check: str) -> tuple[str, list[str]]:
    default_ip, all_ips = common.ips()
    return (f"{default_ip}:{common.AGENT_PORT}/{token}/{check}",
            [f"{ip}:{common.AGENT_PORT}/{token}/{check}" for ip in all_ips])


@control_plane_only(1)
def cmd_add_node(argv: list[str]) -> int:
    ensure_started()
    parser = argparse.ArgumentParser(prog="microk8s add-node",
                                     description="Produce a connection string for a node to join the cluster.")
    parser.add_argument("--token-ttl", "-l", type=int, default=-1,
                        help='Specify how long the token is valid, before it expires. Value of "-1" indicates '
                             "that the token is usable only once (i.e. after joining a node, the token becomes "
                             "invalid)")
    parser.add_argument("--token", "-t", help="Specify the bootstrap token to add, must be 32 characters long. "
                                              "Auto generates when empty.")
    parser.add_argument("--format", default="pretty",
                        choices=("pretty", "short", "token", "token-check", "json", "yaml"),
                        help="Format the output of the token in pretty, short, token, or token-check")
    args = parser.parse_args(argv)
    token = args.token if args.token is not None else secrets.token_hex(16)
    if len(token) < cluster.TOKEN_MIN_LEN:
        common.out("Invalid token size.  It must be 32 characters long.")
        return 1
    cluster.add_token(token, args.token_ttl)
    check = cluster.fingerprint()
    default_url, urls = join_urls(token, check)
    info = {"token": f"{token}/{check}", "urls": urls}
    if args.format == "json":
        common.out(json.dumps(info, indent=2))
    elif args.format == "yaml":
        common.out(yaml.dump(info, indent=2))
    elif args.format == "token":
        common.out(token)
    elif args.format == "token-check":
        common.out(f"{token}/{check}")
    elif args.format == "short":
        common.out(f"microk8s join {default_url}", *[f"microk8s join {u}" for u in urls if u != default_url])
    else:
        common.out("From the node you wish to join to this cluster, run the following:",
                   f"microk8s join {default_url}", "",
                   "Use the '--worker' flag to join a node as a worker not running the control plane, eg:",
                   f"microk8s join {default_url} --worker", "",
                   "If the node you are adding is not reachable through the default interface you can use "
                   "one of the following:", *[f"microk8s join {u}" for u in urls])
    return 0


def cmd_join(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="microk8s join", description="Join the node to a cluster")
    parser.add_argument("connection")
    parser.add_argument("--worker", action="store_true", help="Join as a worker only node.")
    parser.add_argument("--controlplane", action="store_true",
                        help="Join running the control plane on HA clusters. (default)")
    parser.add_argument("--skip-verify", action="store_true",
                        help="Skip the certificate verification of the node we are joining to.")
    parser.add_argument("--disable-low-memory-guard", action="store_true", help="Disable the low memory guard.")
    args = parser.parse_args(argv)
    minor = common.installed_minor()
    host, port, token, check = cluster.parse_connection(args.connection, minor)
    common.set_lock("join-in-progress")
    common.out(f"Contacting cluster at {host}")
    info = cluster.request_join(host, port, token, check, not args.skip_verify, args.worker)
    cluster.adopt_cluster(info, args.worker)
    if args.worker:
        common.out("", "The node has joined the cluster and will appear in the nodes list in a few seconds.", "",
                   "This worker node gets automatically configured with the API server endpoints.",
                   "If the API servers are behind a loadbalancer please set the '--refresh-interval' to '0s' in:",
                   "    /var/snap/microk8s/current/args/apiserver-proxy",
                   "and replace the API server endpoints with the one provided by the loadbalancer in:",
                   "    /var/snap/microk8s/current/args/traefik/provider.yaml", "")
    else:
        common.out("Waiting for this node to finish joining the cluster. .. ")
    common.set_lock("join-in-progress", False)
    if minor >= 29:
        common.out("Successfully joined the cluster.")
    return 0


def cmd_leave(argv: list[str]) -> int:
    if not common.has_lock("no-cert-reissue"):
        common.out("This MicroK8s deployment is not acting as a node in a cluster.")
        return 1
    ensure_started()
    shared = cluster.SharedState.for_this_node()
    me = common.hostname()
    worker = is_worker()
    state = shared.load()
    voters = [m for m in state["members"] if m["role"] == "voter"]
    others = [m for m in state["members"] if m["hostname"] != me] + state["workers"]
    if not worker and [v["hostname"] for v in voters] == [me] and others:
        common.out("This node is the only voter of the cluster and other nodes depend on it.",
                   "Remove the other nodes first or add more control plane nodes.")
        return 3
    ip = common.ips()[0]
    shared.update(lambda s: cluster.remove_member(s, hostname=me, address=ip))
    for name in ("clustered.lock", "no-k8s-dqlite", "no-cert-reissue"):
        common.set_lock(name, False)
    common.out("Generating new cluster certificates.", "Waiting for node to start. ")
    common.set_marker(cluster.departed_marker())
    cluster.start_new_cluster(common.installed_minor(), addons.initial_state(common.installed_minor()))
    return 0


class _NoSuchNode(Exception):
    """`microk8s kubectl get no NAME` failed (a CalledProcessError upstream)."""


def _internal_ip(node: dict) -> str | None:
    return next((a["address"] for a in node.get("status", {}).get("addresses", []) or []
                 if a.get("type") == "InternalIP"), None)


def _other_endpoints(members: list[dict]) -> list[str]:
    """get_dqlite_endpoints' other_ep: the dqlite addresses that are not on one of this node's IPs."""
    mine = common.ips()[1]
    return [m["address"] for m in members if not any(m["address"].startswith(f"{ip}:") for ip in mine)]


def _drop_endpoint(endpoint: str):
    def change(state: dict) -> None:
        state["members"] = [m for m in state["members"] if m["address"] != endpoint]
        cluster.assign_roles(state["members"])
    return change


@control_plane_only(1)
def cmd_remove_node(argv: list[str]) -> int:
    """MK scripts/wrappers/remove_node.py remove_dqlite_node (:26-96) on a control plane: an IP is
    turned into the Node's name, the Node must exist and have an InternalIP, and a dqlite entry on
    that IP needs --force. ANY failure of the kubectl or dqlite queries prints "does not exist in
    Kubernetes" (:83-84); with --force the argument is then matched as an IP prefix against the
    dqlite endpoints (:85-93), so a name never matches. Exit 1 either way (:94)."""
    ensure_started()
    parser = argparse.ArgumentParser(prog="microk8s remove-node", description="Remove a node from the cluster")
    parser.add_argument("node", help="Node name or IP address")
    parser.add_argument("--force", action="store_true", help="Force the node removal operation.")
    args = parser.parse_args(argv)
    shared = cluster.SharedState.for_this_node()
    name = args.node
    try:
        if common.is_ip(name):
            for item in shared.client.request("GET", "/api/v1/nodes").get("items", []):
                if _internal_ip(item) == name:
                    name = item["metadata"]["name"]
                    break
        node = shared.client.get(f"/api/v1/nodes/{name}")
        if node is None:
            raise _NoSuchNode(name)
        address = _internal_ip(node)
        if not address:
            common.out(f"Node {name} is not part of the cluster.")
            return 1
        endpoints = [ep for ep in _other_endpoints(query_dqlite(shared)) if ep.startswith(f"{address}:")]
        if endpoints and not args.force:
            common.out(f"Removal failed. Node {name} is registered with dqlite. "
                       "Please, run first 'microk8s leave' on the departing node. ",
                       "If the node is not available anymore and will never attempt to join the cluster "
                       "in the future use the '--force' flag ",
                       "to unregister the node while removing it.")
            return 1
        for endpoint in endpoints:
            shared.update(_drop_endpoint(endpoint))
    except (_NoSuchNode, DqliteQueryFailed, kube.ApiError, OSError):
        common.out(f"Node {name} does not exist in Kubernetes.")
        if args.force:
            common.out(f"Attempting to remove {name} from dqlite.")
            for endpoint in _other_endpoints(query_dqlite(shared)):
                if endpoint.startswith(f"{name}:"):
                    common.out("Removing node entry found in dqlite.")
                    shared.update(_drop_endpoint(endpoint))
        return 1
    shared.update(lambda s: cluster.remove_member(s, hostname=name, address=address))
    shared.client.delete(f"/api/v1/nodes/{name}")
    return 0


# ---------------------------------------------------------------- tools and lifecycle

def _data(entry: dict, key: str) -> str | None:
    if entry.get(f"{key}-data"):
        return entry[f"{key}-data"]
    if entry.get(key):
        with open(entry[key], "rb") as handle:
            return base64.b64encode(handle.read()).decode()
    return None


def kubeconfig_text() -> str:
    """`microk8s config`: microk8s's names, the REAL API server's address and credentials."""
    cluster_entry, user_entry = kube.current_entries(kube.load_kubeconfig())
    server_entry = {"server": cluster_entry["server"]}
    ca = _data(cluster_entry, "certificate-authority")
    if ca:
        server_entry = {"certificate-authority-data": ca, **server_entry}
    user = {}
    for key in ("client-certificate", "client-key"):
        value = _data(user_entry, key)
        if value:
            user[f"{key}-data"] = value
    if user_entry.get("token"):
        user["token"] = user_entry["token"]
    config = {"apiVersion": "v1",
              "clusters": [{"cluster": server_entry, "name": "microk8s-cluster"}],
              "contexts": [{"context": {"cluster": "microk8s-cluster", "user": "admin"}, "name": "microk8s"}],
              "current-context": "microk8s", "kind": "Config", "preferences": {},
              "users": [{"name": "admin", "user": user}]}
    return yaml.safe_dump(config, sort_keys=False)


def exec_tool(name: str, argv: list[str]) -> int:
    binary = common.tool(name)
    if not os.access(binary, os.X_OK):
        common.err(f"{binary} is missing: the test harness mounts its kubectl/helm at /opt/sciplat-standin/bin "
                   "(sciplat microk8s TEST DOUBLE)")
        return 1
    os.execv(binary, [binary, f"--kubeconfig={client_config()}", *argv])
    return 1


@control_plane_only(0)
def cmd_tool(name: str, argv: list[str]) -> int:
    exit_if_no_permission()
    ensure_started()
    return exec_tool(name, argv)


@control_plane_only(0)
def cmd_config(argv: list[str]) -> int:
    exit_if_no_permission()
    common.out(kubeconfig_text().rstrip("\n"))
    return 0


@control_plane_only(1)
def cmd_xable(action: str, argv: list[str]) -> int:
    exit_if_no_permission()
    ensure_started()
    if not argv:
        common.out(f"Usage: microk8s {action} ADDON...")
        return 1
    kube.wait(is_ready, 30, 2)
    return addons.xable(action, argv)


@control_plane_only(0)
def cmd_lifecycle(start: bool) -> int:
    """`microk8s start|stop`: the stopped.lock and the services (here the cluster agent)."""
    common.set_lock("stopped.lock", not start)
    common.systemctl("start" if start else "stop", AGENT_UNIT)
    common.out("Started." if start else "Stopped.")
    return 0


def cmd_version(argv: list[str]) -> int:
    snap = common.installed_snap()
    common.out(f"MicroK8s {snap['version']} revision {snap['revision']}")
    return 0


COMMANDS = {
    "status": cmd_status, "add-node": cmd_add_node, "join": cmd_join, "leave": cmd_leave,
    "remove-node": cmd_remove_node, "config": cmd_config, "version": cmd_version,
    "start": lambda a: cmd_lifecycle(True), "stop": lambda a: cmd_lifecycle(False),
    "enable": lambda a: cmd_xable("enable", a), "disable": lambda a: cmd_xable("disable", a),
    "kubectl": lambda a: cmd_tool("kubectl", a), "helm": lambda a: cmd_tool("helm", a),
    "helm3": lambda a: cmd_tool("helm", a),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        common.out("Available subcommands are:", *[f"\t{name}" for name in sorted(COMMANDS)])
        return 0
    command = COMMANDS.get(argv[0])
    if argv[0] == "version" and common.installed_minor() < 25:
        # MK branch 1.24 ships no microk8s-version.wrapper: there `version` is no subcommand.
        command = None
    if command is None:
        common.out(f"'{argv[0]}' is not a valid MicroK8s subcommand.", "Available subcommands are:",
                   *[f"\t{name}" for name in sorted(COMMANDS)])
        return 1
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
