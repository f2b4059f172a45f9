// Step 4's cgroup, on cgroup v2 and v1: see cgroup.hpp for what it promises, README.md for
// the why. Everything here is a directory made, a file written, a directory removed.
#include "cgroup.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace {

//! [cgroup_files]
// cgroup v2 mounts one tree here; v1 (or "hybrid") a tmpfs with a hierarchy per controller.
constexpr const char* cgroup_root = "/sys/fs/cgroup";
// v2 only: the parent of every container's cgroup, the workshop's own (see Cgroup::Cgroup).
constexpr const char* workshop_cgroup = "/sys/fs/cgroup/workshop";
// The controllers the container's cgroup uses; each names its files (memory.max, pids.max...).
constexpr const char* controllers[] = {"memory", "pids", "cpu"};
// CPU time is handed out per period, in µs: 100 ms, the kernel's default.
constexpr long long cpu_period = 100000;

bool cgroup_v2() {
  struct statfs fs {};
  return statfs(cgroup_root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// v1: the caller's own cgroup in `controller`'s hierarchy. /proc/self/cgroup has a line per
// hierarchy, "ID:CONTROLLERS:PATH": "4:memory:/user.slice/user-1000.slice", "3:cpu,cpuacct:/".
std::string own_cgroup_v1(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  const std::string hierarchy = std::string(cgroup_root) + "/" + controller;
  for (std::string id, names, path; std::getline(in, id, ':') && std::getline(in, names, ':') && std::getline(in, path);)
    if (("," + names + ",").find("," + controller + ",") != std::string::npos && path != "/") return hierarchy + path;
  return hierarchy;
}

// A cgroup file takes a value in one write(); when the kernel refuses it, errno says why.
bool write_file(const std::string& path, const std::string& value) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  const bool written = fd != -1 && write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  if (fd != -1) close(fd);  // close() leaves errno alone when it succeeds
  return written;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}
//! [cgroup_files]

// What the kernel refused, and why: thrown by check(), caught in Cgroup's constructor.
struct Refused {
  std::string what;
};

void check(bool ok, const std::string& what) {
  if (!ok) throw Refused{what + ": " + std::strerror(errno) + (errno == EACCES ? " (cgroups need root: run with sudo)" : "")};
}

//! [remove_cgroup]
// rmdir is how a cgroup is removed. The kernel refuses (EBUSY) while processes are inside,
// and also for a moment after the last one has exited: retry briefly.
bool remove_cgroup(const std::string& dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    usleep(1000);
  }
  return false;
}

// A runtime killed outright (SIGKILL) cannot remove its cgroup. While it lives, it holds a
// lock (flock) on each directory of its cgroup, which the kernel drops when it dies, however it
// dies (Cgroup::make()). The next run removes the PROGRAM-* cgroups it can lock once no process
// is left inside. (Not "is the PID in the name alive?": PIDs are reused, and a runtime in
// another PID namespace would see other processes under those numbers.)
void remove_stale_cgroups(const std::string& parent, const std::string& program) {
  std::error_code error;  // a parent that cannot be read has nothing to sweep
  for (std::filesystem::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    if (!it->path().filename().string().starts_with(program + "-")) continue;
    const int fd = open(it->path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && read_file(it->path() / "cgroup.procs").empty()) remove_cgroup(it->path());
    close(fd);  // and the lock with it
  }
}

// Locks the cgroup directory `dir` for as long as we live, and returns the file descriptor
// that holds the lock. -1 with ENOENT: another run's remove_stale_cgroups() came between our
// mkdir and our lock, took the new cgroup for a dead runtime's, and removed it.
int lock(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || (flock(fd, LOCK_EX) == 0 && access(dir.c_str(), F_OK) == 0)) return fd;
  const int error = errno;  // ENOENT from access(): it is gone
  close(fd);
  errno = error;
  return -1;
}
//! [remove_cgroup]

}  // namespace

//! [create_cgroup]
Cgroup::Cgroup(const std::string& program, const Limits& limits) : program_(program), v2_(cgroup_v2()) {
  const std::string name = program + "-" + std::to_string(getpid());
  try {
    if (v2_) {
      // "No internal processes": a cgroup other than the root may hand controllers down to
      // its children (cgroup.subtree_control) only while it holds no process itself. The
      // caller's own cgroup holds the caller, so the container's goes under a parent of the
      // workshop's own, as docker's cgroupfs driver does, with the controllers enabled on
      // the way down: in the root (exempt from the rule), then in that parent.
      make(workshop_cgroup, name);  // first: while it exists, no other run removes the parent
      for (const std::string dir : {cgroup_root, workshop_cgroup})
        for (const std::string controller : controllers)
          check(write_file(dir + "/cgroup.subtree_control", "+" + controller), "enable " + controller + " in " + dir + "/cgroup.subtree_control");
    } else {
      // v1 has no such rule: nest under the caller's own cgroup in each hierarchy, as runc
      // does, so that limits the caller is under still apply to the container.
      for (const char* controller : controllers) make(own_cgroup_v1(controller), name);
    }
    set_limits(limits);
  } catch (const Refused& refused) {
    remove();
    error_ = refused.what;
  }
}

// mkdir PARENT/NAME, locked while we live. On v2 the parent goes with its last container
// (remove()), perhaps another run's just now: then mkdir fails with ENOENT, and the parent is
// made again. Should another run remove ours before we hold the lock (lock()), we make it again.
void Cgroup::make(const std::string& parent, const std::string& name) {
  remove_stale_cgroups(parent, program_);
  const std::string dir = parent + "/" + name;
  for (int attempt = 1;; ++attempt) {
    if (mkdir(dir.c_str(), 0755) == 0) {
      dirs_.push_back(dir);  // remove() removes it from now on
      if (const int fd = lock(dir); fd != -1) {
        locks_.push_back(fd);
        return;
      }
      // With many runs starting at once, each sweeping, this happens often: a failure here
      // after 100 tries would mean something else keeps removing our cgroup.
      check(errno == ENOENT && attempt < 100, "lock " + dir);
      dirs_.pop_back();  // another run removed it: make it again
    } else {
      check(v2_ && errno == ENOENT && attempt < 10, "mkdir " + dir);
      check(mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST, "mkdir " + parent);
    }
  }
}
//! [create_cgroup]

//! [join]
// Why the child moves itself. Moving a whole process into a cgroup (a PID into cgroup.procs)
// takes a lock that holds up every fork and exit on the machine, and taking it first waits
// for an RCU grace period: 10 ms and more per container. A thread moving only itself (0 into
// v1's `tasks`) needs no such lock, and the child has one thread: that is the whole process.
// v2's `cgroup.threads` refuses that move; there the child is born inside (clone_into()).
std::string Cgroup::join() const {
  if (v2_) return "";
  for (const auto& dir : dirs_)
    if (!write_file(dir + "/tasks", "0")) return "join the cgroup: write 0 to " + dir + "/tasks: " + std::strerror(errno);
  return "";
}
//! [join]

//! [set_limits]
// The limits asked for, 0 being none. v2 and v1 name their files differently.
void Cgroup::set_limits(const Limits& limits) {
  const std::string memory = std::to_string(limits.memory), pids = std::to_string(limits.pids);
  const std::string quota = std::to_string(std::llround(limits.cpus * cpu_period)), period = std::to_string(cpu_period);
  if (v2_) {
    if (limits.memory) set("memory.max", memory);
    // Swap is counted apart: without memory.swap.max 0 a host with swap lets the container
    // swap out instead of being held to its limit (the file exists when swap is accounted).
    if (limits.memory && access(path("memory.swap.max").c_str(), F_OK) == 0) set("memory.swap.max", "0");
    if (limits.pids) set("pids.max", pids);
    if (limits.cpus) set("cpu.max", quota + " " + period);
  } else {
    if (limits.memory) set("memory.limit_in_bytes", memory);
    // memsw is memory + swap: the same value leaves no room for swap. It may never be below
    // memory.limit_in_bytes, hence second; it exists when the kernel accounts swap.
    if (limits.memory && access(path("memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
      set("memory.memsw.limit_in_bytes", memory);
    if (limits.pids) set("pids.max", pids);
    if (limits.cpus) {
      set("cpu.cfs_period_us", period);
      set("cpu.cfs_quota_us", quota);  // at least 1000 µs, or EINVAL: --cpus starts at 0.01
    }
  }
}

void Cgroup::set(const std::string& file, const std::string& value) {
  check(write_file(path(file), value), "write " + value + " to " + path(file));
}

// Where a cgroup file is: on v1, in the hierarchy its name starts with (pids.max: pids).
std::string Cgroup::path(const std::string& file) const {
  size_t i = 0;
  while (!v2_ && !file.starts_with(std::string(controllers[i]) + ".")) ++i;
  return dirs_[i] + "/" + file;
}
//! [set_limits]

//! [oom_killed]
// v2 counts the OOM killer's kills in memory.events, v1 in memory.oom_control ("oom_kill N";
// v1's memory.failcnt counts hits of the limit, and stays 0 at a kill).
bool Cgroup::oom_killed() const {
  const std::string events = read_file(path(v2_ ? "memory.events" : "memory.oom_control"));
  const auto at = events.find("\noom_kill ");
  return at != std::string::npos && std::atoll(events.c_str() + at + 10) > 0;
}
//! [oom_killed]

Cgroup::~Cgroup() { remove(); }

void Cgroup::remove() {
  for (const auto& dir : dirs_)
    if (!remove_cgroup(dir))
      std::fprintf(stderr, "%s: cannot remove cgroup %s: %s\n", program_.c_str(), dir.c_str(), std::strerror(errno));
  if (v2_) rmdir(workshop_cgroup);  // when this was its last container; EBUSY otherwise
  for (const int fd : locks_) close(fd);  // the locks, last: what is left is another run's to remove
  dirs_.clear();
  locks_.clear();
}
