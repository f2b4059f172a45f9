// Step 5's root: a throwaway layer over the rootfs, the mounts a container expects (/proc, /dev,
// /sys, /tmp, volumes), the kernel's files made read-only or masked, then pivot_root and the old
// root gone. Every mount target is resolved inside the new root, never on the host.
#include "container.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace {

//! [kernel_paths]
// docker's lists. Read-only: the kernel's knobs (/proc/sys/kernel/hostname needs no capability
// at all to write). Masked: files that leak the host's memory, keys or timers, and firmware.
constexpr const char* read_only_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
constexpr const char* masked_paths[] = {"/proc/asound",     "/proc/acpi",        "/proc/kcore",       "/proc/keys",
                                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                                        "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap"};
//! [kernel_paths]

//! [mounts]
// One mount, as an OCI config.json lists them. `type` is a file system's, or "bind" (`source`
// bound at `target`; no source: `target` onto itself), or "mask" (`target` hidden); `data`, the
// file system's options.
struct Mount { std::string source, target, type; unsigned long flags = 0; std::string data; };

// The container's mounts, in order: each may go inside one made before it.
std::vector<Mount> container_mounts(const Config& config, const std::vector<int>& volumes, long long size) {
  std::vector<Mount> mounts{
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=65536k"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
      {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"},
      {"sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=" + std::to_string(size)},
  };
  for (const char* path : read_only_paths) mounts.push_back({"", path, "bind", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC});
  for (const char* path : masked_paths) mounts.push_back({"", path, "mask"});
  // Volumes last, as docker: `-v data:/tmp` wins over our /tmp. nodev: no device cgroup here.
  for (size_t i = 0; i < volumes.size(); ++i) {
    const unsigned long read_only = config.volumes[i].read_only ? static_cast<unsigned long>(MS_RDONLY) : 0;
    mounts.push_back({"/proc/self/fd/" + std::to_string(volumes[i]), config.volumes[i].dir, "bind", MS_NOSUID | MS_NODEV | read_only});
  }
  return mounts;
}
//! [mounts]

//! [open_in_root]
// The file at `path` in the container whose root is `root`: every component, symlinks included,
// resolved as if `root` were `/` (a symlink to /etc in the rootfs means the container's /etc,
// never the host's), and /proc's magic links (/proc/self/fd/N: whatever that file is, anywhere)
// refused. Missing directories are made when `make`; otherwise -1 for a missing path.
int open_in_root(int root, const std::string& path, bool make) {
  open_how how{.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = static_cast<int>(syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
  if (fd == -1 && errno == ENOENT && make) {
    const std::filesystem::path missing(path);
    const int parent = open_in_root(root, missing.parent_path(), true);
    if (mkdirat(parent, missing.filename().c_str(), 0755) == -1 && errno != EEXIST) must(-1, "mkdir " + path + " in the container");
    close(parent);
    fd = static_cast<int>(syscall(SYS_openat2, root, path.c_str(), &how, sizeof how));
  }
  if (fd == -1 && errno == ELOOP) fail("'" + path + "' is a symlink loop, or goes through a /proc/PID/fd link, which could lead out of the container: refused");
  if (fd == -1 && (errno != ENOENT || make)) must(-1, "open " + path + " in the container");
  return fd;
}
//! [open_in_root]

//! [mount_all]
// Each mount onto its target opened inside the root, through /proc/self/fd/N: the host's /proc
// still, which follows the link to that very directory, wherever it is.
void mount_all(int root, const std::vector<Mount>& mounts) {
  for (const Mount& m : mounts) {
    const bool optional = m.type == "mask" || (m.type == "bind" && m.source.empty());  // this kernel may lack it
    const int target = open_in_root(root, m.target, !optional);
    if (target == -1) continue;
    const std::string at = "/proc/self/fd/" + std::to_string(target);
    struct stat st {};
    must(fstat(target, &st), "stat " + m.target);
    if (m.type == "bind") {
      must(mount(m.source.empty() ? at.c_str() : m.source.c_str(), at.c_str(), nullptr, MS_BIND, nullptr), "bind " + m.target);
      // A bind mount takes no flags when made (MS_RDONLY and the rest are ignored): remount it,
      // through its own root (`target` still names the directory under it).
      const int bound = open_in_root(root, m.target, false);
      must(mount(nullptr, ("/proc/self/fd/" + std::to_string(bound)).c_str(), nullptr, MS_BIND | MS_REMOUNT | m.flags, nullptr), "remount " + m.target);
      close(bound);
    } else if (m.type == "mask" && S_ISDIR(st.st_mode)) {  // an empty, read-only directory over it
      must(mount("tmpfs", at.c_str(), "tmpfs", MS_RDONLY, nullptr), "mask " + m.target);
    } else if (m.type == "mask") {  // a file: /dev/null over it
      must(mount("/dev/null", at.c_str(), nullptr, MS_BIND, nullptr), "mask " + m.target);
    } else {
      must(mount(m.source.c_str(), at.c_str(), m.type.c_str(), m.flags, m.data.c_str()), "mount " + m.type + " on " + m.target);
    }
    close(target);
  }
}
//! [mount_all]

//! [make_devices]
// docker's six harmless devices, made with mknod while we still have CAP_MKNOD, and the usual
// links: the host's /dev would hand the container its disks, memory and kernel log.
void make_devices(int root) {
  constexpr struct { const char* name; unsigned major, minor; } devices[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  constexpr const char* links[][2] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                      {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}};
  const int dev = open_in_root(root, "/dev", false);
  for (const auto& [name, major, minor] : devices) must(mknodat(dev, name, S_IFCHR | 0666, makedev(major, minor)), std::string("mknod /dev/") + name);
  for (const auto& [target, link] : links) must(symlinkat(target, dev, link), std::string("symlink /dev/") + link);
  close(dev);
}
//! [make_devices]

//! [mount_overlay]
// A throwaway copy of the rootfs: an overlay whose lower layer is the rootfs (read only) and whose
// upper layer, where every write lands, is on a tmpfs of `size` bytes mounted over the rootfs's
// directory in this mount namespace only. The host sees no mount and no scratch directory, the
// rootfs never changes, parallel containers share it, and a full layer is ENOSPC, not the host's
// memory. The rootfs, hidden under the tmpfs, is named by a file descriptor, so no path in the
// options needs escaping. nodev: a device node shipped in the rootfs does not open.
void mount_overlay(const std::string& rootfs, long long size) {
  const std::string dir = std::filesystem::absolute(rootfs);  // still right after the chdir
  const int lower = static_cast<int>(must(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + dir));
  must(mount("tmpfs", dir.c_str(), "tmpfs", 0, ("mode=0755,size=" + std::to_string(size)).c_str()), "mount a tmpfs on " + dir);
  must(chdir(dir.c_str()), "chdir " + dir);
  must(mkdir("upper", 0755), "mkdir upper");  // its mode and owner become those of `/`
  must(mkdir("work", 0700), "mkdir work");
  const std::string layers = "lowerdir=/proc/self/fd/" + std::to_string(lower) + ",upperdir=upper,workdir=work";
  if (mount("overlay", dir.c_str(), "overlay", MS_NODEV, layers.c_str()) == -1) {
    if (errno == ENODEV) fail("overlayfs is not available: load it with 'modprobe overlay'");
    must(-1, "mount overlay on " + dir);
  }
  close(lower);
  must(chdir(dir.c_str()), "chdir " + dir);  // into the overlay, on top of the tmpfs
}
//! [mount_overlay]

}  // namespace

//! [parse_volume]
// "HOSTDIR:DIR[:ro]", DIR absolute and not /, HOSTDIR a directory: checked while parsing.
Volume parse_volume(const std::string& text) {
  const auto first = text.find(':'), second = text.find(':', first + 1);
  const std::string mode = second == std::string::npos ? "rw" : text.substr(second + 1);
  Volume volume{text.substr(0, first), text.substr(first + 1, second - first - 1), mode == "ro"};
  volume.dir = std::filesystem::path(volume.dir).lexically_normal().string();  // "/data/./x/" is "/data/x/"
  if (volume.dir.size() > 1 && volume.dir.back() == '/') volume.dir.pop_back();
  if (first == std::string::npos || first == 0 || !volume.dir.starts_with('/') || volume.dir == "/" || (mode != "ro" && mode != "rw"))
    throw CLI::ValidationError("'" + text + "' is not HOSTDIR:DIR[:ro] with DIR absolute and not /: e.g. -v \"$PWD:/work\"");
  if (struct stat st {}; stat(volume.host.c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    throw CLI::ValidationError("'" + volume.host + "' is not a directory on the host: create it or fix the path");
  return volume;
}
//! [parse_volume]

//! [setup_rootfs]
// Returns the working directory, open: resolved inside the root, and made if missing (docker does).
int setup_rootfs(const Config& config) {
  std::vector<int> volumes;  // the host directories, opened first: HOSTDIR may be relative
  for (const auto& volume : config.volumes)
    volumes.push_back(static_cast<int>(must(open(volume.host.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + volume.host)));
  // Room for writes, in the writable layer and in /tmp, each: tmpfs pages count against --memory.
  const long long size = config.tmpfs_size ? config.tmpfs_size : config.limits.memory ? config.limits.memory / 4 : 256LL << 20;
  mount_overlay(config.rootfs, size);
  const int root = static_cast<int>(must(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), "open the new root"));
  mount_all(root, container_mounts(config, volumes, size));
  make_devices(root);
  const int workdir = open_in_root(root, config.workdir, true);
  // pivot_root(".", ".") makes the overlay `/` and stacks the old root on top of it, where the
  // detach takes it away: no put_old directory, nothing of the host left to reach.
  must(syscall(SYS_pivot_root, ".", "."), "pivot_root to " + config.rootfs);
  must(umount2(".", MNT_DETACH), "detach the old root");
  must(chdir("/"), "chdir /");
  return workdir;  // the other descriptors opened here child() closes before COMMAND runs
}
//! [setup_rootfs]
