// Step 4's cgroup, on cgroup v2 and on v1. A cgroup is a directory in the cgroup file system;
// the files in it hold its limits. Everything here is a directory made or removed, a file written.
#include "cgroup.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

// When the kernel refuses, the cgroup made so far goes, then the runtime fails (125).
static void check(const Cgroup& cgroup, bool ok, const std::string& what) {
  if (ok) return;
  const int error = errno;
  remove_cgroup(cgroup);
  fail(what + ": " + std::strerror(error) + (error == EACCES ? " (cgroups need root: run with sudo)" : ""));
}

static void make_dir(Cgroup& cgroup, const std::string& dir) {
  check(cgroup, mkdir(dir.c_str(), 0755) == 0, "mkdir " + dir);
  cgroup.dirs.push_back(dir);
}

// A cgroup file takes its value in one write(); when the kernel refuses it, errno says why.
static void write_file(const Cgroup& cgroup, const std::string& path, const std::string& value) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  check(cgroup, fd != -1 && write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size()), "write " + value + " to " + path);
  close(fd);
}

//! [make_cgroup_v2]
// cgroup v2: /sys/fs/cgroup/NAME, one directory for every limit. v2's rule "no internal processes"
// lets a cgroup hand its controllers down (cgroup.subtree_control) only while it holds no process
// itself: the root is exempt, and podman's parent holds none (conmon sits in PARENT/conmon).
static Cgroup make_cgroup_v2(const std::string& name, const Limits& limits) {
  Cgroup cgroup;
  for (size_t slash = 0; slash != std::string::npos; slash = name.find('/', slash + 1))  // each on the way
    write_file(cgroup, "/sys/fs/cgroup/" + name.substr(0, slash) + "/cgroup.subtree_control", "+memory +pids +cpu");
  make_dir(cgroup, "/sys/fs/cgroup/" + name);
  const std::string dir = cgroup.dirs[0];
  if (limits.memory) write_file(cgroup, dir + "/memory.max", std::to_string(limits.memory));
  // Swap is counted apart: without 0 here a host with swap lets the container swap instead of
  // holding it to its limit. (The file exists when the kernel accounts swap.)
  if (limits.memory && access((dir + "/memory.swap.max").c_str(), F_OK) == 0) write_file(cgroup, dir + "/memory.swap.max", "0");
  if (limits.pids) write_file(cgroup, dir + "/pids.max", std::to_string(limits.pids));
  // CPU time is handed out per period: QUOTA microseconds in every 100 ms.
  if (limits.cpus) write_file(cgroup, dir + "/cpu.max", std::to_string(std::llround(limits.cpus * 100000)) + " 100000");
  check(cgroup, (cgroup.fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1, "open " + dir);
  return cgroup;
}
//! [make_cgroup_v2]

//! [make_cgroup_v1]
// cgroup v1 (and "hybrid"): a hierarchy per controller, so /sys/fs/cgroup/CONTROLLER/NAME for each
// of memory, pids and cpu, and the same limits in files of other names.
static Cgroup make_cgroup_v1(const std::string& name, const Limits& limits) {
  Cgroup cgroup;
  for (const std::string controller : {"memory", "pids", "cpu"}) make_dir(cgroup, "/sys/fs/cgroup/" + controller + "/" + name);
  const std::string memory = cgroup.dirs[0], pids = cgroup.dirs[1], cpu = cgroup.dirs[2];
  if (limits.memory) write_file(cgroup, memory + "/memory.limit_in_bytes", std::to_string(limits.memory));
  // memsw is memory + swap: the same value leaves no room for swap. The kernel wants it never
  // below limit_in_bytes, hence second. (The file exists when the kernel accounts swap.)
  if (limits.memory && access((memory + "/memory.memsw.limit_in_bytes").c_str(), F_OK) == 0)
    write_file(cgroup, memory + "/memory.memsw.limit_in_bytes", std::to_string(limits.memory));
  if (limits.pids) write_file(cgroup, pids + "/pids.max", std::to_string(limits.pids));
  // QUOTA microseconds in every period; a new cgroup's cpu.cfs_period_us is 100 ms.
  if (limits.cpus) write_file(cgroup, cpu + "/cpu.cfs_quota_us", std::to_string(std::llround(limits.cpus * 100000)));
  return cgroup;
}
//! [make_cgroup_v1]

//! [make_cgroup]
// cgroup v2 mounts one hierarchy at /sys/fs/cgroup; v1 a tmpfs there, with a hierarchy per
// controller below it.
Cgroup make_cgroup(const std::string& name, const Limits& limits) {
  struct statfs fs {};
  check({}, statfs("/sys/fs/cgroup", &fs) == 0, "statfs /sys/fs/cgroup");
  return fs.f_type == CGROUP2_SUPER_MAGIC ? make_cgroup_v2(name, limits) : make_cgroup_v1(name, limits);
}
//! [make_cgroup]

//! [join_cgroup]
// On v1 the child moves itself in, writing 0 (itself) to `tasks`. That costs nothing: a thread
// moving itself takes no lock that holds up the whole machine, as moving a process by its PID
// does (bench/README.md). On v2 the child was born inside: clone3 with CLONE_INTO_CGROUP.
void join_cgroup(const Cgroup& cgroup) {
  if (cgroup.fd == -1)  // v1; failing, it leaves the cgroup to the parent to remove
    for (const auto& dir : cgroup.dirs) write_file({}, dir + "/tasks", "0");
}
//! [join_cgroup]

//! [oom_killed]
// The OOM killer's kills are counted in a line "oom_kill N" of memory.events on v2, of
// memory.oom_control on v1 (where memory.failcnt counts hits of the limit, and stays 0 at a kill).
bool oom_killed(const Cgroup& cgroup) {
  std::ifstream events(cgroup.dirs[0] + (cgroup.fd != -1 ? "/memory.events" : "/memory.oom_control"));
  for (std::string key, count; events >> key >> count;) if (key == "oom_kill") return count != "0";
  return false;
}
//! [oom_killed]

//! [remove_cgroup]
// rmdir removes a cgroup. The kernel refuses (EBUSY) while a process is in it, and for a moment
// after the last one has exited: retry briefly.
void remove_cgroup(const Cgroup& cgroup) {
  for (const auto& dir : cgroup.dirs)
    for (int attempt = 0; rmdir(dir.c_str()) == -1 && errno != ENOENT; ++attempt, usleep(1000))
      if (errno != EBUSY || attempt == 100) fail("cannot remove cgroup " + dir + ": " + std::strerror(errno));
  if (cgroup.fd != -1) close(cgroup.fd);
}
//! [remove_cgroup]

//! [enter_cgroup]
// For `exec`: the runtime moves itself into the cgroup `create` made before it forks the new
// process, which is then born inside. "0" is the writer; cgroup.procs, the whole process (v1, v2).
void enter_cgroup(const Cgroup& cgroup) {
  for (const auto& dir : cgroup.dirs) write_file({}, dir + "/cgroup.procs", "0");
}
//! [enter_cgroup]
