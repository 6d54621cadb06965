#!/usr/bin/env bash
# Builds a flat apt repository of TEST DOUBLE packages named like Ubuntu's NVIDIA server driver
# (nvidia-headless-<branch>-server, nvidia-utils-<branch>-server) and nvidia-container-toolkit, so
# that the nvidia role's apt tasks run unchanged on the Debian node containers, which cannot reach
# Ubuntu's archive. The packages hold no driver: the utils package carries the nvidia-smi TEST DOUBLE.
#   build-repo.sh OUTPUT_DIR
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

package() {  # package NAME VERSION [FILE DEST]...
  local name=$1 version=$2 root="$work/$1"
  shift 2
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$name"
  printf 'TEST DOUBLE for the sciplat.k8s nvidia molecule scenario; not the NVIDIA driver.\n' \
    > "$root/usr/share/doc/$name/README.sciplat-standin"
  while [ $# -gt 0 ]; do
    install -D -m 0755 "$1" "$root/$2"
    shift 2
  done
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: all
Maintainer: sciplat.k8s tests <tests@sciplat.invalid>
Description: TEST DOUBLE of $name (sciplat.k8s molecule scenario nvidia)
CONTROL
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/${name}_${version}_all.deb" >/dev/null
}

for branch_version in 570:570.133.20 580:580.65.06; do
  branch=${branch_version%%:*}
  version=${branch_version#*:}-0sciplat1
  package "nvidia-headless-$branch-server" "$version"
  package "nvidia-utils-$branch-server" "$version" "$here/nvidia-smi" usr/bin/nvidia-smi
done
package nvidia-container-toolkit 1.17.8-0sciplat1

cd "$out"
for deb in *.deb; do
  dpkg-deb -f "$deb"
  printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' "$deb" "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)"
done > Packages
{
  printf 'Origin: sciplat-standin\nLabel: sciplat-standin\nSuite: standin\nCodename: standin\n'
  printf 'Date: %s\nSHA256:\n' "$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
  printf ' %s %s Packages\n' "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"
} > Release
