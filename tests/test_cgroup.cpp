// Cgroups, on cgroup v1 (or hybrid) and v2, whichever this machine has.
// Matrix row, every step (suite Cgroup): a cgroup of its own with the limits asked for,
// enforced (a memory hog is OOM-killed, a fork loop stops at --pids), removed at exit. Steps
// 1-3 show the "no": the container shares the test's cgroup, and has no limit options.
// Step4Cgroups: what --memory, --pids and --cpus promise, from step 4 on.
//
// Everything is read from the host through /proc/PID/cgroup and the cgroup files themselves;
// inside the container only busybox runs. No host tool, no name lookup: this file also runs
// statically linked in the cgroup v2 VM (tests/vm).
#include "harness.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace workshop;
namespace fs = std::filesystem;

namespace {

const char* const controllers[] = {"memory", "pids", "cpu"};

// The cgroup directories of process `pid` for memory, pids and cpu, seen from the host.
std::map<std::string, std::string> cgroup_dirs(const std::string& pid) { return cgroup_dirs_of(pid); }

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The first line of a cgroup file of `dirs`, in the directory of the controller its name
// starts with (memory.max: memory).
std::string cgroup_file(const std::map<std::string, std::string>& dirs, const std::string& file) {
  const auto dir = dirs.find(file.substr(0, file.find('.')));
  return dir == dirs.end() ? "(no " + file + ")" : read_first_line(dir->second + "/" + file);
}

// Every directory right below the places a runtime may put a container's cgroup: the test's
// own cgroup in each hierarchy (where v1 runtimes nest, as runc does), the root of each, and on
// v2 /sys/fs/cgroup/workshop. See new_cgroups().
std::set<std::string> candidate_cgroups() {
  std::set<std::string> parents{"/sys/fs/cgroup/workshop"};
  for (const auto& [controller, dir] : cgroup_dirs("self")) {
    parents.insert(dir);
    parents.insert(cgroup_v2() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + controller);
  }
  std::set<std::string> found;
  for (const auto& parent : parents) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(parent, ec))
      if (entry.is_directory(ec)) found.insert(entry.path().string());
  }
  return found;
}

// The cgroups made since `before` was taken and left behind: new, and without a process.
// One that holds processes, or goes within a second, is someone else's running container.
// (A run may also remove cgroups: those a killed runtime left behind.)
std::vector<std::string> new_cgroups(const std::set<std::string>& before) {
  std::vector<std::string> left;
  for (int attempt = 0; attempt < 10; ++attempt) {
    left.clear();
    for (const auto& dir : candidate_cgroups())
      if (!before.count(dir) && read_first_line(dir + "/cgroup.procs").empty()) left.push_back(dir);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return left;
}

// A container running `sleep 1000` (harness.hpp) and its cgroup directories, read from the host.
struct CgroupSleeper : Sleeper {
  std::map<std::string, std::string> dirs;
  explicit CgroupSleeper(const std::vector<std::string>& options = {}, const Options& how = {})
      : Sleeper(options, how), dirs(pid > 0 ? cgroup_dirs(std::to_string(pid)) : decltype(dirs){}) {}
};

// user + system CPU time of process `pid`, in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  std::string stat = read_first_line("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> field;
  for (std::string f; fields >> f;) field.push_back(f);  // field[0] is field 3, the state
  if (field.size() < 13) return -1;
  return (std::stod(field[11]) + std::stod(field[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A script that starts `stages` processes at once (a pipeline of sleeps, in a shell of its
// own), then prints how many processes the container holds: when a fork fails, the shell
// that forks gives up, and the sleeps it had started stay until the container ends. A
// pipeline, not `&`: busybox sh wants /dev/null for a background job, and step 4 has no /dev.
std::string fork_loop(int stages) {
  std::string pipeline = "sleep 5";
  for (int i = 1; i < stages; ++i) pipeline += " | sleep 5";
  return "sh -c '" + pipeline + "'; set -- /proc/[0-9]*; echo $#";
}

// A shell that doubles a string until it holds at least `bytes` bytes, and prints its length.
std::string memory_hog(long bytes) {
  return "x=a; while [ ${#x} -lt " + std::to_string(bytes) + " ]; do x=$x$x; done; echo ${#x}";
}

}  // namespace

// --- the matrix row, every step ---------------------------------------------------------------

// Steps 1-3 run the command in the test's own cgroup. From step 4 on it has one of its own in
// every controller, which holds the container and not the runtime, and is gone after.
TEST(Cgroup, OfItsOwnWhileItRunsGoneAfter) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const auto own = cgroup_dirs("self");
  CgroupSleeper c;
  ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
  if (!yes(row::cgroup)) {
    EXPECT_EQ(c.dirs, own) << "step " << step() << ": no cgroup of its own yet";
    EXPECT_EQ(c.stop().status, 137);
    return;
  }
  ASSERT_EQ(c.dirs.size(), 3u) << "memory, pids and cpu";
  std::set<std::string> procs;
  for (const auto& [controller, dir] : c.dirs) {
    EXPECT_NE(dir, own.at(controller)) << controller << ": the container has a cgroup of its own";
    std::ifstream in(dir + "/cgroup.procs");
    for (std::string line; std::getline(in, line);) procs.insert(line);
  }
  EXPECT_TRUE(procs.count(std::to_string(c.pid))) << "the container is in it";
  EXPECT_FALSE(procs.count(std::to_string(c.runtime.pid))) << "the runtime is not: its limits are "
                                                            << "the container's alone";
  const Result r = c.stop();
  EXPECT_EQ(r.status, 137) << r;
  for (const auto& [controller, dir] : c.dirs) EXPECT_FALSE(exists(dir)) << dir << " is removed";
}

// A shell doubling a string is OOM-killed at --memory 32m: exit status 137, and the runtime
// says why in one line. Steps 1-3 have no --memory (125), and run no hog on the host. The hog
// stops at 128 MiB: where nothing holds it (a cgroup the container never joined) it ends there,
// exit status 0, and spares the host's memory.
TEST(Cgroup, MemoryHogIsKilled) {
  REQUIRE_CONTAINER_PRIVILEGES();
  if (!yes(row::cgroup)) {
    const Result r = shell("true", {}, {"--memory", "32m"});
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find("--memory"), std::string::npos) << "no such option yet" << r;
    return;
  }
  const Result r = shell(memory_hog(128 << 20), {}, {"--memory", "32m"});
  EXPECT_RUNTIME_ERROR(r, 137);  // one line on stderr, from the runtime
  EXPECT_NE(r.err.find("memory"), std::string::npos) << "it says the memory limit was hit" << r;
}

// A fork loop stops at --pids. With 8: the container's shell, the shell that forks, and 6
// sleeps; then a fork fails, the forking shell gives up, and 7 processes remain.
TEST(Cgroup, ForkLoopStopsAtPids) {
  REQUIRE_CONTAINER_PRIVILEGES();
  if (!yes(row::cgroup)) {
    const Result r = shell("true", {}, {"--pids", "8"});
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find("--pids"), std::string::npos) << "no such option yet" << r;
    return;
  }
  const Result r = shell(fork_loop(30), {}, {"--pids", "8"});
  EXPECT_EQ(r.status, 0) << r;
  const int processes = std::atoi(last_line(r.out).c_str());
  std::printf("[ measured ] --pids 8: %d processes left when the fork loop gave up\n", processes);
  EXPECT_LE(processes, 8) << "never more than --pids" << r;
  EXPECT_GE(processes, 6) << "the loop went on until the limit stopped it" << r;
  EXPECT_NE(r.err.find("fork"), std::string::npos) << "a fork failed" << r;
}

// --- --memory, --pids, --cpus, from step 4 on -------------------------------------------------

// While the container runs, its cgroup holds the limits asked for (swap included), in the
// files of this machine's cgroup version; without options, a cgroup of its own with none.
TEST(Step4Cgroups, LimitsAreInItsCgroupWhileItRuns) {
  REQUIRE_ROOT();
  const bool v2 = cgroup_v2();
  struct Case {
    std::vector<std::string> options;
    std::string memory, pids, cpu;  // as the kernel shows them; "" for no limit
  };
  const std::vector<Case> cases = {
      {{"--memory", "48m", "--pids", "20", "--cpus", "0.5"}, "50331648", "20", "50000"},
      {{"--memory", "33558528"}, "33558528", "", ""},  // bytes, a whole number of pages
      {{"--memory", "32772k"}, "33558528", "", ""},
      {{"--memory", "32772K"}, "33558528", "", ""},
      {{"--memory", "48M"}, "50331648", "", ""},
      {{"--memory", "1g"}, "1073741824", "", ""},
      {{"--memory", "1G", "--pids", "1000", "--cpus", "0.75"}, "1073741824", "1000", "75000"},
      {{}, "", "", ""},
  };
  for (const auto& want : cases) {
    SCOPED_TRACE(::testing::PrintToString(want.options));
    CgroupSleeper c(want.options);
    ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
    const auto& d = c.dirs;
    if (v2) {
      EXPECT_EQ(cgroup_file(d, "memory.max"), want.memory.empty() ? "max" : want.memory);
      if (!want.memory.empty() && exists(d.at("memory") + "/memory.swap.max")) {
        EXPECT_EQ(cgroup_file(d, "memory.swap.max"), "0") << "no swap beyond the limit";
      }
      EXPECT_EQ(cgroup_file(d, "pids.max"), want.pids.empty() ? "max" : want.pids);
      EXPECT_EQ(cgroup_file(d, "cpu.max"), (want.cpu.empty() ? "max" : want.cpu) + " 100000");
    } else {
      const std::string unlimited = "9223372036854771712";  // the largest, in whole pages
      EXPECT_EQ(cgroup_file(d, "memory.limit_in_bytes"), want.memory.empty() ? unlimited : want.memory);
      if (exists(d.at("memory") + "/memory.memsw.limit_in_bytes")) {
        EXPECT_EQ(cgroup_file(d, "memory.memsw.limit_in_bytes"), want.memory.empty() ? unlimited : want.memory)
            << "memory + swap: no swap beyond the limit";
      }
      EXPECT_EQ(cgroup_file(d, "pids.max"), want.pids.empty() ? "max" : want.pids);
      EXPECT_EQ(cgroup_file(d, "cpu.cfs_quota_us"), want.cpu.empty() ? "-1" : want.cpu);
      EXPECT_EQ(cgroup_file(d, "cpu.cfs_period_us"), "100000");
    }
    const Result r = c.stop();
    EXPECT_EQ(r.status, 137) << r;
    for (const auto& [controller, dir] : d) EXPECT_FALSE(exists(dir)) << dir << " is removed";
  }
}

// The limits hold from COMMAND's first instruction. COMMAND, a shell, reads its own
// /proc/self/cgroup at once (a builtin `read`, no fork), again a second later, then becomes a
// `sleep` (exec: the same process) whose cgroup the test reads from the host. The first view
// must be the last (nobody moved it after it started), and, seen from the host, a cgroup that is
// not the test's: so it was born there, or moved itself in before exec. Inside a cgroup namespace
// rooted at its cgroup it sees itself at "/"; without one, at the path the host sees.
TEST(Step4Cgroups, CommandStartsInsideItsCgroup) {
  REQUIRE_ROOT();
  const auto own = cgroup_dirs("self");
  const std::string read_view = "while read -r line; do echo \"$line\"; done < /proc/self/cgroup";
  Running c = start(container_args({"sh", "-c", read_view + "; echo --; sleep 1; " + read_view + "; exec sleep 1000"}));
  const pid_t sleeper = c.find_process("sleep 1000");
  ASSERT_GT(sleeper, 0) << "`sleep 1000` did not show up in the container";
  const std::string host_view = read_file("/proc/" + std::to_string(sleeper) + "/cgroup");
  const auto dirs = cgroup_dirs(std::to_string(sleeper));
  kill(sleeper, SIGKILL);
  const Result r = c.wait();
  const auto separator = r.out.find("--\n");
  ASSERT_NE(separator, std::string::npos) << r;
  const std::string first = r.out.substr(0, separator), last = r.out.substr(separator + 3);
  EXPECT_EQ(first, last) << "the command was moved to another cgroup after it started" << r;
  for (const auto& [controller, dir] : dirs) EXPECT_NE(dir, own.at(controller)) << controller << ": the test's own cgroup";
  const auto inside = cgroup_paths(first);
  for (const auto& [names, path] : cgroup_paths(host_view)) {
    const bool limited = cgroup_v2() ? names.empty() : std::ranges::any_of(controllers, [&](const std::string c) {
      return ("," + names + ",").find("," + c + ",") != std::string::npos;
    });
    if (!limited) continue;
    const std::string seen = inside.count(names) ? inside.at(names) : "(no line)";
    EXPECT_TRUE(seen == "/" || seen == path) << "'" << names << "': at its start it saw itself at " << seen
                                             << ", the host sees it at " << path << r;
  }
}

// Under its limit a program runs as usual: 8 MiB in a shell under --memory 64m.
TEST(Step4Cgroups, UnderTheMemoryLimitNothingIsKilled) {
  REQUIRE_ROOT();
  const Result r = shell(memory_hog(8 << 20), {}, {"--memory", "64m"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, std::to_string(8 << 20) + "\n") << r;
  EXPECT_EQ(r.err, "") << "no word of memory when no process was killed" << r;
}

// --cpus 0.2 holds a busy loop to about a fifth of one CPU: CPU time over wall time, measured
// from the host over two seconds (generous bounds: the machine may be busy), and the kernel
// throttled it.
TEST(Step4Cgroups, CpusHoldsABusyLoopToItsShare) {
  REQUIRE_ROOT();
  Running c = start(container_args({"sh", "-c", "while :; do :; done"}, {"--cpus", "0.2"}));
  const pid_t loop = c.find_process("sh -c while :; do :; done");
  ASSERT_GT(loop, 0) << "the busy loop did not show up in the container";
  const auto dirs = cgroup_dirs(std::to_string(loop));
  const double cpu_before = cpu_seconds(loop);
  const auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double cpu = cpu_seconds(loop) - cpu_before;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  std::ifstream stat(dirs.at("cpu") + "/cpu.stat");
  std::map<std::string, long long> throttling;
  for (std::string key; stat >> key;) stat >> throttling[key];
  kill(loop, SIGKILL);
  const Result r = c.wait();
  EXPECT_EQ(r.status, 137) << r;
  const double share = cpu / wall;
  std::printf("[ measured ] --cpus 0.2: %.2f s of CPU in %.2f s of wall time = %.2f CPU; throttled in %lld of %lld periods\n",
              cpu, wall, share, throttling["nr_throttled"], throttling["nr_periods"]);
  EXPECT_GE(share, 0.10) << cpu << " s of CPU in " << wall << " s; load: " << read_first_line("/proc/loadavg");
  EXPECT_LE(share, 0.35) << cpu << " s of CPU in " << wall << " s";
  EXPECT_GT(throttling["nr_throttled"], 0) << "the kernel held it back (cpu.stat)";
}

// A value that is no size, count or share is refused before anything is made: 125, one line
// naming the option, and no cgroup left.
TEST(Step4Cgroups, BadValuesAre125AndLeaveNoCgroup) {
  REQUIRE_ROOT();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--memory", "abc"},  {"--memory", "-5"},      {"--memory", "0"},
      {"--memory", "64x"},  {"--memory", "1.5.5"},   {"--memory", ""},
      {"--memory", "99999999999999999999"},          {"--memory", "99999999999g"},
      {"--pids", "abc"},    {"--pids", "-5"},        {"--pids", "0"},
      {"--pids", "1.5"},    {"--pids", ""},          {"--pids", "99999999999999999999"},
      {"--cpus", "abc"},    {"--cpus", "-5"},        {"--cpus", "0"},
      {"--cpus", "1.5.5"},  {"--cpus", ""},          {"--cpus", "nan"},
      {"--cpus", "1e999"},
  };
  const auto before = candidate_cgroups();
  for (const auto& [option, value] : bad) {
    const Result r = container({"true"}, {}, {option, value});
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find(option), std::string::npos) << "the error names the option" << r;
  }
  EXPECT_EQ(new_cgroups(before), std::vector<std::string>{}) << "no cgroup is left";
}

// A value the kernel refuses (pids.max above its PID_MAX_LIMIT, 4194304) is 125 with the
// file and the reason, and leaves nothing: no cgroup, no process.
TEST(Step4Cgroups, KernelRefusalIs125AndLeavesNothing) {
  REQUIRE_ROOT();
  const auto before = candidate_cgroups();
  const Result r = container({"true"}, {}, {"--pids", "5000000"});
  EXPECT_RUNTIME_ERROR(r, 125);
  EXPECT_NE(r.err.find("pids.max"), std::string::npos) << "the error names the file" << r;
  EXPECT_TRUE(r.leftovers.empty()) << r;
  EXPECT_EQ(new_cgroups(before), std::vector<std::string>{}) << "no cgroup is left";
}

// A runtime killed outright cannot remove its container's cgroup: the next start of the program
// does (the row "the runtime killed outright leaves nothing behind"). Where that row says "no"
// (step 4), the cgroup stays, and the case removes it itself.
TEST(Step4Cgroups, KilledRuntimesCgroupIsRemovedByTheNextStart) {
  REQUIRE_ROOT();
  CgroupSleeper c({}, {.expect_leftovers = true, .keep_stale_cgroups = true});
  ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
  ASSERT_EQ(c.dirs.size(), 3u);
  c.runtime.signal(SIGKILL);  // no user code of the runtime runs after this
  kill(c.pid, SIGKILL);       // where the container outlives its runtime
  const Result r = c.runtime.wait();
  EXPECT_EQ(r.signal, SIGKILL) << r;
  const Result next = container({"true"});
  EXPECT_EQ(next.status, 0) << next;
  std::set<std::string> dirs;  // on cgroup v2 the three controllers' are one directory
  for (const auto& [controller, dir] : c.dirs) dirs.insert(dir);
  for (const auto& dir : dirs) {
    if (yes(row::stop)) {
      EXPECT_FALSE(exists(dir)) << dir << " is removed by the next start";
    } else {
      EXPECT_TRUE(exists(dir)) << "step " << step() << ": " << dir << " stays after the next start";
    }
    rmdir(dir.c_str());  // where it stayed
  }
}
