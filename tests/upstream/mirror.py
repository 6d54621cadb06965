"""The offline chart mirror the tests, the quickstart and CI use (test-only, never shipped).

The real upstream charts and operator these tests deploy are kept outside the repository, in the folder
that SCIPLAT_UPSTREAM names (the workplace's `../shared/upstream`, see its README): bare git repositories
holding the exact pinned commits, exported chart folders and a chart repository. This module turns that
folder into the mirror settings users of an air-gapped site write themselves (`sciplat_chart_mirror`,
see docs/mirror.md): git URL rewrites, folders for `<repository>@<commit>`, chart repository rewrites.

Two things it does because of how that folder is stored, not because users need them:
- the bare repositories lost their empty `refs/` folders when they were copied, and git does not take a
  folder without one as a repository, so each is copied into the cache with `refs/heads` and `refs/tags`
  made again (keyed by the content of the originals, so a warm run copies nothing);
- the chart repository is a folder, so it is served on 127.0.0.1 by a small HTTP server started in the
  background (its archive URLs still name the real host, which is what the mirror's rewrite handles).

Usage: python tests/upstream/mirror.py build|serve|stop|env
  env prints `export SCIPLAT_CHART_MIRROR='<json>'` (empty when SCIPLAT_UPSTREAM is not set: GitHub is used).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CACHE = Path(os.environ.get("SCIPLAT_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sciplat-k8s")
MIRROR_CACHE = CACHE / "upstream-mirror"
SERVER_STATE = CACHE / "run" / "chart-repos"
# Fixed, like the test cluster's ports: one mirror server per machine, shared by concurrent sessions.
SERVER_PORT = int(os.environ.get("SCIPLAT_CHART_REPO_PORT", "18879"))

# Upstream repository URL (as the roles pin it) -> bare repository in the upstream folder.
GIT_REPOSITORIES = {
    "https://github.com/cytomine/cytomine-helm.git": "git/cytomine-helm.git",
    "https://github.com/CERIT-SC/scipion-helm-charts.git": "git/scipion-helm-charts.git",
    "https://github.com/NERC-CEH/datalab-k8s-manifests.git": "git/datalab-k8s-manifests.git",
    "https://github.com/bag-cnag/cxg_on_k8.git": "git/cxg_on_k8.git",
}
# <repository URL>@<commit> -> a folder holding the repository's files at that commit (only the chart folder
# of Exaflow could be exported: the repository is too large to keep whole).
FOLDERS = {
    "https://github.com/madgik/exaflow.git@ad132e20ea068d8e39fb25153ccf3f34d5450226": "trees/exaflow-ad132e20",
}
# Chart repository URL -> its folder, served on loopback.
CHART_REPOSITORIES = {
    "https://nerc-ceh.github.io/charts": "helm-repos/nerc-ceh",
}
# Not a mirror of any commit: the MIP 9.2 chart assembled from upstream files of several commits (see the
# upstream README). Tests deploy it as a chart folder and say so; the role's pin is not tested by it.
ASSEMBLED_MIP_CHART = "trees/mip-9.2-assembled"


def upstream_dir() -> Path | None:
    """The upstream folder, or None when SCIPLAT_UPSTREAM is not set (then nothing is mirrored)."""
    value = os.environ.get("SCIPLAT_UPSTREAM", "")
    if not value:
        return None
    path = Path(value).resolve()
    if not (path / "git").is_dir():
        raise SystemExit(f"SCIPLAT_UPSTREAM={value} has no git/ folder: point it at the upstream charts folder "
                         "(../shared/upstream) or unset it to clone from GitHub.")
    return path


def _content_key(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def build(upstream: Path) -> Path:
    """The cache copy of every bare repository, with the refs folders git needs; returns the git folder."""
    target = MIRROR_CACHE / _content_key(upstream / "git") / "git"
    if (target / ".complete").exists():
        return target
    staging = target.with_name(f"git.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for relative in GIT_REPOSITORIES.values():
        source = upstream / relative
        copy = staging / source.name
        shutil.copytree(source, copy)
        for folder in [copy, *copy.rglob("*")]:
            folder.chmod(folder.stat().st_mode | 0o200)
        (copy / "refs" / "heads").mkdir(parents=True, exist_ok=True)
        (copy / "refs" / "tags").mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "--git-dir", str(copy), "rev-parse", "--verify", "main^{commit}"], check=True,
                       capture_output=True)
    (staging / ".complete").write_text("")
    try:
        staging.rename(target)
    except OSError:  # another session finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _server_url() -> str:
    return f"http://127.0.0.1:{SERVER_PORT}"


def _serving(upstream: Path) -> bool:
    try:
        with urllib.request.urlopen(f"{_server_url()}/nerc-ceh/index.yaml", timeout=2) as answer:
            return answer.status == 200 and (SERVER_STATE / "root").read_text() == str(upstream / "helm-repos")
    except (OSError, ValueError):
        return False


def serve(upstream: Path) -> None:
    """Serve the chart repositories on 127.0.0.1 (no-op when this folder is already served)."""
    if _serving(upstream):
        return
    stop()
    SERVER_STATE.mkdir(parents=True, exist_ok=True)
    log = open(SERVER_STATE / "server.log", "ab")  # pylint: disable=consider-using-with
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(upstream / "helm-repos"),
         str(SERVER_PORT)], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    (SERVER_STATE / "pid").write_text(str(process.pid))
    (SERVER_STATE / "root").write_text(str(upstream / "helm-repos"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the chart repository server exited: see {SERVER_STATE / 'server.log'}")
        if _serving(upstream):
            return
        time.sleep(0.2)
    raise SystemExit(f"the chart repository server did not answer on {_server_url()}")


def stop() -> None:
    pid_file = SERVER_STATE / "pid"
    if pid_file.exists():
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        pid_file.unlink()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", SERVER_PORT)) == 0:
            raise SystemExit(f"port {SERVER_PORT} is taken by another process: set SCIPLAT_CHART_REPO_PORT")


def chart_mirror() -> dict:
    """`sciplat_chart_mirror` for the upstream folder (built and served), or {} without one."""
    upstream = upstream_dir()
    if upstream is None:
        return {}
    git = build(upstream)
    serve(upstream)
    return {
        "git": {url: f"file://{git / Path(relative).name}" for url, relative in GIT_REPOSITORIES.items()},
        "folders": {pin: str(upstream / relative) for pin, relative in FOLDERS.items()},
        "chart_repos": {url: f"{_server_url()}/{Path(relative).name}" for url, relative in CHART_REPOSITORIES.items()},
    }


def pinned_chart(repo: str, commit: str, subpath: str) -> Path:
    """The chart folder of a pin as the roles get it: the mirror's folder for it, else a clone (through the
    mirror's git rewrites, or from the repository itself) kept in the cache."""
    mirror = chart_mirror()
    folder = mirror.get("folders", {}).get(f"{repo}@{commit}")
    if folder:
        return Path(folder) / subpath
    url = repo
    for prefix in sorted(mirror.get("git", {}), key=len, reverse=True):
        if repo.startswith(prefix):
            url = mirror["git"][prefix] + repo[len(prefix):]
            break
    checkout = MIRROR_CACHE / "checkouts" / f"{Path(repo).stem}-{commit}"
    if not (checkout / ".git").is_dir():
        staging = checkout.with_name(f"{checkout.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "--no-checkout", url, str(staging)], check=True)
        subprocess.run(["git", "-C", str(staging), "checkout", "-q", commit], check=True)
        shutil.rmtree(checkout, ignore_errors=True)
        staging.rename(checkout)
    return checkout / subpath


def assembled_mip_chart() -> Path:
    upstream = upstream_dir()
    if upstream is None:
        raise SystemExit("SCIPLAT_UPSTREAM is not set: the assembled MIP 9.2 chart lives in the upstream folder")
    return upstream / ASSEMBLED_MIP_CHART


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "serve", "stop", "env"])
    command = parser.parse_args().command
    if command == "stop":
        stop()
        return
    upstream = upstream_dir()
    if command == "env":
        mirror = chart_mirror()
        print(f"export SCIPLAT_CHART_MIRROR='{json.dumps(mirror, sort_keys=True)}'")
        if upstream is not None:
            print(f"export SCIPLAT_MIP_ASSEMBLED_CHART='{assembled_mip_chart()}'")
        return
    if upstream is None:
        raise SystemExit("SCIPLAT_UPSTREAM is not set: there is nothing to mirror")
    if command == "build":
        print(build(upstream))
    else:
        serve(upstream)


if __name__ == "__main__":
    main()
