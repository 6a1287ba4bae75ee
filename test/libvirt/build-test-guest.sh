#!/usr/bin/env bash
# Builds the real-libvirt tier's test guest: Debian's cloud kernel and a busybox initramfs, a
# few MB that boot to a shell in seconds under QEMU/TCG. No disk image, no network access but
# Debian's package mirror (apt-get download).
#
#   bash test/libvirt/build-test-guest.sh OUTDIR     -> OUTDIR/vmlinuz, OUTDIR/initrd.gz
#
# What the guest does, on its serial console ttyS0 (the tests look for these lines):
#   GUEST-READY <kernel> cpus=<online CPUs> mem_kb=<MemTotal>   once the drivers are loaded;
#   SEED-USER-DATA-BEGIN / <user-data> / SEED-USER-DATA-END      when a disk or cdrom is labelled
#                                                                "cidata" (cloud-init NoCloud seed);
#   SEED-NETWORK-CONFIG-BEGIN / <network-config> / SEED-NETWORK-CONFIG-END   the same for the seed's
#                                                                network-config, when it has one;
#   GUEST-POWERBUTTON                                            on an ACPI power-button press,
#                                                                then it powers off at once;
#   GUEST-DISKS <device=bytes[/serial] ...>, e.g. "sr0=374784 vda=67108864 vdb=1073741824/vol-7"
#                                                                after GUEST-READY and whenever a disk is
#                                                                hot-plugged, unplugged or resized, or a
#                                                                cdrom's medium changes (an empty cdrom
#                                                                is 0; the serial: virtio-blk disks
#                                                                that have one);
#   GUEST-NETS <interface=MAC[/IPv4 address/prefix] ...>         after GUEST-READY and whenever a
#                  (lo left out)                                 NIC or its address comes or goes; the
#                                                                seed's static addresses (network-config
#                                                                v2, matched by MAC) and its first route's
#                                                                gateway (default route) are applied at boot;
#   GUEST-PING <address> ok|fail                                 for each "orbit-test-ping=<address>" in
#                                                                the seed's user-data: pinged every second,
#                                                                printed first and whenever it changes;
#   GUEST-ECHO <line>                                            for each line typed on ttyS0 (the
#                                                                interactive console's input reaches it);
#   GUEST-SIZE online=<cpu list> cpus=<online CPUs> mem_kb=<MemTotal>   after GUEST-READY and whenever
#                                                                the guest's vCPUs (hot-plugged, then
#                                                                onlined) or its memory (the balloon)
#                                                                change: /sys/devices/system/cpu/online,
#                                                                /proc/cpuinfo and /proc/meminfo.
#   GUEST-WROTE <dev> <offset> <length>                          for a typed line "orbit-write <dev> <offset>
#                                                                <text>": the guest wrote <text> (the rest
#                                                                of the line) at byte <offset> of /dev/<dev>
#                                                                (raw, no file system) and synced it;
#   GUEST-READ <dev> <offset> <text>|hex:<bytes>                 for a typed line "orbit-read <dev> <offset>
#                                                                <length>": those bytes of /dev/<dev>, read
#                                                                past the guest's cache; as text when all are
#                                                                printable ASCII, else as hex (zeros: hex:0000..);
#   GUEST-FILE-WROTE <dev> <name> <length>                       for "orbit-file-write <dev> <name> <text>":
#                                                                <text> written to file <name> on /dev/<dev>'s
#                                                                file system (mounted at /data/<dev> on first
#                                                                use; a disk without one gets ext2), synced;
#   GUEST-FILE-DELETED <dev> <name>                              for "orbit-file-delete <dev> <name>", synced;
#   GUEST-FILE-READ <dev> <name> text:<text>|absent              for "orbit-file-read <dev> <name>";
#   GUEST-POWEROFF                                               for a typed line "orbit-poweroff": the guest
#                                                                then powers itself off (as a user's poweroff
#                                                                inside it would; no ACPI, no host request);
#   GUEST-FAILED <typed line>                                    when one of these commands cannot be done (no
#                                                                such block device, bad numbers or name, an
#                                                                I/O error, a disk it cannot mount or format).
# It also onlines hot-plugged vCPUs, and reads every block device's first sectors at boot (so a
# root disk shows read bytes in domain stats).
# Needs: apt-get with package lists (apt-get update once), dpkg-deb, xz, gzip. Root not needed.
set -euo pipefail

out=$(realpath -m "${1:?usage: build-test-guest.sh OUTDIR}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Drivers the guest needs, by module name: cdroms on IDE (pc machine) or virtio-scsi (q35; this
# kernel has no AHCI, so no SATA cdrom), SCSI disks (virtio-scsi), ISO 9660, virtio disks/net/balloon,
# the ACPI power button.
# Their dependencies are read from each module's own .modinfo ("depends="), so no load order is
# hand-kept (the package ships no modules.dep: depmod makes it at install time).
WANTED_MODULES="ata_piix sr_mod sd_mod isofs virtio_pci virtio_blk virtio_scsi virtio_net virtio_balloon button evdev"

kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n1)
if [ -z "$kernel_pkg" ]; then
  echo "build-test-guest: no Debian cloud kernel package known to apt (run 'apt-get update' first)" >&2
  exit 1
fi
# As root, apt-get download would drop to the _apt user, who cannot write into our private temp dir.
sandbox=(); [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
apt-get "${sandbox[@]}" download -q "$kernel_pkg" busybox-static >/dev/null
dpkg-deb -x "$kernel_pkg"_*.deb kernel
dpkg-deb -x busybox-static_*.deb busybox

kver=$(ls kernel/lib/modules)
moddir="kernel/lib/modules/$kver"
mkdir -p "$out"
cp "kernel/boot/vmlinuz-$kver" "$out/vmlinuz.new"

root=initramfs
mkdir -p "$root"/{bin,dev,proc,sys,mnt,modules}
cp busybox/bin/busybox "$root/bin/busybox"

# Module load order: depth-first over "depends=", dependencies before dependants, each once.
# Module names use "_" where file names may use "-".
declare -A placed=()
load_order=()
place() {
  local name=$1 path file deps dep
  [ -n "${placed[$name]:-}" ] && return 0
  placed[$name]=1
  path=$(grep -E "/${name//_/[-_]}\.ko\$" "$moddir/modules.order" | head -n1 || true)
  if [ -z "$path" ]; then
    if grep -qE "/${name//_/[-_]}\.ko\$" "$moddir/modules.builtin"; then return 0; fi
    echo "build-test-guest: module $name is neither loadable nor built into kernel $kver" >&2
    exit 1
  fi
  file="$root/modules/$name.ko"
  if [ -f "$moddir/$path" ]; then cp "$moddir/$path" "$file"
  elif [ -f "$moddir/$path.xz" ]; then xz -dc "$moddir/$path.xz" > "$file"
  elif [ -f "$moddir/$path.zst" ]; then zstd -qdc "$moddir/$path.zst" > "$file"
  else echo "build-test-guest: $path listed but not shipped in $kernel_pkg" >&2; exit 1
  fi
  deps=$(tr '\0' '\n' < "$file" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
  for dep in $deps; do place "$dep"; done
  load_order+=("$name")
}
for m in $WANTED_MODULES; do place "$m"; done
printf '%s\n' "${load_order[@]}" > "$root/modules/order"

cat > "$root/init" <<'GUEST_INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "$*" > /dev/ttyS0; }

while read -r m; do insmod "/modules/$m.ko" 2>/dev/null || true; done < /modules/order
# Let the disk, cdrom and input drivers finish probing before looking at devices.
sleep 1

say "GUEST-READY $(uname -r) cpus=$(grep -c '^processor' /proc/cpuinfo) mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"

for dev in /sys/block/*; do
  name=${dev##*/}
  case "$name" in loop*|ram*) continue ;; esac
  [ -b "/dev/$name" ] || continue
  # ISO 9660 volume id: 32 bytes at 0x8028 (sector 16 + 40).
  label=$(dd if="/dev/$name" bs=2048 skip=16 count=1 2>/dev/null | dd bs=1 skip=40 count=32 2>/dev/null | tr -d ' \000')
  if [ "$label" = cidata ] && mount -t iso9660 -o ro "/dev/$name" /mnt 2>/dev/null; then
    if [ -f /mnt/user-data ]; then
      say "SEED-USER-DATA-BEGIN"
      cat /mnt/user-data > /dev/ttyS0
      say "SEED-USER-DATA-END"
    fi
    if [ -f /mnt/network-config ]; then
      say "SEED-NETWORK-CONFIG-BEGIN"
      cat /mnt/network-config > /dev/ttyS0
      say "SEED-NETWORK-CONFIG-END"
    fi
    mkdir -p /seed && cp /mnt/user-data /mnt/network-config /seed/ 2>/dev/null
    umount /mnt
  fi
done

# The seed's static addresses (network-config v2, YAML or JSON: each "macaddress" followed by its
# "addresses"' first a.b.c.d/len), put on the NIC with that MAC. Nothing else of it is applied.
if [ -f /seed/network-config ]; then
  awk 'BEGIN { re = "[0-9a-fA-F][0-9a-fA-F](:[0-9a-fA-F][0-9a-fA-F]){5}|[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+/[0-9]+" }
       { while (match($0, re)) { t = substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH)
           if (t ~ /:/) mac = tolower(t); else if (mac != "") { print mac, t; mac = "" } } }' /seed/network-config |
  while read -r mac addr; do
    for i in /sys/class/net/*; do
      [ "$(cat "$i/address" 2>/dev/null)" = "$mac" ] || continue
      ip link set "${i##*/}" up && ip addr add "$addr" dev "${i##*/}"
    done
  done
  # Its first route's gateway ("via"), as the default route: answers to addresses off the network
  # (a floating IP's clients) go through the host.
  gw=$(sed -n 's/.*"\{0,1\}via"\{0,1\}: *"\{0,1\}\([0-9][0-9.]*\).*/\1/p' /seed/network-config | head -n1)
  [ -z "$gw" ] || ip route add default via "$gw"
fi

# user-data may name addresses to ping ("orbit-test-ping=a.b.c.d", anywhere in it): each is pinged
# every second and "GUEST-PING <addr> ok|fail" printed at first and whenever the answer changes.
for addr in $(sed -n 's/.*orbit-test-ping=\([0-9.]*\).*/\1/p' /seed/user-data 2>/dev/null); do
  ( last=
    while :; do
      if ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then r=ok; else r=fail; fi
      [ "$r" = "$last" ] || { last=$r; say "GUEST-PING $addr $r"; }
      sleep 1
    done ) &
done

# vCPUs hot-plugged by libvirt arrive offline: bring them up.
( while :; do
    for f in /sys/devices/system/cpu/cpu*/online; do
      [ "$(cat "$f" 2>/dev/null)" = 0 ] && echo 1 > "$f"
    done
    sleep 1
  done ) &

# The ACPI power button is an input device; its first event means "shut down".
handlers=$(awk '/^N: Name=/ { power = /Power Button/ } /^H: Handlers=/ && power { for (i = 2; i <= NF; i++) if ($i ~ /^event/) print $i }' /proc/bus/input/devices)
for ev in $handlers; do
  ( dd if="/dev/input/$ev" bs=24 count=1 >/dev/null 2>&1; say "GUEST-POWERBUTTON"; poweroff -f ) &
done
# What the host hot-plugs, as the guest sees it: each list once, then again whenever it changes
# (sysfs polled every second: no hotplug helper to configure, and cheap under TCG).
( disks=unset nets=unset size=unset
  while :; do
    z="online=$(cat /sys/devices/system/cpu/online) cpus=$(grep -c '^processor' /proc/cpuinfo) mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
    [ "$z" = "$size" ] || { size=$z; say "GUEST-SIZE $z"; }
    # (An unmatched glob stays literal: the -e tests skip it, e.g. a guest without any disk.)
    d=; for b in /sys/block/*; do
      n=${b##*/}; [ -e "$b/size" ] || continue
      case "$n" in loop*|ram*) continue ;; esac
      # A cdrom's medium changed by the host is noticed when the device is opened (no udev polls
      # it); an empty tray fails the open and shows as size 0 (the kernel keeps the last size).
      z=$(( $(cat "$b/size") * 512 ))
      case "$n" in sr*) { true < "/dev/$n"; } 2>/dev/null && z=$(( $(cat "$b/size") * 512 )) || z=0 ;; esac
      # virtio-blk disks show the serial the host gave them (how a guest tells volumes apart).
      s=$(cat "$b/serial" 2>/dev/null || true)
      d="$d $n=$z${s:+/$s}"
    done
    [ "$d" = "$disks" ] || { disks=$d; say "GUEST-DISKS$d"; }
    # Each NIC by its MAC, and its IPv4 address when it has one ("eth0=52:54:00:0b:17:01/10.0.0.5/24").
    n=; for i in /sys/class/net/*; do
      x=${i##*/}; [ -e "$i/address" ] || continue; [ "$x" = lo ] && continue
      a=$(ip -o -4 addr show dev "$x" 2>/dev/null | awk '{ print $4; exit }')
      n="$n $x=$(cat "$i/address")${a:+/$a}"
    done
    [ "$n" = "$nets" ] || { nets=$n; say "GUEST-NETS$n"; }
    sleep 1
  done ) &
# Two console commands on a disk's raw bytes (see the header), so a test can have the guest itself
# write data and read it back (snapshots): no file system, the block device read and written in place.
# "<dev> <offset> <rest>" -> dev, off, rest; false unless dev is a block device and off a number.
parse_disk_args() {
  dev=${1%% *}; rest=${1#* }; off=${rest%% *}; rest=${rest#"$off"}; rest=${rest# }
  case "$dev" in ""|*[!a-z0-9]*) return 1 ;; esac
  case "$off" in ""|*[!0-9]*) return 1 ;; esac
  [ -b "/dev/$dev" ]
}
disk_write() {
  # conv=fsync, then sync: the bytes reach the virtual disk (the host's image) before the answer.
  if parse_disk_args "$1" && [ -n "$rest" ] &&
     printf '%s' "$rest" | dd of="/dev/$dev" bs=1 seek="$off" conv=notrunc,fsync 2>/dev/null && sync; then
    say "GUEST-WROTE $dev $off ${#rest}"
  else
    say "GUEST-FAILED orbit-write $1"
  fi
}
disk_read() {
  # --flushbufs drops the device's cached pages first: what is read comes from the virtual disk.
  if parse_disk_args "$1" && case "$rest" in ""|0|*[!0-9]*) false ;; esac &&
     blockdev --flushbufs "/dev/$dev" &&
     dd if="/dev/$dev" of=/orbit-read bs="$rest" count=1 iflag=skip_bytes,fullblock skip="$off" 2>/dev/null; then
    # Printable ASCII (space included) as is, anything else (zeros, a short read) as hex.
    if [ "$(wc -c < /orbit-read)" -eq "$rest" ] && [ -z "$(tr -d '\040-\176' < /orbit-read | od -An)" ]; then
      say "GUEST-READ $dev $off $(cat /orbit-read)"
    else
      say "GUEST-READ $dev $off hex:$(od -An -v -tx1 < /orbit-read | tr -d ' \n')"
    fi
  else
    say "GUEST-FAILED orbit-read $1"
  fi
}
# Files on a disk's own file system, mounted at /data/<dev> on first use (again after a boot); a
# disk with none the guest can mount gets a fresh ext2 one (busybox mke2fs; the kernel's built-in
# ext4 mounts it). "<dev> <name> <rest>" -> dev, name, rest; false unless dev is mounted, name plain.
mount_data() {
  grep -q "^/dev/$1 " /proc/mounts && return 0
  mkdir -p "/data/$1"
  mount -t ext4 "/dev/$1" "/data/$1" 2>/dev/null && return 0
  mke2fs -i 1048576 "/dev/$1" >/dev/null 2>&1 && mount -t ext4 "/dev/$1" "/data/$1"
}
parse_file_args() {
  dev=${1%% *}; rest=${1#"$dev"}; rest=${rest# }; name=${rest%% *}; rest=${rest#"$name"}; rest=${rest# }
  case "$dev" in ""|*[!a-z0-9]*) return 1 ;; esac
  case "$name" in ""|.|..|*[!A-Za-z0-9._-]*) return 1 ;; esac
  [ -b "/dev/$dev" ] && mount_data "$dev"
}
file_write() {
  if parse_file_args "$1" && [ -n "$rest" ] && printf '%s' "$rest" > "/data/$dev/$name" && sync; then
    say "GUEST-FILE-WROTE $dev $name ${#rest}"
  else
    say "GUEST-FAILED orbit-file-write $1"
  fi
}
file_delete() {
  if parse_file_args "$1" && [ -z "$rest" ] && rm -f "/data/$dev/$name" && sync; then
    say "GUEST-FILE-DELETED $dev $name"
  else
    say "GUEST-FAILED orbit-file-delete $1"
  fi
}
file_read() {
  if ! parse_file_args "$1" || [ -n "$rest" ]; then
    say "GUEST-FAILED orbit-file-read $1"
  elif [ -f "/data/$dev/$name" ]; then
    say "GUEST-FILE-READ $dev $name text:$(cat "/data/$dev/$name")"
  else
    say "GUEST-FILE-READ $dev $name absent"
  fi
}
# What is typed on the serial console comes back, one line at a time (no shell on the console);
# the disk and file commands run once echoed.
( while read -r line; do
    say "GUEST-ECHO $line"
    case "$line" in
      "orbit-write "*) disk_write "${line#orbit-write }" ;;
      "orbit-read "*) disk_read "${line#orbit-read }" ;;
      "orbit-file-write "*) file_write "${line#orbit-file-write }" ;;
      "orbit-file-delete "*) file_delete "${line#orbit-file-delete }" ;;
      "orbit-file-read "*) file_read "${line#orbit-file-read }" ;;
      "orbit-poweroff") say "GUEST-POWEROFF"; sync; poweroff -f ;;
    esac
  done < /dev/ttyS0 ) &
while :; do sleep 3600; done
GUEST_INIT
chmod 755 "$root/init"

(cd "$root" && find . | "$work/busybox/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9 > "$out/initrd.gz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initrd.gz.new" "$out/initrd.gz"
echo "test guest: $out/vmlinuz (kernel $kver), $out/initrd.gz ($(du -h "$out/initrd.gz" | cut -f1), modules: ${load_order[*]})"
