// Step 5, the complete container: step 4 plus the world a real runtime sets up before
// COMMAND runs. The child writes into a throwaway overlay on the rootfs, gets a fresh /proc
// with the kernel's knobs read-only, a read-only /sys, a /dev with six harmless devices, a
// /tmp, volumes, its own hostname, network, IPC and cgroup namespaces, a user, an environment
// and a workdir, and only docker's capabilities. The old root is gone. The parent forwards
// SIGINT, SIGTERM and SIGHUP, and the container dies with it. cgroup.cpp is step 4's.
#include "cgroup.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr const char* program = "step5-complete";

//! [clone_flags]
// New UTS (hostname), PID, mount and IPC namespaces; parent() adds a network namespace
// unless --net host. The cgroup namespace comes later (see child()).
constexpr unsigned long clone_flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
//! [clone_flags]

// `docker run`'s exit statuses for a failure before COMMAND runs.
constexpr int runtime_failed = 125, cannot_execute = 126, not_found = 127;

// parent() sets this in the child's environment, so `child` typed by hand is refused.
constexpr const char* child_marker = "WORKSHOP_CHILD";

//! [grace]
// How long PID 1 may take to exit after a forwarded signal before it is SIGKILLed: enough
// for a program that handles SIGTERM to finish writing; short enough that whoever stops the
// runtime (kill, systemd, a Ctrl-C) is not kept waiting. (`docker stop` waits 10 s.)
constexpr auto grace = std::chrono::seconds(2);
//! [grace]

//! [capabilities]
// docker's default capabilities, less CAP_MKNOD: docker may allow mknod because its device
// cgroup refuses to open the node; with no device cgroup here, a node for the host's disk
// would open. Everything else (CAP_SYS_ADMIN: mount; CAP_NET_ADMIN; CAP_SYS_MODULE ...) goes.
constexpr int kept_capabilities[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,           CAP_NET_RAW,
                                     CAP_SETGID, CAP_SETUID,       CAP_SETFCAP, CAP_SETPCAP,          CAP_SYS_CHROOT,
                                     CAP_KILL,   CAP_AUDIT_WRITE,  CAP_NET_BIND_SERVICE};
//! [capabilities]

//! [kernel_paths]
// docker's lists. Read-only: the kernel's knobs (/proc/sys/kernel/hostname needs no capability
// at all to write). Masked: files that leak the host's memory, keys or timers, and firmware.
constexpr const char* read_only_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
constexpr const char* masked_paths[] = {"/proc/asound",     "/proc/acpi",        "/proc/kcore",       "/proc/keys",
                                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                                        "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap"};
//! [kernel_paths]

struct Config {
  std::vector<std::string> command;
  std::string rootfs = WORKSHOP_ROOTFS;  // the workshop's built rootfs, set by CMake
  Limits limits;                         // for the container's cgroup (cgroup.hpp)
  std::string hostname = "container";
  std::vector<std::string> env;          // -e KEY=VALUE, in order
  std::string workdir = "/";
  std::string user = "0:0";              // -u UID[:GID]
  std::vector<std::string> volumes;      // -v HOSTDIR:DIR[:ro]
  std::string net = "none";              // or "host"
};

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Volume {
  std::string host, dir;
  bool read_only = false;
  int source = -1;  // an O_PATH file descriptor on `host`, see open_volumes()
};

[[noreturn]] void fail(const std::string& message, int status = runtime_failed) {
  std::fprintf(stderr, "%s: %s\n", program, message.c_str());
  std::exit(status);
}

// The article's must(): a failed system call stops the program, saying which and why.
long must(long result, const std::string& what) {
  if (result == -1) fail(what + ": " + std::strerror(errno));
  return result;
}

std::vector<char*> as_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

//! [clone_child]
// fork(), but with clone flags: the place where step 2 asks for new namespaces. And
// where a cgroup v2 child gets its cgroup: `cgroup`, a directory's fd (-1: ours).
pid_t clone_child(unsigned long flags, int cgroup) {
  clone_args args{.flags = flags, .exit_signal = SIGCHLD};
  if (cgroup != -1) {  // kernel 5.7+: the child is born in it, and never runs outside
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = cgroup;
  }
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}
//! [clone_child]

// "UID[:GID]", numbers only (the rootfs's /etc/passwd is not read). Without GID, 0, as docker
// does for a uid that has no passwd entry.
std::optional<User> parse_user(const std::string& text) {
  auto number = [](std::string_view digits, uint32_t& out) {
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return !digits.empty() && error == std::errc{} && end == digits.data() + digits.size() && out != uint32_t(-1);
  };
  const auto colon = text.find(':');
  User user;
  if (!number(std::string_view(text).substr(0, colon), user.uid)) return std::nullopt;
  if (colon != std::string::npos && !number(std::string_view(text).substr(colon + 1), user.gid)) return std::nullopt;
  return user;
}

// "HOSTDIR:DIR[:ro]"; DIR comes back normalized ("/data/" -> "/data").
std::optional<Volume> parse_volume(const std::string& text) {
  Volume volume;
  const auto first = text.find(':'), second = text.find(':', first + 1);
  if (first == std::string::npos || first == 0) return std::nullopt;
  volume.host = text.substr(0, first);
  volume.dir = text.substr(first + 1, second == std::string::npos ? second : second - first - 1);
  if (second != std::string::npos) {
    const std::string mode = text.substr(second + 1);
    if (mode != "ro" && mode != "rw") return std::nullopt;
    volume.read_only = mode == "ro";
  }
  volume.dir = std::filesystem::path(volume.dir).lexically_normal().string();
  while (volume.dir.size() > 1 && volume.dir.back() == '/') volume.dir.pop_back();
  if (!volume.dir.starts_with('/') || volume.dir == "/") return std::nullopt;
  return volume;
}

//! [wait_for]
// Waits for the container and returns its exit status as docker does: COMMAND's, or 128+N
// when signal N killed it. SIGINT, SIGTERM and SIGHUP sent to the runtime go to the
// container's PID 1. PID 1 ignores every signal it has no handler for, so a container still
// running `grace` after the first one is SIGKILLed. `signals` is blocked: no handler runs,
// sigtimedwait() takes them, and SIGCHLD says the child has exited.
int wait_for(pid_t pid, const sigset_t& signals) {
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  int status = 0;
  while (must(waitpid(pid, &status, WNOHANG), "waitpid") != pid) {
    timespec left{};
    if (kill_at) {
      const auto ns = std::max(*kill_at - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration{});
      left.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(ns).count();
      left.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(ns % std::chrono::seconds(1)).count();
    }
    const int sig = sigtimedwait(&signals, nullptr, kill_at ? &left : nullptr);
    if (sig == -1 && errno == EAGAIN) {  // the grace period is over
      kill(pid, SIGKILL);
      kill_at.reset();
    } else if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
      kill(pid, sig);
      if (!kill_at) kill_at = std::chrono::steady_clock::now() + grace;
    }
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);  // docker's 128+N
}
//! [wait_for]

//! [parent]
// `run`: re-execute this program as `child` with the same arguments, and wait.
int parent(const Config& config, int argc, char** argv) {
  if (struct stat st {}; stat((config.rootfs + "/proc").c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    fail("rootfs '" + config.rootfs + "' is not a root filesystem: it has no /proc (build one with "
         "'cmake --build build --target rootfs' or pass --rootfs DIR)");
  std::vector<std::string> args{program, "child"};
  args.insert(args.end(), argv + 2, argv + argc);  // everything after `run`
  int go[2];  // the child waits on go[0] until we release it (wait_for_release)
  must(pipe(go), "pipe");
  must(setenv(child_marker, std::to_string(go[0]).c_str(), 1), "setenv");  // the marker says where

  // Block the signals wait_for() takes before clone, so that none is lost in between (the
  // child unblocks them), and SIGTTOU, which would stop us for handing the terminal over.
  sigset_t signals, blocked;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&signals, sig);
  blocked = signals;
  sigaddset(&blocked, SIGTTOU);
  must(sigprocmask(SIG_BLOCK, &blocked, nullptr), "sigprocmask");
  // When we own the terminal, the container gets it, as with `docker run -it`: Ctrl-C then
  // goes to the container's processes (a shell at its prompt ignores it), not to us.
  const bool foreground = tcgetpgrp(STDIN_FILENO) == getpgrp();
  const Cgroup cgroup(program, config.limits);  // before the child, so that it starts inside
  if (!cgroup.error().empty()) fail(cgroup.error());  // nothing is left of it

  pid_t pid = clone_child(clone_flags | (config.net == "none" ? CLONE_NEWNET : 0), cgroup.clone_into());
  if (pid == -1) {  // not fail(): exit() runs no destructor, and the cgroup would stay
    std::fprintf(stderr, "%s: clone: %s\n", program, std::strerror(errno));
    return runtime_failed;
  }
  if (pid == 0) {
    const std::string error = cgroup.join();  // v1: the child's first act (v2: it is in)
    if (!error.empty()) fail(error);
    close(go[1]);  // the parent holds the only write end: its exit is the child's end of file
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // and its death, even by SIGKILL, is the child's
    if (foreground) setpgid(0, 0);
    execv("/proc/self/exe", as_argv(args).data());
    fail(std::string("exec /proc/self/exe: ") + std::strerror(errno));
  }
  close(go[0]);
  if (foreground) {
    setpgid(pid, pid);  // also here: whichever of the two runs first makes the group
    tcsetpgrp(STDIN_FILENO, pid);
  }
  must(write(go[1], "1", 1), "start the child");  // go[1] stays open: see switch_user()
  const int status = wait_for(pid, signals);
  if (foreground) tcsetpgrp(STDIN_FILENO, getpgrp());  // take the terminal back
  if (cgroup.oom_killed()) std::fprintf(stderr, "%s: the container reached its memory limit: the kernel killed a process in it\n", program);
  return status;
}
//! [parent]

//! [mount_overlay]
// Builds a throwaway copy of the rootfs and moves into it: an overlay whose read-only lower
// layer is the rootfs and whose upper layer, where every write lands, is on a tmpfs mounted
// over the rootfs directory in this mount namespace only. The host sees no mount and no
// scratch directory, the rootfs on disk never changes, and parallel containers share it. The
// rootfs, hidden under the tmpfs, is named by a file descriptor and the layers by relative
// paths, so no path in the options needs escaping.
void mount_overlay(const std::string& rootfs) {
  const std::string dir = std::filesystem::absolute(rootfs);  // still right after the chdir
  const int lower = static_cast<int>(must(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + dir));
  must(mount("tmpfs", dir.c_str(), "tmpfs", 0, "mode=0755"), "mount a tmpfs on " + dir);
  must(chdir(dir.c_str()), "chdir " + dir);
  must(mkdir("upper", 0755), "mkdir upper");  // its mode and owner become those of `/`
  must(mkdir("work", 0700), "mkdir work");
  const std::string layers = "lowerdir=/proc/self/fd/" + std::to_string(lower) + ",upperdir=upper,workdir=work";
  if (mount("overlay", dir.c_str(), "overlay", 0, layers.c_str()) == -1) {
    if (errno == ENODEV) fail("overlayfs is not available: load it with 'modprobe overlay'");
    must(-1, "mount overlay on " + dir);
  }
  close(lower);
  must(chdir(dir.c_str()), "chdir " + dir);  // into the overlay, on top of the tmpfs
}
//! [mount_overlay]

// A directory to mount on, made when the rootfs lacks it (in the throwaway layer).
void make_mount_point(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) fail("cannot create " + dir + " in the container: " + error.message());
}

//! [mount_dev]
// A /dev of our own with docker's six harmless devices, made with mknod while we still have
// CAP_MKNOD: the host's /dev would hand the container its disks, memory and kernel log.
void mount_dev() {
  struct Device {
    const char* name;
    unsigned major, minor;
  };
  constexpr Device devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  constexpr const char* links[][2] = {{"/proc/self/fd", "/dev/fd"},         {"/proc/self/fd/0", "/dev/stdin"},
                                      {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
                                      {"pts/ptmx", "/dev/ptmx"}};
  make_mount_point("/dev");
  must(mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=0755,size=65536k"), "mount /dev");
  const mode_t umask_was = umask(0);  // 0666, not 0644
  for (const auto& [name, major, minor] : devices) {
    const std::string path = std::string("/dev/") + name;
    must(mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)), "mknod " + path);
  }
  umask(umask_was);
  for (const auto& [target, link] : links) must(symlink(target, link), std::string("symlink ") + link);
  // Pseudo-terminals of the container's own (newinstance), and POSIX shared memory.
  must(mkdir("/dev/pts", 0755), "mkdir /dev/pts");
  must(mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"), "mount /dev/pts");
  must(mkdir("/dev/shm", 01777), "mkdir /dev/shm");
  must(mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"), "mount /dev/shm");
}
//! [mount_dev]

//! [mount_proc_sys]
// The PID namespace is new, but /proc still shows the host's: mount the container's own.
// sysfs shows the network devices of the namespace that mounts it; read-only.
void mount_proc_and_sys() {
  make_mount_point("/proc");
  must(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), "mount /proc");
  make_mount_point("/sys");
  must(mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), "mount /sys");
}
//! [mount_proc_sys]

//! [protect_kernel_files]
// docker's read-only paths: a bind mount of each onto itself, then a remount, because a bind
// mount ignores MS_RDONLY when it is made. docker's masked paths: /dev/null over a file, an
// empty read-only tmpfs over a directory. Paths this kernel lacks are skipped.
void protect_kernel_files() {
  for (const char* path : read_only_paths) {
    if (mount(path, path, nullptr, MS_BIND, nullptr) == -1 && errno == ENOENT) continue;
    must(mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
         std::string("make read-only ") + path);
  }
  for (const char* path : masked_paths) {
    struct stat st {};
    if (stat(path, &st) == -1) continue;
    if (S_ISDIR(st.st_mode))
      must(mount("tmpfs", path, "tmpfs", MS_RDONLY, nullptr), std::string("mask ") + path);
    else
      must(mount("/dev/null", path, nullptr, MS_BIND, nullptr), std::string("mask ") + path);
  }
}
//! [protect_kernel_files]

//! [mount_volumes]
// The host directories of -v, opened while host paths still resolve: after pivot_root, `/` is
// the container's, and /proc/self/fd/N is the way back to them.
std::vector<Volume> open_volumes(const std::vector<std::string>& texts) {
  std::vector<Volume> volumes;
  for (const auto& text : texts) {
    Volume volume = *parse_volume(text);
    volume.source = static_cast<int>(must(open(volume.host.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + volume.host));
    volumes.push_back(volume);
  }
  return volumes;
}

// Each bound at its DIR without the mounts below it (a recursive bind would bring those in,
// and leave them writable under :ro). The remount makes it nosuid and nodev (no device
// cgroup here) and, for :ro, read-only: a bind mount ignores MS_RDONLY when it is made.
void mount_volumes(const std::vector<Volume>& volumes) {
  for (const auto& volume : volumes) {
    const std::string source = "/proc/self/fd/" + std::to_string(volume.source);
    make_mount_point(volume.dir);
    must(mount(source.c_str(), volume.dir.c_str(), nullptr, MS_BIND, nullptr), "bind " + volume.host + " to " + volume.dir);
    const unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (volume.read_only ? MS_RDONLY : 0);
    must(mount(nullptr, volume.dir.c_str(), nullptr, flags, nullptr), "remount " + volume.dir);
    close(volume.source);
  }
}
//! [mount_volumes]

//! [setup_rootfs]
void setup_rootfs(const Config& config) {
  const std::vector<Volume> volumes = open_volumes(config.volumes);  // first: HOSTDIR may be relative
  mount_overlay(config.rootfs);
  // pivot_root(".", ".") makes the overlay `/` and stacks the old root on top of it, where
  // the detach at the end takes it away: no put_old directory, nothing of the host left to
  // reach. In between, `/`, `..` and every symlink already resolve inside the container, so
  // a rootfs symlink such as /data -> /etc cannot send a mount or mkdir to the host's /etc;
  // and the old root's mounts can still be bound from (volumes), and proc still be mounted
  // (in a user namespace that fails once the old root is gone).
  must(syscall(SYS_pivot_root, ".", "."), "pivot_root to " + config.rootfs);
  mount_dev();
  mount_proc_and_sys();
  protect_kernel_files();
  make_mount_point("/tmp");
  must(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"), "mount /tmp");
  mount_volumes(volumes);  // last, as docker: `-v data:/tmp` wins over our /tmp
  must(umount2(".", MNT_DETACH), "detach the old root");
  must(chdir("/"), "chdir /");
}
//! [setup_rootfs]

//! [wait_for_release]
// The child's first step: wait until the parent releases it (one byte on the pipe), once the
// terminal is the container's. End of file instead means the parent failed (and said why) or
// died: run nothing. The pipe stays open until COMMAND starts: switch_user() looks at it again.
void wait_for_release(int fd) {
  char go = 0;
  if (read(fd, &go, 1) != 1) std::exit(runtime_failed);
  must(fcntl(fd, F_SETFD, FD_CLOEXEC), "fcntl");
}
//! [wait_for_release]

//! [bring_up_loopback]
// A new network namespace has one interface, lo, and it is down. Up, it also gets 127.0.0.1.
void bring_up_loopback() {
  const int fd = static_cast<int>(must(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
  ifreq lo{};
  std::strcpy(lo.ifr_name, "lo");
  must(ioctl(fd, SIOCGIFFLAGS, &lo), "read the flags of lo");
  lo.ifr_flags |= IFF_UP;
  must(ioctl(fd, SIOCSIFFLAGS, &lo), "bring lo up");
  close(fd);
}
//! [bring_up_loopback]

//! [limit_open_files]
// The runtime's own limit may be huge (systemd gives services a million), and programs that
// close every possible fd at start then crawl. 1024 soft, as select() needs, and 524288 hard,
// as systemd and containerd 2 give. Raising a hard limit needs CAP_SYS_RESOURCE: only lower it.
void limit_open_files() {
  rlimit limit{};
  must(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
  limit.rlim_max = std::min<rlim_t>(limit.rlim_max, 524288);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1024);
  must(setrlimit(RLIMIT_NOFILE, &limit), "setrlimit(RLIMIT_NOFILE)");
}
//! [limit_open_files]

//! [drop_capabilities]
// Root keeps only kept_capabilities. The bounding set limits what any later execve can give,
// even a setuid-root binary's; shrinking it needs CAP_SETPCAP, so this runs while we are still
// root. Permitted and effective shrink to the same set, inheritable and ambient empty them.
void drop_capabilities() {
  uint64_t keep = 0;
  for (int cap : kept_capabilities) keep |= uint64_t{1} << cap;
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap)
    if (!(keep & uint64_t{1} << cap)) must(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability " + std::to_string(cap));
  must(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear the ambient capabilities");
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct sets[2];
  must(syscall(SYS_capget, &header, sets), "capget");
  for (int i = 0; i < 2; ++i) {
    const auto mask = static_cast<uint32_t>(keep >> (32 * i));
    sets[i] = {.effective = sets[i].effective & mask, .permitted = sets[i].permitted & mask, .inheritable = 0};
  }
  must(syscall(SYS_capset, &header, sets), "capset");
}
//! [drop_capabilities]

//! [switch_user]
// To another user, without root's supplementary groups. From uid 0 to any other, the kernel
// empties the permitted and effective capabilities by itself. It also clears the
// parent-death signal: ask for it again, then make sure the parent did not die in between
// (no signal would come then): its end of the pipe `go` is closed only by its exit.
void switch_user(const User& user, int go) {
  must(setgroups(0, nullptr), "setgroups");
  must(setresgid(user.gid, user.gid, user.gid), "setresgid " + std::to_string(user.gid));
  must(setresuid(user.uid, user.uid, user.uid), "setresuid " + std::to_string(user.uid));
  must(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl(PR_SET_PDEATHSIG)");
  pollfd parent{.fd = go, .events = POLLIN};
  if (poll(&parent, 1, 0) != 0) std::exit(runtime_failed);  // end of file: the parent is gone
}
//! [switch_user]

//! [container_environment]
// Built from nothing, nothing inherited from the host: docker's PATH, HOME, HOSTNAME, the
// host's TERM (a shell needs it to edit lines), then the -e values, which win.
std::vector<std::string> container_environment(const Config& config, const User& user) {
  std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               user.uid == 0 ? "HOME=/root" : "HOME=/", "HOSTNAME=" + config.hostname};
  if (const char* term = std::getenv("TERM")) env.push_back(std::string("TERM=") + term);
  for (const auto& entry : config.env) {
    const std::string name = entry.substr(0, entry.find('=') + 1);  // "KEY="
    std::erase_if(env, [&](const std::string& set) { return set.starts_with(name); });
    env.push_back(entry);
  }
  return env;
}
//! [container_environment]

//! [child]
// `child`: runs in the new process, sets up the container, and becomes COMMAND.
[[noreturn]] void child(const Config& config) {
  if (std::getenv(child_marker) == nullptr) fail("'child' is internal: use 'run COMMAND'");
  const int go = std::atoi(std::getenv(child_marker));
  wait_for_release(go);
  must(unsetenv(child_marker), "unsetenv");
  // The cgroup namespace's root is the cgroup we are in when we make it: now, in our own.
  must(unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)");
  // The new mount namespace starts as a copy of the host's, sharing its propagation:
  // on a systemd host ("/" shared) a mount made here would appear on the host too.
  must(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  umask(022);  // docker's: with the caller's 077, `/` (see mount_overlay) would shut out -u users
  setup_rootfs(config);
  must(sethostname(config.hostname.data(), config.hostname.size()), "sethostname");
  if (config.net == "none") bring_up_loopback();
  limit_open_files();
  std::error_code error;  // docker makes a missing workdir, as root; it lands in the overlay
  std::filesystem::create_directories(config.workdir, error);
  if (error) fail("cannot create workdir " + config.workdir + ": " + error.message());

  const User user = *parse_user(config.user);
  drop_capabilities();
  switch_user(user, go);
  must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");  // setuid bits and file capabilities stop working
  const std::vector<std::string> env = container_environment(config, user);
  std::vector<char*> envp = as_argv(env);
  environ = envp.data();  // execvp searches this PATH and passes it all on
  must(chdir(config.workdir.c_str()), "chdir " + config.workdir);
  sigset_t none;  // parent() blocked signals, and the mask survives execve
  sigemptyset(&none);
  must(sigprocmask(SIG_SETMASK, &none, nullptr), "sigprocmask");
  execvp(config.command[0].c_str(), as_argv(config.command).data());
  if (errno == ENOENT) fail("'" + config.command[0] + "' not found (is it in PATH?)", not_found);
  fail("cannot execute '" + config.command[0] + "': " + std::strerror(errno), cannot_execute);
}
//! [child]

//! [parse_limits]
// CLI11 transforms for the limits: each returns what is wrong with the value (CLI11 makes it
// an error, exit 125), or "" after rewriting the value as a plain number (64m: 67108864).
std::string parse_memory(std::string& value) {
  static const std::map<std::string, int> shift{{"", 0}, {"k", 10}, {"K", 10}, {"m", 20}, {"M", 20}, {"g", 30}, {"G", 30}};
  long long bytes = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), bytes);
  const auto unit = shift.find(end);  // what follows the number
  if (error != std::errc{} || bytes <= 0 || unit == shift.end() || bytes > LLONG_MAX >> unit->second)
    return "'" + value + "' is not a size: give bytes, or a number with a k, m or g suffix (--memory 64m)";
  value = std::to_string(bytes << unit->second);
  return "";
}

std::string parse_pids(std::string& value) {
  long long pids = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), pids);
  if (error != std::errc{} || end != value.data() + value.size() || pids < 1)
    return "'" + value + "' is not a number of processes: give a whole number, at least 1 (--pids 64)";
  value = std::to_string(pids);  // CLI11 would read 010 as octal
  return "";
}

std::string parse_cpus(std::string& value) {
  double cpus = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), cpus);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  // The kernel refuses a quota under 1 ms per 100 ms period (EINVAL): 0.01 CPU is the least.
  if (error != std::errc{} || end != value.data() + value.size() || !(cpus >= 0.01 && cpus <= online))
    return "'" + value + "' is not a share of CPU time here: give 0.01 to " + std::to_string(online) + " (--cpus 0.5 is half a CPU)";
  return "";
}
//! [parse_limits]

//! [checks]
// Each option's value is checked while parsing, before anything exists: a bad one is one
// line and exit status 125.
std::string check_hostname(const std::string& name) {
  // RFC 1123: labels of letters, digits and '-', neither starting nor ending with '-', joined by '.'.
  bool valid = !name.empty() && name.size() <= 64;
  for (size_t start = 0; valid && start <= name.size();) {
    const size_t end = std::min(name.find('.', start), name.size());
    const std::string_view label(name.data() + start, end - start);
    valid = !label.empty() && label.front() != '-' && label.back() != '-' &&
            std::all_of(label.begin(), label.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
    start = end + 1;
  }
  return valid ? "" : "'" + name + "' is not a valid hostname: use at most 64 letters, digits, '-' and '.'";
}

std::string check_env(const std::string& entry) {
  return entry.find('=') != std::string::npos && entry.front() != '=' ? "" : "'" + entry + "' is not KEY=VALUE: write -e " + entry + "=value";
}

std::string check_workdir(const std::string& dir) {
  return dir.starts_with('/') ? "" : "'" + dir + "' is not an absolute path: write -w /" + dir;
}

std::string check_user(const std::string& user) {
  return parse_user(user) ? "" : "'" + user + "' is not UID[:GID]: give numbers, e.g. -u 1000:1000";
}

std::string check_volume(const std::string& text) {
  const auto volume = parse_volume(text);
  if (!volume) return "'" + text + "' is not HOSTDIR:DIR[:ro] with DIR absolute and not /: e.g. -v \"$PWD:/work\"";
  if (struct stat st {}; stat(volume->host.c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    return "'" + volume->host + "' is not a directory on the host: create it or fix the path";
  return "";
}

std::string check_net(const std::string& net) {
  return net == "none" || net == "host" ? "" : "'" + net + "' is not a network mode: use --net none or --net host";
}
//! [checks]

// `run` and `child` take the same options: parent() passes its own on.
void add_options(CLI::App& command, Config& config) {
  command.add_option("command", config.command, "COMMAND [ARGS...], passed untouched")->required();
  command.add_option("--rootfs", config.rootfs, "Root filesystem for the container")->capture_default_str();
  command.add_option("--memory", config.limits.memory, "Memory limit, swap included: bytes, or with k, m, g (64m)")->type_name("SIZE")->transform(CLI::Validator(parse_memory, ""));
  command.add_option("--pids", config.limits.pids, "Most processes (and threads) at once")->type_name("N")->transform(CLI::Validator(parse_pids, ""));
  command.add_option("--cpus", config.limits.cpus, "Share of one CPU's time (0.5: half; 2: two CPUs)")->type_name("X")->transform(CLI::Validator(parse_cpus, ""));
  command.add_option("--hostname", config.hostname, "Hostname inside the container")->capture_default_str()->check(check_hostname);
  // allow_extra_args(false): CLI11's vector options are greedy (`-e A=b sh` would eat sh).
  command.add_option("-e,--env", config.env, "Set KEY=VALUE in the container's environment")->allow_extra_args(false)->check(check_env);
  command.add_option("-w,--workdir", config.workdir, "Working directory, created if missing")->capture_default_str()->check(check_workdir);
  command.add_option("-u,--user", config.user, "Run as UID[:GID] (numbers)")->capture_default_str()->check(check_user);
  command.add_option("-v,--volume", config.volumes, "Bind HOSTDIR at DIR, read-only with :ro")->allow_extra_args(false)->check(check_volume);
  command.add_option("--net", config.net, "none: only lo, up; host: the host's network")->capture_default_str()->check(check_net);
  command.positionals_at_end();  // options stop at COMMAND: `run ls -la` keeps -la for ls
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"Run a command in a child process (workshop step 5)", program};
  app.require_subcommand(1);
  add_options(*app.add_subcommand("run", "Run COMMAND in a container"), config);
  CLI::App* internal = app.add_subcommand("child")->group("");  // hidden from --help
  add_options(*internal, config);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fail(std::string(e.what()) + " (see '" + program + " --help')");
  }
  if (*internal) child(config);
  return parent(config, argc, argv);
}
