#!/usr/bin/env bash
# Installs everything the project needs on this machine: Debian packages, the Python venv,
# and the collection link for ansible-test. Safe to run again: each step checks first.
source "$(dirname "$0")/lib.sh"
ensure_apt_packages
ensure_venv
ensure_mipdb_venv
activate
step "setup done (venv: $SCIPLAT_VENV, collection: $SCIPLAT_COLLECTION_DIR)"
