// Matrix rows about signals, every step:
// - a command killed from outside gives 128+N (PID 1 killed by SIGKILL: 137);
// - Ctrl-C / SIGTERM to the runtime stops the container, and the runtime killed outright leaves
//   no container process behind (Signals). Where the row says "no", the container's command
//   outlives its runtime (the harness kills it after the case); with -u, from step 5 on
//   (Step5Signals). The cgroup a killed runtime leaves is in test_cgroup.cpp
//   (Step4Cgroups.KilledRuntimesCgroupIsRemovedByTheNextStart).
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

using namespace workshop;
namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The inode of a process's PID namespace ("pid:[4026532182]"), "" when it is gone.
std::string pid_namespace_of(pid_t pid) {
  std::error_code ec;
  const auto link = fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec);
  return ec ? "" : link.string();
}

// Live processes on the host in the PID namespace `ns`.
std::vector<pid_t> processes_in(const std::string& ns) {
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid_namespace_of(std::stoi(name)) == ns && is_alive(std::stoi(name))) found.push_back(std::stoi(name));
  }
  return found;
}

// The same, once the kernel has had up to `seconds` to finish killing them: when PID 1 dies it
// kills the rest of its namespace, which takes a moment.
std::vector<pid_t> processes_left_in(const std::string& ns, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  auto found = processes_in(ns);
  for (; !found.empty() && std::chrono::steady_clock::now() < deadline; found = processes_in(ns))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return found;
}

// A container of two processes (run with `options`) whose runtime is killed outright: where the
// row says "yes" it takes the whole container along (PDEATHSIG takes PID 1, and with it the PID
// namespace), and no process of that namespace is left on the host.
void expect_killed_runtime_takes_the_container_along(const std::vector<std::string>& options) {
  Running runtime = start(container_args({"sh", "-c", "sleep 1000 & sleep 1001"}, options),
                          {.expect_leftovers = !yes(row::stop)});
  const pid_t sleeper = runtime.find_process("sleep 1001");
  ASSERT_GT(sleeper, 0) << "the container did not start";
  const std::string ns = pid_namespace_of(sleeper);
  runtime.signal(SIGKILL);
  const Result r = runtime.wait();
  EXPECT_EQ(r.signal, SIGKILL) << r;
  if (!yes(row::stop)) {
    EXPECT_FALSE(r.leftovers.empty()) << "step " << step() << ": the container outlives its runtime" << r;
    return;
  }
  for (const auto& left : r.leftovers)
    EXPECT_TRUE(left.starts_with("cgroup ")) << "a process outlived its runtime: " << left << r;
  EXPECT_EQ(processes_left_in(ns, 2), std::vector<pid_t>{}) << "processes of the container's PID namespace " << ns << " live on";
}

}  // namespace

TEST(KilledFromOutside, SigkillGives137) {
  REQUIRE_CONTAINER_PRIVILEGES();
  Sleeper c;
  ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
  ASSERT_EQ(kill(c.pid, SIGKILL), 0);
  const Result r = c.runtime.wait();
  EXPECT_EQ(r.status, 137) << r;
  EXPECT_EQ(r.signal, 0) << "the runtime itself exits with 137, it is not killed" << r;
}

// Any other signal N gives 128+N. Where COMMAND is PID 1 of its PID namespace, it ignores every
// signal it has no handler for, also from the host: only SIGKILL ends it.
TEST(KilledFromOutside, SignalNGives128PlusNUnlessPid1) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    Sleeper c;
    ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
    ASSERT_EQ(kill(c.pid, sig), 0);
    if (yes(row::pid1)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      EXPECT_TRUE(is_alive(c.pid)) << "PID 1 ended on signal " << sig;
      kill(c.pid, SIGKILL);
    }
    const Result r = c.runtime.wait();
    EXPECT_EQ(r.status, yes(row::pid1) ? 137 : 128 + sig) << "signal " << sig << r;
  }
}

// SIGTERM to the runtime (not to the container), with a PID 1 that ignores it (no handler, as
// every PID 1): forwarded, then SIGKILL after the grace period (2 s): 137. Where the row says
// "no", the runtime just dies and the container lives on.
TEST(Signals, TermStopsAPid1ThatIgnoresItAfterTheGrace) {
  REQUIRE_CONTAINER_PRIVILEGES();
  Sleeper c({}, {.expect_leftovers = !yes(row::stop)});
  ASSERT_GT(c.pid, 0) << "`sleep 1000` did not show up in the container";
  const auto sent = std::chrono::steady_clock::now();
  c.runtime.signal(SIGTERM);
  const Result r = c.runtime.wait(10);
  const double took = seconds_since(sent);
  if (!yes(row::stop)) {
    EXPECT_EQ(r.signal, SIGTERM) << r;
    EXPECT_FALSE(r.leftovers.empty()) << "step " << step() << ": the container outlives its runtime" << r;
    return;
  }
  EXPECT_EQ(r.status, 137) << r;
  EXPECT_EQ(r.signal, 0) << "the runtime exits, it is not killed" << r;
  EXPECT_GE(took, 1.5) << "PID 1 gets its grace period first";
  EXPECT_LT(took, 6.0) << "and is killed soon after";
  EXPECT_TRUE(r.leftovers.empty()) << r;
}

// SIGINT, SIGTERM and SIGHUP reach a PID 1 that handles them, at once; its exit status is the
// container's. (A loop of short sleeps, not `sleep &`: busybox sh wants /dev/null for a
// background job, and before step 5 /dev is empty.)
TEST(Signals, ForwardedToAHandlerInPid1) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    const std::string name = sig == SIGINT ? "INT" : sig == SIGTERM ? "TERM" : "HUP";
    Running runtime = start(container_args({"sh", "-c", "trap 'echo caught-" + name + "; exit 3' " + name +
                                                            "; echo ready; while :; do sleep 0.2; done"}),
                            {.expect_leftovers = !yes(row::stop)});
    ASSERT_TRUE(runtime.wait_for_output("ready")) << name;
    const auto sent = std::chrono::steady_clock::now();
    runtime.signal(sig);
    const Result r = runtime.wait(10);
    if (!yes(row::stop)) {
      EXPECT_EQ(r.signal, sig) << "step " << step() << ": the runtime dies of it" << r;
      EXPECT_FALSE(has_line(r.out, "caught-" + name)) << r;
      continue;
    }
    EXPECT_EQ(r.status, 3) << name << r;
    EXPECT_TRUE(has_line(r.out, "caught-" + name)) << r;
    EXPECT_LT(seconds_since(sent), 1.5) << "forwarded at once, no grace needed";
  }
}

// The runtime killed outright (SIGKILL, no chance to clean up): the whole container goes with it.
TEST(Signals, KilledRuntimeTakesTheContainerAlong) {
  REQUIRE_CONTAINER_PRIVILEGES();
  expect_killed_runtime_takes_the_container_along({});
}

// The same with another user inside (-u): the kernel clears the parent-death signal when a
// process changes its user or group, so a runtime that asked for it before the switch only has
// to ask again after it.
TEST(Step5Signals, KilledRuntimeTakesAUsersContainerAlong) {
  REQUIRE_ROOT();
  expect_killed_runtime_takes_the_container_along({"-u", "1000"});
}
