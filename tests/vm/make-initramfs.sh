#!/usr/bin/env bash
# make-initramfs.sh OUTPUT INIT CONF ROOTFS BINARY...: the cgroup v2 test VM's initramfs (newc cpio).
#
#   /init                 INIT (tests/vm/init), /etc/vm-tests.conf = CONF
#   /bin/busybox          the static busybox, and a link for each of its applets
#   /bin/NAME             each BINARY (statically linked: the VM has no libc), debug info stripped
#   /rootfs               a copy of ROOTFS, the workshop's built rootfs
#   /dev, /dev/console    written by hand (below), so no mknod and no root is needed
# The kernel module overlay.ko is not here: it belongs to the kernel, so fetch-kernel.sh packs it
# into a cpio of its own that run-vm.sh appends. Run as any user; everything is owned by root.
set -euo pipefail

die() { echo "make-initramfs.sh: $*" >&2; exit 1; }
[[ $# -ge 5 ]] || die "usage: make-initramfs.sh OUTPUT INIT CONF ROOTFS BINARY..."
out=$1 init=$2 conf=$3 rootfs=$4
shift 4

is_static() { ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'program interpreter'; }
busybox=$(command -v busybox || true)
[[ -n $busybox ]] || die "busybox not found (apt-get install busybox-static)"
is_static "$busybox" || die "$busybox is linked dynamically (apt-get install busybox-static)"
[[ -f $rootfs/etc/os-release ]] || die "rootfs '$rootfs' is not built (cmake --build BUILD --target rootfs)"
for bin in "$@"; do
  [[ -x $bin ]] || die "$bin is missing"
  is_static "$bin" || die "$bin is linked dynamically"
done

stage=$out.d
rm -rf "$stage"
mkdir -p "$stage"/{bin,etc,proc,sys,tmp,root,newroot,lib/modules}
cp "$init" "$stage/init"
cp "$conf" "$stage/etc/vm-tests.conf"
cp "$busybox" "$stage/bin/busybox"
mkdir -p "$stage"/{sbin,usr/bin,usr/sbin}
for applet in $("$busybox" --list-full); do   # bin/sh, sbin/poweroff, usr/bin/awk, ...
  [[ -e $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
done
for bin in "$@"; do  # without debug info: half the size, a faster boot
  objcopy --strip-debug "$bin" "$stage/bin/${bin##*/}"
done
cp -a "$rootfs" "$stage/rootfs"
# The VM host's own identity: not the workshop rootfs's (its os-release says ID=workshop).
printf 'NAME="cgroup v2 test VM"\nID=vmhost\n' >"$stage/etc/os-release"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"

# One cpio entry with no data, in the kernel's "newc" format (what gen_init_cpio writes):
# a 110-byte ASCII header of 13 hex fields, then the name and a NUL, padded to 4 bytes.
newc_entry() {  # NAME MODE(octal) [RDEV_MAJOR RDEV_MINOR]
  local name=$1 mode=$((8#$2)) major=${3:-0} minor=${4:-0}
  local namesize=$((${#name} + 1))
  #                 ino   mode  uid gid nlink mtime size devmaj devmin rdevmaj  rdevmin  namesize check
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    1 "$mode" 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0
  printf '%s\0' "$name"
  head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}

{
  newc_entry dev 040755
  newc_entry dev/console 020600 5 1   # the kernel opens it for /init's stdin, stdout and stderr
  (cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} >"$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$stage"
echo "make-initramfs.sh: $out ($(($(stat -c %s "$out") / 1024 / 1024)) MiB)"
