// Step 4, cgroups: step 3 plus --memory, --pids and --cpus. The parent puts the
// child into a cgroup of its own with those limits before COMMAND runs (the child
// waits on a pipe until then), and removes the cgroup when COMMAND has exited.
// Works on cgroup v2 (one tree) and on v1 (a hierarchy per controller).
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr const char* program = "step4-cgroups";

//! [clone_flags]
// New UTS (hostname), PID and mount namespaces for the child: the article's one line.
constexpr unsigned long clone_flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;
//! [clone_flags]

// `docker run`'s exit statuses for a failure before COMMAND runs.
constexpr int runtime_failed = 125, cannot_execute = 126, not_found = 127;

// parent() sets this in the child's environment, so `child` typed by hand is refused.
constexpr const char* child_marker = "WORKSHOP_CHILD";

struct Config {
  std::vector<std::string> command;
  std::string rootfs = WORKSHOP_ROOTFS;  // the workshop's built rootfs, set by CMake
  long long memory = 0;                  // the cgroup's limits; 0: no limit
  long long pids = 0;
  double cpus = 0;
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
// fork(), but with clone flags: the place where step 2 asks for new namespaces.
pid_t clone_child(unsigned long flags) {
  clone_args args{.flags = flags, .exit_signal = SIGCHLD};
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}

//! [cgroup_files]
// cgroup v2 mounts one tree here; v1 (or "hybrid") a tmpfs with a hierarchy per controller.
constexpr const char* cgroup_root = "/sys/fs/cgroup";
// v2 only: the parent of every container's cgroup, the workshop's own (see Cgroup).
constexpr const char* workshop_cgroup = "/sys/fs/cgroup/workshop";
// The controllers a container's cgroup uses; each names its files (memory.max, pids.max, ...).
constexpr const char* controllers[] = {"memory", "pids", "cpu"};
// CPU time is handed out per period, in µs: 100 ms, the kernel's default.
constexpr long long cpu_period = 100000;

bool cgroup_v2() {
  struct statfs fs {};
  return statfs(cgroup_root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// Cgroup files are written with one write(); the kernel's refusal is its errno.
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

// v1: the caller's own cgroup in `controller`'s hierarchy. /proc/self/cgroup has a line per
// hierarchy, "ID:CONTROLLERS:PATH": "4:memory:/user.slice/user-1000.slice", "3:cpu,cpuacct:/".
std::string own_cgroup_v1(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string hierarchy = std::string(cgroup_root) + "/" + controller;
  for (std::string id, names, path; std::getline(in, id, ':') && std::getline(in, names, ':') && std::getline(in, path);)
    if (("," + names + ",").find("," + controller + ",") != std::string::npos && path != "/") return hierarchy + path;
  return hierarchy;
}
//! [cgroup_files]

//! [remove_cgroup]
// rmdir, the only way to remove a cgroup; it fails with EBUSY while processes are inside, and
// for a moment after the last one has exited: retry briefly.
bool remove_cgroup(const std::string& dir) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    usleep(1000);
  }
  return false;
}

// A runtime killed outright (SIGKILL) cannot remove its cgroup. The next run removes those
// named PROGRAM-PID whose PID is gone (or is its own) once no process is left inside.
void remove_stale_cgroups(const std::string& parent) {
  const std::string prefix = std::string(program) + "-";
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ignored)) {
    const std::string name = entry.path().filename();
    const pid_t pid = name.starts_with(prefix) ? std::atoi(name.c_str() + prefix.size()) : 0;
    const bool runtime_gone = pid > 0 && (pid == getpid() || (kill(pid, 0) == -1 && errno == ESRCH));
    if (runtime_gone && read_file(entry.path() / "cgroup.procs").empty()) remove_cgroup(entry.path());
  }
}
//! [remove_cgroup]

//! [cgroup]
// The container's cgroup, named PROGRAM-PID after the runtime: one directory on v2; on v1,
// where each controller has a hierarchy of its own, a directory in each of memory, pids, cpu.
// The constructor makes it while the child waits, sets the limits and moves the child in;
// the destructor removes it, however parent() returns.
class Cgroup {
 public:
  Cgroup(const Config& config, pid_t child) : child_(child) {
    const std::string name = std::string(program) + "-" + std::to_string(getpid());
    if (v2_) {
      // "No internal processes": a cgroup other than the root may hand controllers down to
      // its children (cgroup.subtree_control) only while it holds no process itself. The
      // caller's own cgroup holds the caller, so the container's goes under a parent of the
      // workshop's own, as docker's cgroupfs driver does, with the controllers enabled on
      // the way down: in the root (exempt from the rule), then in that parent.
      make(workshop_cgroup, name);
      for (const std::string dir : {cgroup_root, workshop_cgroup})
        for (const std::string controller : controllers)
          check(write_file(dir + "/cgroup.subtree_control", "+" + controller), "enable " + controller + " in " + dir + "/cgroup.subtree_control");
    } else {
      // v1 has no such rule: nest under the caller's own cgroup in each hierarchy, as runc
      // does, so that limits the caller is under still apply to the container.
      for (const char* controller : controllers) make(own_cgroup_v1(controller), name);
    }
    set_limits(config);
    for (const auto& dir : dirs_)
      check(write_file(dir + "/cgroup.procs", std::to_string(child)), "move the child into " + dir);
  }
  ~Cgroup() { remove(); }
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // Did the kernel's OOM killer kill a process here? v2 counts kills in memory.events, v1 in
  // memory.oom_control (v1's memory.failcnt counts hits of the limit, and stays 0 at a kill).
  bool oom_killed() const {
    const std::string events = read_file(path(v2_ ? "memory.events" : "memory.oom_control"));
    const auto at = events.find("\noom_kill ");
    return at != std::string::npos && std::atoll(events.c_str() + at + 10) > 0;
  }

 private:
  // mkdir PARENT/NAME. On v2 the parent goes with its last container (remove()), maybe another
  // run's just now: then mkdir fails with ENOENT, and the parent is made again.
  void make(const std::string& parent, const std::string& name) {
    remove_stale_cgroups(parent);
    const std::string dir = parent + "/" + name;
    for (int attempt = 1; mkdir(dir.c_str(), 0755) == -1; ++attempt) {
      check(v2_ && errno == ENOENT && attempt < 10, "mkdir " + dir);
      check(mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST, "mkdir " + parent);
    }
    dirs_.push_back(dir);
  }

  // The limits asked for; 0 in Config is none. v2 and v1 name their files differently.
  void set_limits(const Config& config) {
    const std::string memory = std::to_string(config.memory), pids = std::to_string(config.pids);
    const std::string quota = std::to_string(std::llround(config.cpus * cpu_period)), period = std::to_string(cpu_period);
    if (v2_) {
      if (config.memory) set("memory.max", memory);
      // Swap is counted apart: without memory.swap.max 0 a host with swap lets the container
      // swap out instead of being held to its limit (the file exists when swap is accounted).
      if (config.memory && exists("memory.swap.max")) set("memory.swap.max", "0");
      if (config.pids) set("pids.max", pids);
      if (config.cpus) set("cpu.max", quota + " " + period);
    } else {
      if (config.memory) set("memory.limit_in_bytes", memory);
      // memsw is memory + swap: the same value leaves no room for swap. It may never be below
      // memory.limit_in_bytes, hence second; it exists when the kernel accounts swap.
      if (config.memory && exists("memory.memsw.limit_in_bytes")) set("memory.memsw.limit_in_bytes", memory);
      if (config.pids) set("pids.max", pids);
      if (config.cpus) {
        set("cpu.cfs_period_us", period);
        set("cpu.cfs_quota_us", quota);
      }
    }
  }

  // A cgroup file; on v1 it is in the hierarchy its name starts with (pids.max: pids).
  std::string path(const std::string& file) const {
    size_t i = 0;
    while (!v2_ && !file.starts_with(std::string(controllers[i]) + ".")) ++i;
    return dirs_[i] + "/" + file;
  }
  bool exists(const std::string& file) const { return access(path(file).c_str(), F_OK) == 0; }
  void set(const std::string& file, const std::string& value) {
    check(write_file(path(file), value), "write " + value + " to " + path(file));
  }

  // The kernel refused: the child has run nothing yet, so kill it, remove what was made, and
  // say what failed and why. (fail() exits at once: no destructor would clean up.)
  void check(bool ok, const std::string& what) {
    if (ok) return;
    const std::string message = what + ": " + std::strerror(errno);
    kill(child_, SIGKILL);
    waitpid(child_, nullptr, 0);
    remove();
    fail(message);
  }

  void remove() {
    for (const auto& dir : dirs_)
      if (!remove_cgroup(dir)) std::fprintf(stderr, "%s: cannot remove cgroup %s: %s\n", program, dir.c_str(), std::strerror(errno));
    if (v2_) rmdir(workshop_cgroup);  // when this was its last container; EBUSY otherwise
    dirs_.clear();
  }

  const bool v2_ = cgroup_v2();
  const pid_t child_;
  std::vector<std::string> dirs_;  // made so far; on v1 in the order of `controllers`
};
//! [cgroup]
//! [clone_child]

//! [parent]
// `run`: re-execute this program as `child` with the same arguments, and wait.
int parent(const Config& config, int argc, char** argv) {
  if (struct stat st {}; stat(config.rootfs.c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    fail("rootfs '" + config.rootfs + "' is not a directory (build it with 'cmake --build build --target rootfs' or pass --rootfs DIR)");
  std::vector<std::string> args{program, "child"};
  args.insert(args.end(), argv + 2, argv + argc);  // everything after `run`
  int go[2];  // the child waits on go[0] until it is in its cgroup (wait_for_cgroup)
  must(pipe(go), "pipe");
  must(setenv(child_marker, std::to_string(go[0]).c_str(), 1), "setenv");  // the marker says where

  pid_t pid = clone_child(clone_flags);
  if (pid == -1 && errno == EPERM) fail("creating namespaces needs root: run with sudo");
  must(pid, "clone");
  if (pid == 0) {
    close(go[1]);  // the parent holds the only write end: its exit is the child's end of file
    execv("/proc/self/exe", as_argv(args).data());
    fail(std::string("exec /proc/self/exe: ") + std::strerror(errno));
  }
  close(go[0]);
  const Cgroup cgroup(config, pid);  // removed when parent() returns
  must(write(go[1], "1", 1), "start the child");
  close(go[1]);
  int status = 0;
  must(waitpid(pid, &status, 0), "waitpid");
  if (cgroup.oom_killed()) std::fprintf(stderr, "%s: the container reached its memory limit and the kernel killed a process in it\n", program);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);  // docker's 128+N
}
//! [parent]

//! [setup_rootfs]
void setup_rootfs(const std::string& rootfs) {
  // pivot_root wants the new root to be a mount point: bind-mount the rootfs onto itself.
  must(mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind mount " + rootfs);
  const std::string old_root = rootfs + "/.pivot_root";
  if (mkdir(old_root.c_str(), 0700) == -1 && errno != EEXIST) must(-1, "mkdir " + old_root);  // parallel runs share it
  must(syscall(SYS_pivot_root, rootfs.c_str(), old_root.c_str()), "pivot_root to " + rootfs);
  must(chdir("/"), "chdir /");
  // The PID namespace is new, but /proc still shows the host's: mount the container's own.
  must(mount("proc", "/proc", "proc", 0, nullptr), "mount /proc");
}
//! [setup_rootfs]

//! [wait_for_cgroup]
// The child's first step: wait until the parent has put it into its cgroup (one byte on the
// pipe), so that not one instruction of COMMAND runs outside the limits. End of file instead
// means the parent failed (and said why) or died: run nothing.
void wait_for_cgroup(int fd) {
  char go = 0;
  if (read(fd, &go, 1) != 1) std::exit(runtime_failed);
  close(fd);
}
//! [wait_for_cgroup]

//! [child]
// `child`: runs in the new process; the next steps set up the container here.
[[noreturn]] void child(const Config& config) {
  if (std::getenv(child_marker) == nullptr) fail("'child' is internal: use 'run COMMAND'");
  wait_for_cgroup(std::atoi(std::getenv(child_marker)));
  must(unsetenv(child_marker), "unsetenv");
  // The new mount namespace starts as a copy of the host's, sharing its propagation:
  // on a systemd host ("/" shared) a mount made here would appear on the host too.
  must(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  setup_rootfs(config.rootfs);
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
  const auto unit = shift.find(end);  // the rest: the suffix
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

// `run` and `child` take the same options: parent() passes its own on.
void add_options(CLI::App& command, Config& config) {
  command.add_option("command", config.command, "COMMAND [ARGS...], passed untouched")->required();
  command.add_option("--rootfs", config.rootfs, "Root filesystem for the container")->capture_default_str();
  command.add_option("--memory", config.memory, "Memory limit, swap included: bytes, or with k, m, g (64m)")->type_name("SIZE")->transform(CLI::Validator(parse_memory, ""));
  command.add_option("--pids", config.pids, "Most processes (and threads) at once")->type_name("N")->transform(CLI::Validator(parse_pids, ""));
  command.add_option("--cpus", config.cpus, "Share of one CPU's time (0.5: half; 2: two CPUs)")->type_name("X")->transform(CLI::Validator(parse_cpus, ""));
  command.positionals_at_end();  // options stop at COMMAND: `run ls -la` keeps -la for ls
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"Run a command in a child process (workshop step 4)", program};
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
