// The bonus's root: podman's overlay of the image, the mounts config.json lists (/proc, /dev, /sys,
// podman's /etc/hosts...), the kernel's files made read-only or masked, then pivot_root and the
// old root gone. Every mount target is resolved inside the new root, never on the host.
#include "container.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace {

//! [mounts]
// The container's mounts, in order: config.json's (each may go inside one made before it), then
// the kernel's files to protect (linux.readonlyPaths and maskedPaths: inside /proc and /sys).
std::vector<Mount> protected_paths(const Config& config) {
  std::vector<Mount> mounts;
  for (const auto& path : config.read_only_paths) mounts.push_back({"", path, "bind", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC});
  for (const auto& path : config.masked_paths) mounts.push_back({"", path, "mask"});
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

// An empty file at `path` in the container, unless something is there: a file is bound only onto
// a file. mknodat makes it without following a symlink, in a directory resolved inside the root.
void make_file(int root, const std::string& path) {
  if (const int fd = open_in_root(root, path, false); fd != -1) return (void)close(fd);
  const std::filesystem::path file(path);
  const int parent = open_in_root(root, file.parent_path(), true);
  if (mknodat(parent, file.filename().c_str(), S_IFREG | 0644, 0) == -1 && errno != EEXIST) must(-1, "create " + path + " in the container");
  close(parent);
}

//! [mount_all]
// Each mount onto its target opened inside the root, through /proc/self/fd/N: the host's /proc
// still, which follows the link to that very directory, wherever it is.
void mount_all(int root, const std::vector<Mount>& mounts) {
  for (const Mount& m : mounts) {
    if (m.type == "cgroup") continue;  // not inside: step 5 has no /sys/fs/cgroup either
    const bool optional = m.type == "mask" || (m.type == "bind" && m.source.empty());  // this kernel may lack it
    if (struct stat source {}; m.type == "bind" && stat(m.source.c_str(), &source) == 0 && !S_ISDIR(source.st_mode))
      make_file(root, m.target);  // a file bound onto a file: podman's /etc/hosts, /etc/hostname
    const int target = open_in_root(root, m.target, !optional);
    if (target == -1) continue;
    const std::string at = "/proc/self/fd/" + std::to_string(target);
    struct stat st {};
    must(fstat(target, &st), "stat " + m.target);
    if (m.type == "bind") {
      must(mount(m.source.empty() ? at.c_str() : m.source.c_str(), at.c_str(), nullptr, MS_BIND | (m.flags & MS_REC), nullptr), "bind " + m.target);
      // A bind mount takes no flags when made (MS_RDONLY and the rest are ignored): remount it,
      // through its own root (`target` still names the directory under it).
      const int bound = open_in_root(root, m.target, false);
      must(mount(nullptr, ("/proc/self/fd/" + std::to_string(bound)).c_str(), nullptr, MS_BIND | MS_REMOUNT | (m.flags & ~MS_REC), nullptr), "remount " + m.target);
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
  for (const auto& [name, major, minor] : devices) {
    must(mknodat(dev, name, S_IFCHR | 0666, makedev(major, minor)), std::string("mknod /dev/") + name);
    must(fchmodat(dev, name, 0666, 0), std::string("chmod /dev/") + name);  // the umask took some
  }
  for (const auto& [target, link] : links) must(symlinkat(target, dev, link), std::string("symlink /dev/") + link);
  close(dev);
}
//! [make_devices]

//! [bind_root]
// podman's root: an overlay of the image's layers it mounted, with a writable layer of the
// container's own on top: the throwaway layer step 5 made itself. pivot_root needs the new root to
// be a mount point of our mount namespace: bound onto itself, it is. nodev: a device node shipped
// in the image does not open (/dev, mounted over it, holds the ones that should).
void bind_root(const std::string& rootfs) {
  must(mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind " + rootfs);
  must(mount(nullptr, rootfs.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_NODEV, nullptr), "remount " + rootfs + " nodev");
  must(chdir(rootfs.c_str()), "chdir " + rootfs);
}
//! [bind_root]

//! [write_sysctls]
// linux.sysctl: the kernel's knobs the config sets, those of the container's namespaces
// (net.*: its network namespace's), written through its /proc before /proc/sys goes read-only.
void write_sysctls(int root, const std::vector<std::pair<std::string, std::string>>& sysctl) {
  for (auto [key, value] : sysctl) {
    std::replace(key.begin(), key.end(), '.', '/');
    const int knob = open_in_root(root, "/proc/sys/" + key, false);
    if (knob == -1) fail("linux.sysctl: this kernel has no /proc/sys/" + key);
    const int fd = static_cast<int>(must(open(("/proc/self/fd/" + std::to_string(knob)).c_str(), O_WRONLY | O_CLOEXEC), "open /proc/sys/" + key));
    must(write(fd, value.data(), value.size()), "write /proc/sys/" + key);
    close(fd);
    close(knob);
  }
}
//! [write_sysctls]

}  // namespace

//! [setup_rootfs]
// Returns the working directory, open: resolved inside the root, and made if missing (docker does).
int setup_rootfs(const Config& config) {
  bind_root(config.rootfs);
  const int root = static_cast<int>(must(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), "open the new root"));
  mount_all(root, config.mounts);
  write_sysctls(root, config.sysctl);
  mount_all(root, protected_paths(config));
  make_devices(root);
  const int workdir = open_in_root(root, config.workdir, true);
  // root.readonly: now that every mount target is made in it.
  if (config.read_only_root) must(mount(nullptr, ".", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, nullptr), "remount / read-only");
  // pivot_root(".", ".") makes the overlay `/` and stacks the old root on top of it, where the
  // detach takes it away: no put_old directory, nothing of the host left to reach.
  must(syscall(SYS_pivot_root, ".", "."), "pivot_root to " + config.rootfs);
  must(umount2(".", MNT_DETACH), "detach the old root");
  must(chdir("/"), "chdir /");
  close(root);
  return workdir;
}
//! [setup_rootfs]
