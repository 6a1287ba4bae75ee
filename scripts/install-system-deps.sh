#!/usr/bin/env bash
# Debian packages Orbit's build and tests use: protoc (ts-proto codegen), libvirt + QEMU (the
# real-libvirt test tier), genisoimage (cloud-init seeds), xmllint/virt-xml-validate, Ansible,
# nftables (VM firewalls, proven in network namespaces), ping (the floating-IP e2e's client), and what test/libvirt/build-test-guest.sh
# needs (apt-get download, dpkg-deb, xz, gzip).
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
PKGS=(protobuf-compiler libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
      genisoimage libxml2-utils ovmf ansible ansible-lint iproute2 nftables iputils-ping dpkg-dev xz-utils gzip)
# Fetched (not installed) by build-test-guest.sh: apt must know them, so its package lists must exist.
GUEST_PKGS=(linux-image-cloud-amd64 busybox-static)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A fresh image often ships without package lists (apt-get clean, rm -rf /var/lib/apt/lists).
lists_ok=true
apt-cache show "${GUEST_PKGS[@]}" >/dev/null 2>&1 || lists_ok=false

if [ ${#missing[@]} -eq 0 ] && $lists_ok; then echo "all system packages present, apt lists know the test guest's packages"; exit 0; fi
$SUDO apt-get update -q
if ! apt-cache show "${GUEST_PKGS[@]}" >/dev/null 2>&1; then
  echo "apt does not know ${GUEST_PKGS[*]} even after apt-get update: the real-libvirt test guest cannot be built (check /etc/apt/sources.list*)" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
