#!/usr/bin/env bash
# Prepares this machine for VoidVM's tests and for running the server against
# a local libvirtd: Debian packages, the libvirt daemons (started by hand where
# there is no systemd), and a small TCG test guest (kernel + busybox initramfs).
# Idempotent: every step checks before it acts.
set -euo pipefail

CACHE_DIR="${VOIDVM_TEST_CACHE:-/var/cache/voidvm-test}"
PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  qemu-utils openssh-server chromium linux-image-cloud-amd64 busybox-static cpio
  websockify netcat-openbsd dropbear-bin)

log() { printf '[host-setup] %s\n' "$*"; }

missing_packages() {
  local p out=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p")
  done
  echo "${out[@]:-}"
}

socket_answers() {
  [ -S /var/run/libvirt/libvirt-sock ] && timeout 10 virsh -c qemu:///system version >/dev/null 2>&1
}

# Why qemu:///system does not answer, in words: the daemon is down, or it runs but
# refuses this user (as non-root, polkit / D-Bus decide).
libvirt_problem() {
  local out
  [ -S /var/run/libvirt/libvirt-sock ] ||
    { echo "no libvirtd socket at /var/run/libvirt/libvirt-sock (start it as root: virtlogd -d && libvirtd -d)"; return; }
  out=$(timeout 10 virsh -c qemu:///system version 2>&1 >/dev/null) && return
  if grep -qi 'failed to connect socket' <<<"$out"; then
    echo "libvirtd does not answer on /var/run/libvirt/libvirt-sock (start it as root: virtlogd -d && libvirtd -d)"
  else
    echo "libvirtd runs but this user may not use qemu:///system ($(tail -n 1 <<<"$out" | sed 's/^error: //')): run the tests as root, or allow this user (libvirt group and polkit)"
  fi
}

is_debian=false
[ -r /etc/debian_version ] && command -v apt-get >/dev/null && is_debian=true

if ! $is_debian || [ "$(id -u)" != 0 ]; then
  # Can't install or start anything: say exactly what is missing.
  problems=()
  if $is_debian; then
    m=$(missing_packages)
    [ -n "$m" ] && problems+=("missing Debian packages: $m  (as root: apt-get update && apt-get install -y $m)")
  else
    for c in virsh libvirtd qemu-system-x86_64 qemu-img sshd chromium busybox cpio; do
      command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || problems+=("missing command: $c (install libvirt, QEMU, OpenSSH server, Chromium, busybox and cpio with your package manager)")
    done
  fi
  lp=$(libvirt_problem)
  [ -z "$lp" ] || problems+=("$lp")
  [ -f "$CACHE_DIR/initramfs.cpio.gz" ] || problems+=("test guest not prepared in $CACHE_DIR (run this script once as root on Debian/Ubuntu)")
  if [ ${#problems[@]} -eq 0 ]; then
    log "everything needed is present"
    exit 0
  fi
  log "this script installs and starts things only as root on Debian/Ubuntu; still missing:"
  for p in "${problems[@]}"; do printf '  - %s\n' "$p"; done
  exit 1
fi

# 1. Packages.
m=$(missing_packages)
if [ -n "$m" ]; then
  log "installing: $m"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $m
fi

# 2. libvirt: the qemu driver wants a libvirt-qemu user; test guests run as root.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
getent group libvirt >/dev/null || groupadd --system libvirt
conf=/etc/libvirt/qemu.conf
conf_changed=false
mkdir -p /etc/libvirt
touch "$conf"
grep -q '^user = "root"' "$conf" || { echo 'user = "root"' >>"$conf"; conf_changed=true; }
grep -q '^group = "root"' "$conf" || { echo 'group = "root"' >>"$conf"; conf_changed=true; }
mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt/qemu
if $conf_changed && pgrep -x libvirtd >/dev/null; then
  log "qemu.conf changed: restarting libvirtd"
  pkill -x libvirtd || true
  for _ in $(seq 1 20); do pgrep -x libvirtd >/dev/null || break; sleep 0.5; done
fi

if ! socket_answers; then
  log "starting virtlogd and libvirtd"
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  for _ in $(seq 1 60); do socket_answers && break; sleep 0.5; done
  socket_answers || { log "libvirtd did not come up; see /var/log/libvirt"; exit 1; }
fi

# 3. The test guest: direct kernel boot of the cloud kernel with a busybox
# initramfs that runs shells on the serial port and on tty1 (reachable by VNC).
# Opt-in by kernel cmdline (test/fixtures/guest.ts sets them): voidvm.net=ADDR/PREFIX
# configures eth0, voidvm.ping=ADDR pings that address once (so the host learns the
# guest's MAC), voidvm.sshd=1 starts dropbear. dropbear and its libraries live in a
# second archive appended to the first (initramfs-sshd.cpio.gz), so the default
# image, and the default guest's boot, stay as small as before.
mkdir -p "$CACHE_DIR"
# `|| true`: with pipefail a missing kernel would end the script here, silently.
kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$kernel" ] || { log "no /boot/vmlinuz-*-cloud-amd64 found (apt-get install linux-image-cloud-amd64)"; exit 1; }
cp -u "$kernel" "$CACHE_DIR/vmlinuz"
# Rebuilt when this script changes (its hash is kept beside the image).
setup_hash=$(sha256sum "$0" | cut -d' ' -f1)
if [ ! -f "$CACHE_DIR/initramfs.cpio.gz" ] || [ ! -f "$CACHE_DIR/initramfs-sshd.cpio.gz" ] ||
  [ "$(cat "$CACHE_DIR/.setup-hash" 2>/dev/null)" != "$setup_hash" ]; then
  log "building the test guest's initramfs in $CACHE_DIR"
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,root,etc/acpi/PWRF,lib/modules/net}
  cp /bin/busybox "$root/bin/busybox"
  kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
  # Modules, in load order: the ACPI power button (graceful shutdown) and the
  # virtio balloon (so the guest reports its memory use to libvirt).
  n=0
  for mod in drivers/acpi/button.ko drivers/input/evdev.ko drivers/virtio/virtio_ring.ko \
    drivers/virtio/virtio.ko drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci_modern_dev.ko \
    drivers/virtio/virtio_pci.ko drivers/virtio/virtio_balloon.ko; do
    src="/lib/modules/$kver/kernel/$mod"
    n=$((n + 1))
    dst="$root/lib/modules/$(printf '%02d' "$n")-$(basename "$mod")"
    if [ -f "$src" ]; then cp "$src" "$dst"; elif [ -f "$src.xz" ]; then xz -dc "$src.xz" >"$dst"; fi
  done
  # virtio-net, loaded only when voidvm.net= asks for networking.
  n=0
  for mod in net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
    src="/lib/modules/$kver/kernel/$mod"
    n=$((n + 1))
    dst="$root/lib/modules/net/$(printf '%02d' "$n")-$(basename "$mod")"
    if [ -f "$src" ]; then cp "$src" "$dst"; elif [ -f "$src.xz" ]; then xz -dc "$src.xz" >"$dst"; fi
  done
  printf '#!/bin/sh\npoweroff -f\n' >"$root/etc/acpi/PWRF/00000080"
  chmod +x "$root/etc/acpi/PWRF/00000080"
  for a in sh ash mount umount cat echo ls ps stty sleep dd yes head base64 setsid cttyhack \
    mkdir rm uname hostname ip ifconfig udhcpc poweroff reboot halt init getty sync seq \
    insmod acpid tr wc grep true false kill od hexdump ping; do
    ln -sf busybox "$root/bin/$a"
  done
  cat >"$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
hostname voidvm-guest
export HOME=/root PS1='guest# '
echo "voidvm test guest ready"
# Shells on the serial console and on the first VT; respawn so a closed shell comes back.
(while true; do setsid cttyhack sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'; done) &
(while true; do setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1'; done) &
# ACPI power button -> poweroff, so a graceful shutdown request completes.
for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
sleep 1
mkdir -p /var/run /var/log
acpid -f -c /etc/acpi -l /dev/null -p /tmp/acpid.pid &
# Opt-in networking and SSH server, by kernel cmdline; without these flags nothing below runs.
net='' ping='' sshd=''
for a in $(cat /proc/cmdline); do
  case "$a" in
    voidvm.net=*) net=${a#voidvm.net=} ;;
    voidvm.ping=*) ping=${a#voidvm.ping=} ;;
    voidvm.sshd=1) sshd=1 ;;
  esac
done
if [ -n "$net" ]; then
  for m in /lib/modules/net/*.ko; do insmod "$m" 2>/dev/null; done
  ip link set lo up
  ip addr add "$net" dev eth0 && ip link set eth0 up && echo "voidvm guest net: eth0 $net"
  # One ping makes the host's neighbour table learn this guest's MAC and address.
  [ -n "$ping" ] && (ping -c 3 -W 2 "$ping" >/dev/null 2>&1; echo "voidvm guest ping $ping: $?") &
fi
if [ "$sshd" = 1 ] && [ -x /sbin/dropbear ]; then
  mkdir -p /dev/pts
  mount -t devpts devpts /dev/pts
  dropbear -r /etc/dropbear/dropbear_ed25519_host_key -p 22 -P /var/run/dropbear.pid && echo "voidvm guest sshd started"
fi
while true; do sleep 3600; done
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$CACHE_DIR/initramfs.cpio.gz.tmp"
  # The SSH overlay: dropbear, the libraries ldd names, a host key made now (its public
  # half is kept beside the image so tests can check the fingerprint), and root with the
  # fixed test password "voidvm-guest" (the guest is reachable only from this host).
  ovl=$(mktemp -d)
  mkdir -p "$ovl"/{sbin,etc/dropbear,root}
  cp /usr/sbin/dropbear "$ovl/sbin/dropbear"
  for lib in $(ldd /usr/sbin/dropbear | grep -o '/[^ ]*'); do
    mkdir -p "$ovl$(dirname "$lib")"
    cp -L "$lib" "$ovl$lib"
  done
  dropbearkey -t ed25519 -f "$ovl/etc/dropbear/dropbear_ed25519_host_key" >/dev/null 2>&1
  dropbearkey -y -f "$ovl/etc/dropbear/dropbear_ed25519_host_key" | grep '^ssh-' >"$CACHE_DIR/guest-ssh-host-key.pub.tmp"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$ovl/etc/passwd"
  echo 'root:x:0:' >"$ovl/etc/group"
  # shellcheck disable=SC2016 # a crypt hash, not an expansion
  echo 'root:$6$voidvmtestguest$4tCJjTV2NzlGhWklCHLOfEeSTbbbldOCj0YFfvGhZ0o9PHDjImSnooAKkpIR.tmW4J7bvrPyYv17M8vKEX1uH/:19000:0:99999:7:::' >"$ovl/etc/shadow"
  chmod 600 "$ovl/etc/shadow"
  echo '/bin/sh' >"$ovl/etc/shells"
  printf 'passwd: files\ngroup: files\nshadow: files\n' >"$ovl/etc/nsswitch.conf"
  # The kernel unpacks concatenated (separately compressed) cpio archives in order.
  (cd "$ovl" && find . | cpio -o -H newc --quiet | gzip -9) | cat "$CACHE_DIR/initramfs.cpio.gz.tmp" - \
    >"$CACHE_DIR/initramfs-sshd.cpio.gz.tmp"
  mv "$CACHE_DIR/initramfs.cpio.gz.tmp" "$CACHE_DIR/initramfs.cpio.gz"
  mv "$CACHE_DIR/initramfs-sshd.cpio.gz.tmp" "$CACHE_DIR/initramfs-sshd.cpio.gz"
  mv "$CACHE_DIR/guest-ssh-host-key.pub.tmp" "$CACHE_DIR/guest-ssh-host-key.pub"
  echo "$setup_hash" >"$CACHE_DIR/.setup-hash"
  rm -rf "$root" "$ovl"
fi
log "ready: libvirtd answers; test guest in $CACHE_DIR"
