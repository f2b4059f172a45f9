// The matrix rows that become "yes" at step 5 (docs/mainpage.md, "What each step isolates"),
// checked at every step. Where the row is "yes" each protection is attacked from inside the
// container and must hold; before, the "no" is shown without changing the host (nothing is
// written, mounted or renamed there: the step's weakness is read from the container's own view).
//   OldRootGone  nothing of the host's filesystem is reachable
//   World        /dev, /sys, /tmp, hostname, network, IPC and cgroup namespaces, environment
//   Privileges   capabilities, no_new_privs, no user namespace, read-only kernel knobs, masked
//                paths, RLIMIT_NOFILE
//   Overlay      the rootfs on disk never changes
// The row about signals is in test_signals.cpp, the one about what of the caller crosses over in
// step5_crossing.cpp.
#include "harness.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace workshop;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t cap_sys_admin = uint64_t{1} << 21, cap_mknod = uint64_t{1} << 27;


uint64_t hex(const std::string& text) { return text.empty() ? ~uint64_t{0} : std::stoull(text, nullptr, 16); }

std::string device_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
}

// The container's mountinfo, as it sees it (/proc/self is the host's in steps 1-2).
std::vector<Mount> container_mounts() {
  const Result r = container({"cat", "/proc/self/mountinfo"});
  EXPECT_EQ(r.status, 0) << r;
  return mounts_of(r.out);
}

// A host file made for the case, whose content the container must not be able to read.
struct Marker {
  TempDir dir;
  std::string path = dir.path + "/marker";
  std::string content = unique_name("host-marker");
  Marker() { std::ofstream(path) << content << "\n"; }
};

// Every file and directory under `root`, with type, mode, owner, size, link target and
// content: equal texts mean an unchanged tree. Times are left out (reading changes atime).
std::string tree_fingerprint(const std::string& root) {
  std::ostringstream out;
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none);
       it != fs::recursive_directory_iterator(); ++it)
    paths.push_back(it->path());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    struct stat st {};
    lstat(path.c_str(), &st);
    out << fs::relative(path, root).string() << " " << std::oct << st.st_mode << std::dec << " "
        << st.st_uid << ":" << st.st_gid << " " << st.st_size;
    if (S_ISLNK(st.st_mode)) out << " -> " << fs::read_symlink(path).string();
    if (S_ISREG(st.st_mode)) out << " " << std::hash<std::string>{}(read_file(path));
    out << "\n";
  }
  return out.str();
}

// Sets this process's soft RLIMIT_NOFILE (which the runtime inherits) for the case's duration.
struct OpenFilesLimit {
  rlimit saved{};
  explicit OpenFilesLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &saved);
    rlimit changed = saved;
    changed.rlim_cur = std::min(soft, saved.rlim_max);
    setrlimit(RLIMIT_NOFILE, &changed);
  }
  ~OpenFilesLimit() { setrlimit(RLIMIT_NOFILE, &saved); }
};

}  // namespace

// --- the old root is gone ---------------------------------------------------------------------

// No mount of the host's root filesystem is left in the container's mount table: steps 1-2 have
// the host's own, steps 3-4 the old root at /.pivot_root.
TEST(OldRootGone, NoMountOfTheHostRootInside) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string host_root = device_of("/");
  const auto mounts = container_mounts();
  ASSERT_FALSE(mounts.empty());
  std::vector<std::string> host_mounts;
  for (const auto& m : mounts)
    if (m.device == host_root) host_mounts.push_back(m.point);
  if (!yes(row::old_root))
    EXPECT_FALSE(host_mounts.empty()) << "step " << step() << ": the host's root file system ("
                                      << host_root << ") is still mounted in the container";
  else
    EXPECT_TRUE(host_mounts.empty()) << "the host's root file system is mounted at "
                                     << testing::PrintToString(host_mounts);
}

// Every way back we know of: the host path itself, the article's put_old, `..` above `/`, and
// the roots and working directories /proc shows for PID 1 and for the shell itself.
TEST(OldRootGone, DotDotAndProcLinksStayInside) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Marker marker;
  std::string script = "cd /; ";
  for (const std::string way : {"", "/.pivot_root", "/..", "/../../..", "/proc/1/root",
                                 "/proc/self/root/..", "/proc/1/cwd/../..", "/.pivot_root/.."})
    script += "cat '" + way + marker.path + "' 2>&-; ";
  script += "ls -A /.pivot_root 2>&- | head -3; true";
  const Result r = shell(script);
  ASSERT_EQ(r.status, 0) << r;
  const bool reached = r.out.find(marker.content) != std::string::npos;
  if (!yes(row::old_root)) {
    EXPECT_TRUE(reached) << "step " << step() << ": the host file " << marker.path
                         << " is reachable (the matrix says no)" << r;
  } else {
    EXPECT_FALSE(reached) << "a host file is reachable from the container" << r;
    EXPECT_EQ(r.out, "") << "/.pivot_root, where a rootfs used by step 3 or 4 keeps an empty "
                            "directory, must hold nothing" << r;
  }
}

// --- the world --------------------------------------------------------------------------------

// Only docker's six harmless devices, the pts and shm mounts, and the std* and fd links: no
// disks, no /dev/mem, no /dev/kmsg. Steps 1-2 see the host's /dev, steps 3-4 the rootfs's.
TEST(World, DevHoldsOnlyHarmlessDevices) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("ls -A /dev; echo --; stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full "
                         "/dev/random /dev/urandom /dev/tty 2>&1 || true");
  ASSERT_EQ(r.status, 0) << r;
  const std::string listing = r.out.substr(0, r.out.find("--\n"));
  std::set<std::string> entries;
  for (const auto& name : lines(listing)) entries.insert(name);
  const std::set<std::string> expected{"fd",     "full",  "null",   "ptmx", "pts", "random", "shm",
                                       "stderr", "stdin", "stdout", "tty",  "urandom", "zero"};
  if (!yes(row::world)) {
    EXPECT_NE(entries, expected) << "step " << step() << ": /dev is not the minimal one" << r;
    return;
  }
  EXPECT_EQ(entries, expected) << r;
  for (const char* device : {"/dev/null character special file 1:3 666", "/dev/zero character special file 1:5 666",
                                    "/dev/full character special file 1:7 666", "/dev/random character special file 1:8 666",
                                    "/dev/urandom character special file 1:9 666", "/dev/tty character special file 5:0 666"})
    EXPECT_TRUE(has_line(r.out, device)) << device << r;
  const auto mounts = container_mounts();
  const Mount* dev = mount_at(mounts, "/dev");
  ASSERT_NE(dev, nullptr) << "/dev is a mount of its own";
  EXPECT_EQ(dev->type, "tmpfs");
  ASSERT_NE(mount_at(mounts, "/dev/pts"), nullptr);
  EXPECT_EQ(mount_at(mounts, "/dev/pts")->type, "devpts");
}

// /sys is read-only: writing back the value an attribute already has (harmless if it worked) fails.
TEST(World, SysIsReadOnly) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const auto mounts = container_mounts();
  const Mount* sys = mount_at(mounts, "/sys");
  if (!yes(row::world)) {
    EXPECT_FALSE(sys && sys->type == "sysfs" && read_only(sys))
        << "step " << step() << ": no read-only sysfs at /sys";
    return;
  }
  ASSERT_NE(sys, nullptr) << "a sysfs at /sys";
  EXPECT_EQ(sys->type, "sysfs");
  EXPECT_TRUE(read_only(sys)) << sys->options;
  const Result r = shell(only_in_namespaces() + "cat /sys/class/net/lo/mtu > /sys/class/net/lo/mtu && echo written; true");
  EXPECT_FALSE(has_line(r.out, "written")) << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
}

// /tmp is a tmpfs of the container's own: the host's /tmp (where the harness makes its
// directories) is not there, and every user may write into it.
TEST(World, TmpIsATmpfsOfItsOwn) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const TempDir host_dir;  // in the host's /tmp
  const Result r = shell("[ -d " + host_dir.path + " ] && echo host-tmp; stat -c %a /tmp");
  ASSERT_EQ(r.status, 0) << r;
  const auto mounts = container_mounts();
  const Mount* tmp = mount_at(mounts, "/tmp");
  const bool own = tmp && tmp->type == "tmpfs" && !has_line(r.out, "host-tmp");
  if (!yes(row::world)) {
    EXPECT_FALSE(own) << "step " << step() << ": /tmp is the host's or the rootfs's" << r;
    return;
  }
  EXPECT_TRUE(own) << r;
  EXPECT_EQ(last_line(r.out), "1777") << r;
}

TEST(World, HostnameIsContainer) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string host = lines(read_file("/proc/sys/kernel/hostname")).at(0);
  const Result r = container({"hostname"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(last_line(r.out), !yes(row::world) ? host : "container") << r;
}

// A network namespace of its own, with only lo, and lo up (IFF_UP, 0x1, in its flags).
TEST(World, NetworkIsOnlyLoopbackUp) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; tail -n +3 /proc/net/dev");
  ASSERT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_GE(out.size(), 3u) << r;
  if (!yes(row::world)) {
    EXPECT_EQ(out[0], own_namespace("net")) << "step " << step() << " shares the host's network" << r;
    return;
  }
  EXPECT_NE(out[0], own_namespace("net")) << r;
  EXPECT_EQ(hex(out[1]) & 0x1, 1u) << "lo is up" << r;
  std::vector<std::string> interfaces;
  for (size_t i = 2; i < out.size(); ++i) interfaces.push_back(out[i].substr(0, out[i].find(':')));
  for (auto& name : interfaces) name.erase(0, name.find_first_not_of(' '));
  EXPECT_EQ(interfaces, std::vector<std::string>{"lo"}) << r;
}

TEST(World, IpcNamespaceOfItsOwn) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"readlink", "/proc/self/ns/ipc"});
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::world))
    EXPECT_EQ(last_line(r.out), own_namespace("ipc")) << r;
  else
    EXPECT_NE(last_line(r.out), own_namespace("ipc")) << r;
}

// A cgroup namespace whose root is the container's own cgroup: every line of /proc/self/cgroup
// ends in ":/". (It must be made after the child joined its cgroup, or the root is the caller's.)
TEST(World, CgroupNamespaceShowsItsCgroupAsRoot) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("readlink /proc/self/ns/cgroup; cat /proc/self/cgroup");
  ASSERT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_GE(out.size(), 2u) << r;
  if (!yes(row::world)) {
    EXPECT_EQ(out[0], own_namespace("cgroup")) << "step " << step() << " shares the host's" << r;
    return;
  }
  EXPECT_NE(out[0], own_namespace("cgroup")) << r;
  for (size_t i = 1; i < out.size(); ++i) EXPECT_TRUE(out[i].ends_with(":/")) << out[i] << r;
}

// Nothing of the runtime's environment is inherited but TERM: PATH, HOME, HOSTNAME, TERM.
TEST(World, EnvironmentIsExactlyTheContracts) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"env"}, {.env = {"TERM=workshop-term", "WORKSHOP_LEAK=from-the-host"}});
  ASSERT_EQ(r.status, 0) << r;
  const auto env = lines(r.out);
  const std::set<std::string> got(env.begin(), env.end());
  if (!yes(row::world)) {
    EXPECT_TRUE(got.count("WORKSHOP_LEAK=from-the-host")) << "step " << step() << " inherits the host's" << r;
    return;
  }
  const std::set<std::string> expected{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                        "HOME=/root", "HOSTNAME=container", "TERM=workshop-term"};
  EXPECT_EQ(got, expected) << r;
}

// --- privileges -------------------------------------------------------------------------------

// Bounding, permitted and effective sets are docker's less CAP_MKNOD (as far as the host's
// bounding set has them); inheritable and ambient are empty.
TEST(Privileges, CapabilitiesAreDockersWithoutMknod) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string host = read_file("/proc/self/status");
  const Result r = container({"cat", "/proc/self/status"});
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::privileges)) {
    EXPECT_EQ(field(r.out, "CapBnd"), field(host, "CapBnd")) << "step " << step() << " keeps the host's" << r;
    EXPECT_TRUE(hex(field(r.out, "CapEff")) & cap_sys_admin) << r;
    return;
  }
  const uint64_t expected = docker_capabilities_without_mknod & hex(field(host, "CapBnd"));
  for (const char* set : {"CapBnd", "CapPrm", "CapEff"})
    EXPECT_EQ(hex(field(r.out, set)), expected) << set << r;
  EXPECT_EQ(hex(field(r.out, "CapInh")), 0u) << r;
  EXPECT_EQ(hex(field(r.out, "CapAmb")), 0u) << r;
}

TEST(Privileges, NoNewPrivs) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"cat", "/proc/self/status"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(field(r.out, "NoNewPrivs"), !yes(row::privileges) ? "0" : "1") << r;
}

// Root in the container cannot mount (not even to undo a mask or remount /proc/sys) nor make
// a device node. Before step 5 it could: CAP_SYS_ADMIN and CAP_MKNOD are there (not tried).
TEST(Privileges, MountAndMknodAreRefused) {
  REQUIRE_CONTAINER_PRIVILEGES();
  if (!yes(row::privileges)) {
    const Result r = container({"cat", "/proc/self/status"});
    const uint64_t effective = hex(field(r.out, "CapEff"));
    EXPECT_TRUE((effective & cap_sys_admin) && (effective & cap_mknod))
        << "step " << step() << ": root may mount and mknod" << r;
    return;
  }
  const Result r = shell(only_in_namespaces() +
      "mount -t tmpfs none /mnt && echo mounted; "
      "mount -o remount,rw /proc/sys && echo remounted; "
      "umount /proc/timer_list && echo unmasked; umount -l /proc/acpi && echo unmasked; "
      "mknod /dev/disk b 8 0 && echo made-block; mknod /dev/null2 c 1 3 && echo made-char; "
      "rm -f /dev/disk /dev/null2; cat /proc/timer_list | wc -c");
  for (const char* broken : {"mounted", "remounted", "unmasked", "made-block", "made-char"})
    EXPECT_FALSE(has_line(r.out, broken)) << broken << r;
  EXPECT_EQ(last_line(r.out), "0") << "/proc/timer_list is still masked" << r;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r;
}

// A user namespace gives its maker every capability back, over what the namespace owns: a cgroup
// v1 hierarchy mounted there, kernel code otherwise reserved to CAP_SYS_ADMIN. docker's seccomp
// profile refuses to make one, with `unshare` and through `clone` (clone3, whose flags a filter
// cannot read, answers ENOSYS). Before step 5 root inside makes one (harmless: it goes with the
// command). Every call of the profile: Step5Attacks.SeccompRefusesWhatDockerRefuses.
TEST(Privileges, UserNamespacesAreRefused) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const ProbeRootfs probe;
  const Result r = shell("unshare -U true && echo unshared; " + probe.probe() + " calls clone-newuser clone3", {}, probe.options);
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::privileges)) {
    EXPECT_EQ(r.out, "unshared\nclone-newuser OK\nclone3 OK\n") << "step " << step() << ": user namespaces are made" << r;
    return;
  }
  EXPECT_EQ(r.out, "clone-newuser EPERM\nclone3 ENOSYS\n") << r;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r;
}

// /proc/sys is read-only: the kernel lets anyone with write access set the hostname through it,
// no capability asked. (The hostname belongs to the UTS namespace: trying it changes no host.)
// Where the row says "no", root in the container may write there: asked of access(2), which
// says EROFS on a read-only mount, without writing.
TEST(Privileges, KernelKnobsAreReadOnly) {
  REQUIRE_ROOT();  // also at step 1: only root may write to /proc/sys
  if (!yes(row::privileges)) {
    const Result r = shell("[ -w /proc/sys/kernel/hostname ] && echo writable; true");
    EXPECT_EQ(r.out, "writable\n") << "step " << step() << ": /proc/sys is writable" << r;
    return;
  }
  const std::string name = unique_name("knob");
  const Result r = shell(only_in_namespaces() + "echo " + name + " > /proc/sys/kernel/hostname; hostname");
  EXPECT_EQ(lines(r.out).at(0), "container") << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
  // The other knobs are not written to (they are the host's): their mounts must be read-only.
  const auto mounts = container_mounts();
  for (const char* path : {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"})
    if (fs::exists(path)) {
      EXPECT_TRUE(read_only(mount_at(mounts, path))) << path << " is read-only";
    }
}

// docker's masked paths that exist here read as empty: files as /dev/null, directories empty.
TEST(Privileges, MaskedPathsReadEmpty) {
  REQUIRE_CONTAINER_PRIVILEGES();
  std::vector<std::string> files, dirs;
  for (const char* path : {"/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                           "/proc/sched_debug"})
    if (fs::is_regular_file(path) && !read_file(path).empty()) files.push_back(path);
  for (const char* path : {"/proc/asound", "/proc/acpi", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"})
    if (fs::is_directory(path) && !fs::is_empty(path)) dirs.push_back(path);
  ASSERT_FALSE(files.empty()) << "this kernel has none of docker's masked /proc files";
  std::string script;
  for (const auto& file : files) script += "echo " + file + " $(cat " + file + " 2>&- | wc -c); ";
  for (const auto& dir : dirs) script += "echo " + dir + " $(ls -A " + dir + " 2>&- | wc -l); ";
  const Result r = shell(script);
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::privileges)) {  // timer_list shows every CPU's timers, from any /proc
    EXPECT_FALSE(has_line(r.out, "/proc/timer_list 0")) << "step " << step() << ": not masked" << r;
    return;
  }
  for (const auto& path : files) EXPECT_TRUE(has_line(r.out, path + " 0")) << path << r;
  for (const auto& path : dirs) EXPECT_TRUE(has_line(r.out, path + " 0")) << path << r;
}

// RLIMIT_NOFILE is the runtime's choice, 1024 soft and at most 524288 hard, not the caller's.
TEST(Privileges, OpenFilesLimitIsSetByTheRuntime) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const OpenFilesLimit caller(777);
  rlimit own{};
  getrlimit(RLIMIT_NOFILE, &own);
  const Result r = shell("ulimit -n; ulimit -Hn");
  ASSERT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u) << r;
  if (!yes(row::privileges)) {
    EXPECT_EQ(out[0], std::to_string(own.rlim_cur)) << "step " << step() << " inherits the caller's" << r;
    return;
  }
  EXPECT_EQ(out[0], "1024") << r;
  EXPECT_EQ(out[1], std::to_string(std::min<rlim_t>(own.rlim_max, 524288))) << r;
}

// --- a throwaway writable layer ---------------------------------------------------------------

// The container writes, rewrites and deletes files in `/` and sees its changes; the rootfs on
// disk is byte for byte what it was. Steps 1-4 write straight into the file system under `/`
// (shown without writing: the container's `/` is on the same device as the rootfs or the host).
TEST(Overlay, RootfsOnDiskNeverChanges) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const auto mounts = container_mounts();
  const Mount* root = mount_at(mounts, "/");
  ASSERT_NE(root, nullptr);
  const std::string disk = device_of(yes(row::rootfs) ? rootfs() : "/");
  if (!yes(row::overlay)) {
    EXPECT_EQ(root->device, disk) << "step " << step() << ": `/` is the file system on disk";
    return;
  }
  // Writing below would damage the shared rootfs (or the host) if `/` were still the disk.
  ASSERT_NE(root->device, disk) << "`/` is the rootfs on disk itself: not writing into it";
  const std::string before = tree_fingerprint(rootfs());
  const Result r = shell(only_in_namespaces() +
      "echo changed > /etc/os-release && mkdir -p /new/dir && echo new > /new/dir/file && "
      "chmod 700 /bin && rm -f /etc/passwd && ln -s /nowhere /etc/group2 && "
      "cat /etc/os-release /new/dir/file && ls /etc/passwd 2>&1; stat -c %a /bin; rm -f /bin/busybox");
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "changed") && has_line(r.out, "new") && has_line(r.out, "700"))
      << "the container sees its own writes" << r;
  EXPECT_EQ(tree_fingerprint(rootfs()), before) << "the rootfs on disk changed" << r;
  const Result again = container({"cat", "/etc/os-release"});
  EXPECT_TRUE(has_line(again.out, "ID=workshop")) << "the next container starts afresh" << again;
}
