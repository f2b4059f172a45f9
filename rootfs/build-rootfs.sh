#!/usr/bin/env bash
# Builds the root filesystem the workshop's containers run in (see README.md).
#
#   build-rootfs.sh [--force] [--busybox FILE] DEST   the bundled rootfs: busybox + files/
#   build-rootfs.sh [--force] --tarball FILE DEST     a rootfs tarball of your own, checked first
#
# DEST must be missing or empty; --force replaces it (CMake passes it: the build owns DEST).
# The tree is assembled next to DEST and renamed into place only when complete, so a failed
# build leaves the previous rootfs as it was, and a refused tarball writes nothing at all.
set -euo pipefail

me=${0##*/}
usage="usage: $me [--force] [--busybox FILE | --tarball FILE] DEST"
die() { echo "$me: $*" >&2; exit 1; }

force=false busybox=/bin/busybox tarball=
while (($#)); do
  case $1 in
    --force) force=true ;;
    --busybox | --tarball)
      (($# >= 2)) || die "$1 needs a file ($usage)"
      if [[ $1 == --busybox ]]; then busybox=$2; else tarball=$2; fi
      shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) die "unknown option '$1' ($usage)" ;;
    *) break ;;
  esac
  shift
done
(($# == 1)) || die "$usage"
dest=$(realpath -m -- "$1")  # absolute, without a trailing slash
[[ $dest != / ]] || die "refusing to build a rootfs at /"
if [[ -e $dest ]] && ! $force && ! [[ -d $dest && -z $(ls -A -- "$dest") ]]; then
  die "'$dest' exists and is not empty (remove it, or pass --force to replace it)"
fi
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
umask 022
unset TAR_OPTIONS  # tar reads extra options from it: a -P there would undo the checks below

# --- the bundled rootfs ----------------------------------------------------------------------

check_busybox() {
  [[ -f $busybox ]] || die "$busybox not found (install it: apt-get install busybox-static)"
  command -v readelf >/dev/null || die "readelf not found (install it: apt-get install binutils)"
  local headers
  headers=$(LC_ALL=C readelf -l -- "$busybox" 2>/dev/null) ||
    die "$busybox is not an ELF executable (install the real one: apt-get install busybox-static)"
  # A dynamic executable names its program interpreter (ld.so), which the rootfs does not have.
  if grep -q '^ *INTERP ' <<<"$headers"; then
    die "$busybox is dynamically linked and cannot run in the rootfs" \
      "(install the static one: apt-get install busybox-static)"
  fi
}

build_busybox_rootfs() {  # $1: an empty directory
  local root=$1 applet
  cp -R -- "$here/files/." "$root/"
  mkdir -p -- "$root"/{bin,dev,etc,home,mnt,proc,root,sys,tmp}
  chmod -R u=rwX,go=rX -- "$root"  # the recipe's modes, whatever the checkout's umask was
  chmod 1777 -- "$root/tmp"
  chmod 0700 -- "$root/root"
  install -m 0755 -- "$busybox" "$root/bin/busybox"
  # One link per applet, where busybox says it belongs. Relative (bin/sh -> busybox,
  # usr/bin/env -> ../../bin/busybox): they resolve inside the tree seen from the host, too.
  "$busybox" --list-full | while read -r applet; do
    case $applet in bin/busybox | linuxrc) continue ;; esac  # itself; an initrd's entry point
    [[ -d $root/${applet%/*} ]] || mkdir -p -- "$root/${applet%/*}"
    ln -sr -- "$root/bin/busybox" "$root/$applet"
  done
  # Fixed times: the same recipe gives the same tree, down to `tar --sort=name -c` of it.
  find "$root" -exec touch -h -d @0 -- {} +
}

# --- a tarball of your own -------------------------------------------------------------------

# Sets REPLY to a member name without '.' and empty components, or refuses it: an absolute
# name or a '..' component would be written outside the rootfs.
canon() {  # $1: a name as listed (in double quotes), $2: what it is, for the message
  local rest=${1:1:-1}/ part
  REPLY=
  [[ $rest != /* ]] || die "refusing '$tarball': $2 $1 is an absolute path"
  while [[ $rest ]]; do
    part=${rest%%/*} rest=${rest#*/}
    case $part in
      '' | .) ;;
      ..) die "refusing '$tarball': $2 $1 has a '..' component" ;;
      *) REPLY+=${REPLY:+/}$part ;;
    esac
  done
}

check_tarball() {
  [[ -f $tarball ]] || die "tarball '$tarball' not found"
  local listing line type name target path
  # -P lists names as stored: without it tar shows hard link targets with their leading '/'
  # or '../' removed, hiding the very thing to check.
  # C quoting makes every name one "..." token whatever bytes it holds (spaces, ' -> ', newlines).
  listing=$(tar -tvPf "$tarball" --numeric-owner --quoting-style=c 2>/dev/null) ||
    die "cannot read '$tarball' as a tar archive (see: tar -tvf '$tarball')"
  [[ $listing ]] || die "'$tarball' is empty"
  # type+mode, uid/gid, size (or major,minor), date, time, "name", then -> or 'link to' "target"
  local q='"([^"\\]|\\.)*"'
  local re="^(.)[^ ]* +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +($q)( (->|link to) ($q))?\$"
  local -A symlinks=()
  local -a paths=()  # members and hard link targets, canonical
  while IFS= read -r line; do
    [[ $line =~ $re ]] || die "refusing '$tarball': cannot parse the listing line: $line"
    type=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]} target=${BASH_REMATCH[6]}
    canon "$name" member
    paths+=("$REPLY")
    case $type in
      - | d | p) ;;
      # A symlink's target is resolved when it is followed: inside the container, against the
      # container's root, so an absolute target is normal there (bin/sh -> /bin/busybox).
      l) symlinks[$REPLY]=$name ;;
      # A hard link is made at unpacking time, against the host's tree: its target must be
      # inside, or the rootfs would share the inode of a host file (/etc/shadow, say).
      h) canon "$target" "hard link $name: target"; paths+=("$REPLY") ;;
      b | c) die "refusing '$tarball': member $name is a device node" \
        "(it could open the host's disks; the runtime makes the container's /dev)" ;;
      *) die "refusing '$tarball': member $name has the unsupported type '$type'" ;;
    esac
  done <<<"$listing"
  # A member below a symlink would be written wherever the symlink points, on the host.
  local dir
  for path in "${paths[@]}"; do
    dir=$path
    while [[ $dir == */* ]]; do
      dir=${dir%/*}
      [[ -z ${symlinks[$dir]-} ]] ||
        die "refusing '$tarball': \"$path\" lies below the symlink ${symlinks[$dir]}"
    done
  done
}

unpack_tarball() {  # $1: an empty directory
  # No -P: tar's own guards stay on behind the checks. --numeric-owner: files belong to the
  # archive's uid/gid numbers, not to whoever has those names in the host's /etc/passwd.
  tar -xf "$tarball" -C "$1" --numeric-owner || die "unpacking '$tarball' failed"
}

# --- assemble next to DEST, then rename into place -------------------------------------------

if [[ $tarball ]]; then check_tarball; else check_busybox; fi
mkdir -p -- "$(dirname -- "$dest")"
tmp=$(mktemp -d -- "$dest.new.XXXXXX")
trap 'rm -rf --one-file-system -- "$tmp"' EXIT
chmod 0755 -- "$tmp"  # mktemp made it 0700; it becomes the container's /
if [[ $tarball ]]; then unpack_tarball "$tmp"; else build_busybox_rootfs "$tmp"; fi
if [[ -e $dest ]] && $force; then
  # --one-file-system: should a crashed container have left a mount inside, leave it be.
  rm -rf --one-file-system -- "$dest" ||
    die "cannot remove the old rootfs '$dest' (anything mounted inside? findmnt -R '$dest')"
fi
mv -T -- "$tmp" "$dest" || die "cannot move the new rootfs into '$dest'"  # rename(2)
