"""TEST DOUBLE of the `snap` command (snapd) that knows one snap: microk8s. NOT snapd.

Installed by the test-only `snapd` Debian package so that `apt: name=snapd` finds it and never
pulls the real snapd. The snapd version it models is DEFAULT_SNAPD_VERSION unless the test writes
another one to /etc/sciplat-standin/snapd-version (e.g. 2.57 to test the "hold unsupported" path)."""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import addons, cluster, common, launcher

SUMMARY = "Kubernetes for workstations and appliances"
SNAP_ID = "EaXqgt1lyCaxKaQCU349mlodBkDCXRcg"
COMMANDS = ("add-node", "config", "ctr", "dashboard-proxy", "dbctl", "disable", "enable", "helm", "helm3",
            "images", "inspect", "istioctl", "join", "kubectl", "leave", "linkerd", "refresh-certs",
            "remove-node", "reset", "start", "status", "stop", "version")
AGENT_UNIT = "snap.microk8s.daemon-cluster-agent.service"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s)$")
# snapd states a test sets, each lasting the seconds written in the file, counted from its
# modification time: `snapd-unseeded` holds "<seconds>", `snapd-change` "<change kind> <seconds>".
UNSEEDED_FILE = "/etc/sciplat-standin/snapd-unseeded"
CHANGE_FILE = "/etc/sciplat-standin/snapd-change"
# snapd exits 10 for the errors its client calls retryable, the change conflicts (snapd
# cmd/snapd/cli/main.go exitCodeFromError:461-462, client/client.go IsRetryable).
RETRYABLE_EXIT = 10


def state() -> dict:
    return common.read_json(common.snapd_state_file(), {"snaps": {}})


def save(data: dict) -> None:
    common.write_json(common.snapd_state_file(), data)


def snapd_at_least(version: str) -> bool:
    return common.version_tuple(common.snapd_version()) >= common.version_tuple(version)


def _lasting(file: str) -> list[str] | None:
    """The words of a test-set state file while its time lasts, else None."""
    target = common.path(file)
    try:
        words = target.read_text().split()
        started = target.stat().st_mtime
    except OSError:
        return None
    if not words or time.time() >= started + float(words[-1]):
        return None
    return words[:-1]


def seeded() -> bool:
    return _lasting(UNSEEDED_FILE) is None


def _conflict(name: str) -> str | None:
    """snapd's ChangeConflictError text for a change of `name`, None when snapd would accept it."""
    if not seeded():
        # overlord/snapstate/devicectx.go DeviceCtxFromState:105-111
        return "too early for operation, device not yet seeded or device model not acknowledged"
    change = _lasting(CHANGE_FILE)
    if change is not None:
        # overlord/snapstate/conflict.go ChangeConflictError.Error:48-56, raised by
        # CheckChangeConflictMany for a change of another kind on the same snap
        return f'snap "{name}" has "{change[0] if change else "refresh-snap"}" change in progress'
    return None


def _refuse_conflict(name: str) -> bool:
    """Print snapd's error for a conflicting change (cmd/snapd/cli/main.go:537, error.go:42)."""
    message = _conflict(name)
    if message is not None:
        common.err(f"error: {message}")
    return message is not None


def _channel_name(track: str, risk: str) -> str:
    return f"{track}/{risk}"


def _fmt_time(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    if moment.date() == dt.datetime.now(dt.timezone.utc).date():
        return moment.strftime("today at %H:%M UTC")
    return moment.strftime("%Y-%m-%d")


def _hold_text(hold) -> str:
    if hold == "forever":
        return "forever"
    return dt.datetime.fromtimestamp(hold, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the microk8s payload

def _payload_install(revision: int, bundled_config: bool) -> None:
    """What installing the microk8s snap leaves on a machine (paths, locks, services).

    `bundled_config`: no user launch configuration was found, so the install hook applies the
    bundled microk8s.default.yaml, which is what enables dns (snap/hooks/install:77-87)."""
    snap_dir = common.path(f"/snap/microk8s/{revision}")
    (snap_dir / "meta").mkdir(parents=True, exist_ok=True)
    (snap_dir / "meta/snap.yaml").write_text("name: microk8s\nconfinement: classic\n"
                                             "# sciplat-standin: TEST DOUBLE payload\n")
    for link, target in ((common.path("/snap/microk8s/current"), str(revision)),
                         (common.path("/var/snap/microk8s/current"), str(revision))):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    common.path(f"/var/snap/microk8s/{revision}").mkdir(parents=True, exist_ok=True)
    bin_dir = common.path("/snap/bin")
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("microk8s",) + tuple(f"microk8s.{c}" for c in COMMANDS):
        (bin_dir / name).unlink(missing_ok=True)
        (bin_dir / name).symlink_to("/usr/bin/snap")
    data, com = common.snap_data(), common.snap_common()
    for sub in ("var/lock", "credentials", "certs", "args", "var/kubernetes/backend"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("var/lib/kubelet", "etc/launcher", "addons/core"):
        (com / sub).mkdir(parents=True, exist_ok=True)
    common.set_lock("ha-cluster")
    for name, lines in (("kubelet", ["--kubeconfig=${SNAP_DATA}/credentials/kubelet.config",
                                     "--root-dir=${SNAP_COMMON}/var/lib/kubelet"]),
                        ("kube-apiserver", ["--secure-port=16443"]), ("kube-proxy", []),
                        ("kube-controller-manager", []), ("kube-scheduler", []), ("containerd", []),
                        ("k8s-dqlite", ["--storage-dir=${SNAP_DATA}/var/kubernetes/backend/"])):
        (data / "args" / name).write_text("".join(f"{line}\n" for line in lines))
    (data / "credentials/cluster-tokens.txt").touch(mode=0o600)
    ip = common.ips()[0]
    cluster.make_certificate(ip)
    if common.on_real_root():
        subprocess.run(["groupadd", "--force", "microk8s"], check=False, capture_output=True)
    config = data / "credentials/client.config"
    from .microk8s import kubeconfig_text
    config.write_text(kubeconfig_text() if Path(common.harness_kubeconfig()).exists() else "")
    config.chmod(0o660)
    if common.on_real_root():
        shutil.chown(config, group="microk8s")
    minor = common.installed_minor()
    try:
        cluster.start_new_cluster(minor, addons.initial_state(minor, bundled_config))
    except (cluster.ApiError, OSError) as exc:
        common.err(f"sciplat-standin: cluster state kept locally until the API server answers ({exc})")
    _install_agent_unit()


def _install_agent_unit() -> None:
    unit = common.path(f"/etc/systemd/system/{AGENT_UNIT}")
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text("[Unit]\nDescription=Service for snap application microk8s.daemon-cluster-agent "
                    "(sciplat TEST DOUBLE)\nAfter=network-online.target\n\n[Service]\n"
                    "Environment=PYTHONPATH=/usr/lib/sciplat-standin\n"
                    "ExecStart=/usr/bin/python3 -m sciplat_standin.agent\nRestart=always\nRestartSec=2\n\n"
                    "[Install]\nWantedBy=multi-user.target\n")
    common.systemctl("daemon-reload")
    common.systemctl("enable", "--now", AGENT_UNIT)


def _payload_remove() -> None:
    common.systemctl("disable", "--now", AGENT_UNIT)
    common.path(f"/etc/systemd/system/{AGENT_UNIT}").unlink(missing_ok=True)
    common.systemctl("daemon-reload")
    try:
        shared = cluster.SharedState.for_this_node()
        if [m["hostname"] for m in shared.load()["members"]] == [common.hostname()]:
            shared.delete()
    except (OSError, KeyError, ValueError, cluster.ApiError):
        pass
    for entry in common.path("/snap/bin").glob("microk8s*"):
        entry.unlink()
    for folder in (common.path("/snap/microk8s"), common.path("/var/snap/microk8s")):
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- commands

def _split_opts(argv: list[str], with_value: set[str]) -> tuple[dict, list[str]]:
    """Go-flags style: `--channel=x`, `--channel x`, boolean flags; the rest are positionals."""
    opts: dict = {}
    rest: list[str] = []
    items = iter(argv)
    for item in items:
        if item.startswith("--"):
            key, eq, value = item[2:].partition("=")
            if key in with_value and not eq:
                value = next(items, "")
            opts[key] = value if (eq or key in with_value) else True
        else:
            rest.append(item)
    return opts, rest


def _channel_from(opts: dict) -> str | None:
    for risk in common.RISKS:
        if opts.get(risk) is True:
            return risk
    return opts.get("channel")


def _unknown_flags(opts: dict, known: set[str]) -> bool:
    for key in opts:
        if key not in known:
            common.err(f"error: unknown flag `{key}'")
            return True
    return False


def cmd_install(argv: list[str]) -> int:
    opts, names = _split_opts(argv, {"channel", "revision"})
    if _unknown_flags(opts, {"channel", "classic", "revision", "dangerous", *common.RISKS}):
        return 1
    if not names:
        common.err("error: the required argument `<snap> (at least 1 argument)` was not provided")
        return 1
    data = state()
    for name in names:
        if name != common.SNAP:
            common.err(f'error: snap "{name}" not found')
            return 1
        if name in data["snaps"]:
            common.err(f'snap "{name}" is already installed, see \'snap help refresh\'')
            continue
        if _refuse_conflict(name):
            return RETRYABLE_EXIT
        channel = _channel_from(opts)
        parsed = common.parse_channel(channel)
        if parsed is None:
            common.err(f'error: snap "{name}" is not available on {channel} but is available to install on '
                       f'the following tracks: {", ".join(sorted(common.TRACKS))}')
            return 1
        if not opts.get("classic"):
            common.err(f'error: This revision of snap "{name}" was published using classic confinement and thus '
                       "may perform arbitrary system changes outside of the security sandbox that snaps are usually "
                       "confined to, which may put your system at risk.", "",
                       "       If you understand and want to proceed repeat the command including --classic.")
            return 1
        config = launcher.install_time_config()
        failure = launcher.pre_init_error(config) if config else None
        if failure:
            # The install hook runs `cluster-agent init --pre-init` under `set -e`, so a launch
            # configuration the agent rejects fails the hook (snap/hooks/install:3,76-83) and
            # snapd undoes the install, reporting the failed task (overlord/state/change.go
            # changeError.Error:579-586, overlord/hookstate/hooks.go:51, hookmgr.go:512).
            common.err("error: cannot perform the following tasks:",
                       f'- Run install hook of "{name}" snap if present (run hook "install": {failure})')
            return 1
        version, revision = common.track_release(parsed[0])
        now = time.time()
        data["snaps"][name] = {"channel": _channel_name(*parsed), "version": f"v{version}",
                               "revision": revision, "installed": now, "refresh_date": now, "hold": None}
        save(data)
        _payload_install(revision, bundled_config=config is None)
        if config:
            launcher.apply(config)
        common.out(f"{name} ({_channel_name(*parsed)}) v{version} from Canonical{chr(0x2713)} installed")
    return 0


def _parse_hold(value) -> float | str | None:
    if value is True or value in ("", "forever"):
        return "forever"
    match = _DURATION.match(str(value))
    if not match:
        return None
    seconds = float(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]
    return time.time() + seconds


def cmd_refresh(argv: list[str]) -> int:
    opts, names = _split_opts(argv, {"channel", "revision"})
    known = {"channel", "classic", "revision", "amend", *common.RISKS}
    if snapd_at_least("2.58"):
        known |= {"hold", "unhold"}
    if _unknown_flags(opts, known):
        return 1
    data = state()
    for name in names:
        if name not in data["snaps"]:
            common.err(f'error: snap "{name}" is not installed')
            return 1
    snaps = [data["snaps"][n] for n in names]
    if "hold" in opts:
        hold = _parse_hold(opts["hold"])
        if hold is None:
            common.err(f'error: hold value must be a number of hours, minutes or seconds, or "forever": '
                       f'{opts["hold"]}')
            return 1
        for snap in snaps:
            snap["hold"] = hold
        save(data)
        quoted = ", ".join(f'"{n}"' for n in names)
        if hold == "forever":
            common.out(f"General refreshes of {quoted} held indefinitely")
        else:
            common.out(f"General refreshes of {quoted} held until {_hold_text(hold)}")
        return 0
    if "unhold" in opts:
        for snap in snaps:
            snap["hold"] = None
        save(data)
        common.out(f"Removed general refresh hold of {', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}")
        return 0
    channel = _channel_from(opts)
    for name, snap in zip(names, snaps):
        if _refuse_conflict(name):
            return RETRYABLE_EXIT
        parsed = common.parse_channel(channel or snap["channel"])
        if parsed is None:
            common.err(f'error: snap "{name}" is not available on {channel}')
            return 1
        new_channel = _channel_name(*parsed)
        version, revision = common.track_release(parsed[0])
        if new_channel == snap["channel"] and snap["revision"] == revision:
            common.err(f'snap "{name}" has no updates available')
            continue
        snap.update(channel=new_channel, version=f"v{version}", revision=revision, refresh_date=time.time())
        save(data)
        _switch_revision(revision)
        common.out(f"{name} ({new_channel}) v{version} from Canonical{chr(0x2713)} refreshed")
    return 0


def _switch_revision(revision: int) -> None:
    """A refresh keeps the data (copied to the new revision) and re-points `current`."""
    current = common.snap_data().resolve()
    target = common.path(f"/var/snap/microk8s/{revision}")
    if current != target and not target.exists():
        shutil.copytree(current, target, symlinks=True)
    for link in (common.path("/snap/microk8s/current"), common.path("/var/snap/microk8s/current")):
        link.unlink(missing_ok=True)
        link.symlink_to(str(revision))
    common.path(f"/snap/microk8s/{revision}/meta").mkdir(parents=True, exist_ok=True)
    common.systemctl("restart", AGENT_UNIT)


def cmd_remove(argv: list[str]) -> int:
    opts, names = _split_opts(argv, {"revision"})
    data = state()
    for name in names:
        if name not in data["snaps"]:
            common.err(f'snap "{name}" is not installed')
            continue
        _payload_remove()
        del data["snaps"][name]
        save(data)
        common.out(f"{name} removed")
    return 0


def _notes(snap: dict) -> str:
    notes = ["classic"]
    if snap.get("hold") and snapd_at_least("2.59"):
        notes.append("held")
    return ",".join(notes)


def cmd_list(argv: list[str]) -> int:
    names = _split_opts(argv, set())[1]
    snaps = state()["snaps"]
    selected = [n for n in (names or sorted(snaps)) if n in snaps]
    if not selected:
        if names:
            common.err("error: no matching snaps installed")
            return 1
        common.err("No snaps are installed yet. Try 'snap install hello-world'.")
        return 0
    rows = [("Name", "Version", "Rev", "Tracking", "Publisher", "Notes")]
    rows += [(n, snaps[n]["version"], str(snaps[n]["revision"]), snaps[n]["channel"], common.PUBLISHER,
              _notes(snaps[n])) for n in selected]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        common.out("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    return 0


def cmd_info(argv: list[str]) -> int:
    names = _split_opts(argv, set())[1]
    snaps = state()["snaps"]
    for index, name in enumerate(names):
        if name != common.SNAP:
            common.err(f'warning: no snap found for "{name}"')
            return 1
        if index:
            common.out("---")
        snap = snaps.get(name)
        lines = [f"name:      {name}", f"summary:   {SUMMARY}", f"publisher: Canonical{chr(0x2713)}",
                 "store-url: https://snapcraft.io/microk8s", "contact:   https://github.com/canonical/microk8s",
                 "license:   Apache-2.0", "description: |",
                 "  TEST DOUBLE of MicroK8s for sciplat.k8s's tests (see tests/nodes/README.md)."]
        if snap:
            lines += ["commands:", *[f"  - microk8s.{c}" for c in COMMANDS if c != "microk8s"], "  - microk8s",
                      "services:", "  microk8s.daemon-cluster-agent: simple, enabled, active"]
        lines.append(f"snap-id:      {SNAP_ID}")
        if snap:
            lines += [f"tracking:     {snap['channel']}", f"refresh-date: {_fmt_time(snap['refresh_date'])}"]
            if snap.get("hold") and snapd_at_least("2.59"):
                lines.append(f"hold:         {_hold_text(snap['hold'])}")
        lines.append("channels:")
        for track in sorted(common.TRACKS, key=common.version_tuple, reverse=True):
            version, revision = common.TRACKS[track]
            for risk in common.RISKS:
                lines.append(f"  {track}/{risk + ':':<11} v{version:<8} ({revision}) 170MB classic")
        if snap:
            lines.append(f"installed:          {snap['version']:<9} ({snap['revision']}) 170MB classic")
        common.out(*lines)
    return 0


def cmd_version(argv: list[str]) -> int:
    common.out(f"snap    {common.snapd_version()}", f"snapd   {common.snapd_version()}", "series  16",
               "ubuntu  22.04", f"kernel  {os.uname().release}")
    return 0


def cmd_wait(argv: list[str]) -> int:
    """`snap wait system seed.loaded`: polls every 0.5 s until true, without a limit
    (cmd/snapd/cli/cmd_wait.go Execute:111-139; snapd sets the flag when seeding is done,
    overlord/devicestate/devicemgr.go:1774-1778). Other keys are not modelled."""
    names = _split_opts(argv, set())[1]
    if len(names) < 2:
        common.err("error: the required argument `<key>` was not provided")
        return 1
    if names[:2] != ["system", "seed.loaded"]:
        common.err(f"error: sciplat TEST DOUBLE: only `snap wait system seed.loaded` is modelled, not {names}")
        return 1
    while not seeded():
        time.sleep(0.5)
    return 0


COMMANDS_SNAP = {"install": cmd_install, "refresh": cmd_refresh, "remove": cmd_remove, "list": cmd_list,
                 "info": cmd_info, "version": cmd_version, "wait": cmd_wait}


def main(argv0: str, argv: list[str]) -> int:
    base = os.path.basename(argv0)
    if base.startswith("microk8s"):
        from . import microk8s
        sub = base.split(".", 1)[1:]
        return microk8s.main(sub + argv)
    if not argv:
        common.out("The snap command lets you install, configure, refresh and remove snaps.",
                   "(sciplat TEST DOUBLE: install, refresh, remove, list, info, version, wait)")
        return 0
    command = COMMANDS_SNAP.get(argv[0])
    if command is None:
        common.err(f'error: unknown command "{argv[0]}", see \'snap help\'.')
        return 1
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[0], sys.argv[1:]))
