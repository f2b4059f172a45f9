// The host guard: after the tests the host has the same mounts, cgroups, hostname and processes
// as before (docs/contract.md, "The host after the tests"). It snapshots
// them before the first test and compares after the last; ctest runs each case in a process of
// its own, so each case is guarded on its own.
#include "harness.hpp"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace workshop {
namespace {

// --- processes --------------------------------------------------------------------------------

// Every live descendant of this test process (in any PID namespace): pid -> command line. The
// test is a child subreaper, so whatever a runtime leaves behind stays below it; processes of
// anybody else (a learner's own container in another terminal) are none of the guard's business.
std::map<pid_t, std::string> watched_processes() {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, std::string> state, cmdline;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    const std::string stat = read_first_line(entry.path() / "stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string s;
    rest >> s >> parent[pid];
    state[pid] = s;
    std::string raw = read_first_line(entry.path() / "cmdline");
    std::replace(raw.begin(), raw.end(), '\0', ' ');
    cmdline[pid] = raw;
  }
  std::map<pid_t, std::string> watched;
  const pid_t self = getpid();
  for (const auto& [pid, ppid] : parent) {
    if (state[pid] == "Z") continue;
    bool match = false;
    for (pid_t up = ppid; !match && up > 0; up = parent.count(up) ? parent[up] : 0)
      match = up == self;
    if (match) watched[pid] = cmdline[pid];
  }
  return watched;
}

// --- the guard --------------------------------------------------------------------------------

struct Snapshot {
  std::multiset<std::string> mounts;
  std::string hostname;
  std::set<std::string> cgroups;
  std::map<pid_t, std::string> processes;

  static Snapshot take() {
    return {mount_table(read_file("/proc/self/mountinfo")),
            read_first_line("/proc/sys/kernel/hostname"), cgroup_dirs(), watched_processes()};
  }
};

class HostGuard : public testing::Environment {
 public:
  void SetUp() override { before_ = Snapshot::take(); }

  void TearDown() override {
    check_processes();  // first: a process left behind keeps its cgroup busy
    check_hostname();
    check_mounts();
    check_cgroups();
  }

 private:
  void check_processes() {
    for (const auto& [pid, cmdline] : watched_processes()) {
      if (before_.processes.count(pid)) continue;
      ADD_FAILURE() << "host guard: process left: " << pid << " " << cmdline << " (killed now)";
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);  // reaps it when it is the test's own child (ECHILD otherwise)
    }
  }

  void check_hostname() {
    const std::string now = read_first_line("/proc/sys/kernel/hostname");
    if (now == before_.hostname) return;
    ADD_FAILURE() << "host guard: hostname changed from '" << before_.hostname << "' to '" << now
                  << "' (set back now)";
    sethostname(before_.hostname.data(), before_.hostname.size());
  }

  void check_mounts() {
    const auto now = mount_table(read_file("/proc/self/mountinfo"));
    for (const auto& mount : added(before_.mounts, now))
      ADD_FAILURE() << "host guard: leaked mount (mount point, type, source): " << mount;
    for (const auto& mount : added(now, before_.mounts))
      ADD_FAILURE() << "host guard: mount gone from the host (mount point, type, source): " << mount;
  }

  void check_cgroups() {
    // A new directory that holds processes belongs to someone else running now; ours are gone.
    for (int attempt = 0; attempt < 10; ++attempt) {  // rmdir may lag the last exit briefly
      std::vector<std::string> left;
      for (const auto& dir : cgroup_dirs())
        if (!before_.cgroups.count(dir) && !holds_processes(dir)) left.push_back(dir);
      if (left.empty()) return;
      if (attempt == 9)
        for (const auto& dir : left) ADD_FAILURE() << "host guard: cgroup dir left: " << dir;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  Snapshot before_;
};

}  // namespace

testing::Environment* new_host_guard() { return new HostGuard; }

}  // namespace workshop
