# Shared helpers for the project's scripts (sourced, not executed).
# shellcheck shell=bash
set -euo pipefail

SCIPLAT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCIPLAT_CACHE=${SCIPLAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sciplat-k8s}
SCIPLAT_VENV=${SCIPLAT_VENV:-$SCIPLAT_ROOT/.venv}
export SCIPLAT_ROOT SCIPLAT_CACHE SCIPLAT_VENV
# The real upstream charts kept offline (the workplace's shared folder, see tests/upstream/mirror.py): the
# tests and the quickstart read them through the chart mirror. Unset, and without that folder, the roles
# clone their pins from GitHub.
if [ -z "${SCIPLAT_UPSTREAM:-}" ] && [ -d "$SCIPLAT_ROOT/../shared/upstream/git" ]; then
  SCIPLAT_UPSTREAM=$(cd "$SCIPLAT_ROOT/../shared/upstream" && pwd)
fi
export SCIPLAT_UPSTREAM=${SCIPLAT_UPSTREAM:-}

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages the test environment needs: podman (runc, not crun), etcd for the real
# API server, debootstrap for node images, openssl for the cluster's certificates.
SCIPLAT_APT_PACKAGES=(podman runc conmon netavark aardvark-dns containernetworking-plugins
  slirp4netns uidmap fuse-overlayfs etcd-server debootstrap openssl git rsync iproute2 shellcheck)

ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "${SCIPLAT_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # etcd-server starts a system etcd on 2379; the test cluster runs its own on other ports.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    "${sudo[@]}" systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
}

ensure_venv() {
  local stamp="$SCIPLAT_VENV/.requirements.sha256"
  local want
  want=$(cat "$SCIPLAT_ROOT/requirements.txt" "$SCIPLAT_ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  step "creating Python venv in $SCIPLAT_VENV"
  python3 -m venv "$SCIPLAT_VENV"
  "$SCIPLAT_VENV/bin/pip" install -q --upgrade pip
  "$SCIPLAT_VENV/bin/pip" install -q -r "$SCIPLAT_ROOT/requirements-dev.txt"
  echo "$want" > "$stamp"
}

# mipdb, the dataset checker's oracle in the unit tests, in a venv of its own (requirements-mipdb.txt says why),
# named after its version so that the tests find it: $SCIPLAT_CACHE/mipdb-<version>. Made by setup.sh and the
# units stage, not by the quickstart, which runs no unit test.
ensure_mipdb_venv() {
  local requirements="$SCIPLAT_ROOT/requirements-mipdb.txt"
  local version venv want
  version=$(sed -n 's/^mipdb==//p' "$requirements")
  venv="$SCIPLAT_CACHE/mipdb-$version"
  want=$(sha256sum < "$requirements" | cut -d' ' -f1)
  if [ -f "$venv/.requirements.sha256" ] && [ "$(cat "$venv/.requirements.sha256")" = "$want" ]; then
    return 0
  fi
  step "creating the mipdb $version venv in $venv"
  python3 -m venv --clear "$venv"
  "$venv/bin/pip" install -q -r "$requirements"
  echo "$want" > "$venv/.requirements.sha256"
}

# ansible-test needs the collection at ansible_collections/<namespace>/<name>/.
ensure_collection_link() {
  local tree="$SCIPLAT_CACHE/collections"
  mkdir -p "$tree/ansible_collections/sciplat"
  ln -sfn "$SCIPLAT_ROOT" "$tree/ansible_collections/sciplat/k8s"
  SCIPLAT_COLLECTION_DIR="$tree/ansible_collections/sciplat/k8s"
  export SCIPLAT_COLLECTION_DIR
  export ANSIBLE_COLLECTIONS_PATH="$tree:$SCIPLAT_VENV/lib/python3.11/site-packages"
}

# SCIPLAT_CHART_MIRROR (the sciplat_chart_mirror of the test inventories, as JSON) and the assembled MIP chart.
ensure_chart_mirror() {
  [ -n "$SCIPLAT_UPSTREAM" ] && step "offline chart mirror from $SCIPLAT_UPSTREAM"
  eval "$(python "$SCIPLAT_ROOT/tests/upstream/mirror.py" env)"
}

activate() {
  # shellcheck disable=SC1091
  source "$SCIPLAT_VENV/bin/activate"
  ensure_collection_link
}
