#!/usr/bin/env bash
# fetch-kernel.sh DESTDIR: get Debian's stock kernel for the cgroup v2 test VM, without installing it.
#
# `apt-get download`s the package that linux-image-amd64 depends on (e.g. linux-image-6.1.0-57-amd64)
# and unpacks from it, into DESTDIR:
#   vmlinuz      the compressed bzImage, as the package ships it (boots through the BIOS: slower);
#   vmlinux      the same kernel uncompressed, an ELF that qemu boots directly (PVH): about 3 s faster;
#   modules.cpio lib/modules/overlay.ko (overlayfs is a module in Debian's kernel; step 5 needs it),
#                as a cpio that run-vm.sh appends to the initramfs;
#   version      the package name and version.
# Runs once: a DESTDIR that already holds a kernel is left as it is. Nothing is installed.
set -euo pipefail

die() { echo "fetch-kernel.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || die "usage: fetch-kernel.sh DESTDIR"
dest=$1

if [[ -s $dest/vmlinuz && -s $dest/modules.cpio ]]; then
  echo "fetch-kernel.sh: kernel cached in $dest ($(cat "$dest/version" 2>/dev/null || echo unknown))"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: the VM test needs Debian's kernel package"
[[ $(dpkg --print-architecture 2>/dev/null) == amd64 ]] || die "the VM test needs an amd64 host"

# Which kernel package does the meta-package point at? Read the package lists once more after an
# `apt-get update` if they do not know it yet (a fresh container often has no lists at all).
kernel_package() {
  { apt-cache depends linux-image-amd64 2>/dev/null || true; } \
    | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}
pkg=$(kernel_package)
if [[ -z $pkg && $EUID -eq 0 ]]; then
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed"
  pkg=$(kernel_package)
fi
[[ -n $pkg ]] || die "apt knows no linux-image-amd64 (not Debian, or run 'apt-get update' as root first)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# As root, apt would drop to user _apt, who cannot write into our private temp dir: stay root.
(cd "$tmp" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg") >/dev/null 2>&1 \
  || die "apt-get download $pkg failed"

# Unpack only the two files we need (the package holds ~4000 modules).
dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb \
  | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/fs/overlayfs/overlay.ko' \
  || die "$pkg has no /boot/vmlinuz-* or overlay.ko"

mkdir -p "$dest"
cp "$tmp"/boot/vmlinuz-* "$tmp/vmlinuz"
mkdir -p "$tmp/cpio/lib/modules"
cp "$tmp"/lib/modules/*/kernel/fs/overlayfs/overlay.ko "$tmp/cpio/lib/modules/"
(cd "$tmp/cpio" && printf 'lib\nlib/modules\nlib/modules/overlay.ko\n' | cpio -o -H newc -R 0:0 --quiet) >"$tmp/modules.cpio"

# vmlinux: the bzImage carries the ELF kernel compressed (xz in Debian). Find the stream by its magic
# and decompress from there (the same idea as the kernel's scripts/extract-vmlinux). Optional: the
# VM falls back to vmlinuz without it.
rm -f "$dest/vmlinux"
command -v xz >/dev/null || echo "fetch-kernel.sh: xz not found (apt-get install xz-utils)" >&2
for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$tmp/vmlinuz" | cut -d: -f1); do
  # xz complains of the data after the stream, and may be missing: judge by the output alone.
  tail -c +$((off + 1)) "$tmp/vmlinuz" | xz -dcq >"$tmp/vmlinux" 2>/dev/null || true
  if [[ $(head -c 4 "$tmp/vmlinux") == $'\x7fELF' ]]; then mv "$tmp/vmlinux" "$dest/vmlinux"; break; fi
done
[[ -s $dest/vmlinux ]] || echo "fetch-kernel.sh: could not uncompress vmlinuz; the VM boots it compressed (slower)" >&2

dpkg-deb -W --showformat='${Package} ${Version}\n' "$tmp"/"$pkg"_*.deb >"$dest/version"
mv "$tmp/modules.cpio" "$dest/modules.cpio"
mv "$tmp/vmlinuz" "$dest/vmlinuz"   # last: its presence means "done"
echo "fetch-kernel.sh: $(cat "$dest/version") unpacked into $dest"
