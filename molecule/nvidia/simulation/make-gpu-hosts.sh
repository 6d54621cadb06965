#!/usr/bin/env bash
# SIMULATION of GPU hosts (test-only), see README.md. Writes the sysfs-shaped trees that molecule.yml
# bind-mounts over /sys/bus/pci/devices and /sys/module of the node containers.
#   make-gpu-hosts.sh OUTPUT_DIR
# Generated at run time because PCI addresses contain ':', which the collection's file names may not.
# Files are rewritten in place, never removed: running containers keep their bind mounts of these folders.
set -euo pipefail
out=$1

device() {  # device HOST ADDRESS VENDOR CLASS
  local dir="$out/$1/pci/$2"
  mkdir -p "$dir"
  echo "$3" > "$dir/vendor"
  echo 0x20b5 > "$dir/device"
  echo "$4" > "$dir/class"
}

module() {  # module HOST NAME [VERSION]
  local dir="$out/$1/module/$2"
  mkdir -p "$dir"
  echo 1 > "$dir/refcnt"
  if [ $# -gt 2 ]; then echo "$3" > "$dir/version"; fi
}

device gpunode1 0000:65:00.0 0x10de 0x030200
device gpunode1 0000:65:00.1 0x10de 0x040300
device gpunode1 0000:00:02.0 0x8086 0x030000
module gpunode1 nouveau

device gpunode2 0000:17:00.0 0x10de 0x030200
device gpunode2 0000:b3:00.0 0x10de 0x030200
module gpunode2 nvidia 570.133.20
