#!/usr/bin/env bash
# Debian packages Orbit's build and tests use: protoc (ts-proto codegen), libvirt + QEMU (the
# real-libvirt test tier), genisoimage (cloud-init seeds), xmllint/virt-xml-validate, Ansible.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
PKGS=(protobuf-compiler libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
      genisoimage libxml2-utils ovmf ansible ansible-lint iproute2 dpkg-dev xz-utils)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "all system packages present"; exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
