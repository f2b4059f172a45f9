// Matrix rows about signals, every step:
// - a command killed from outside gives 128+N (PID 1 killed by SIGKILL: 137);
// - Ctrl-C / SIGTERM to the runtime stops the container, and the runtime killed outright leaves
//   no container process behind: yes only in step 5. Before it, the "no" is shown: the
//   container's command outlives its runtime (the harness kills it after the case).
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <thread>

using namespace workshop;

namespace {

// A container running `sleep 1000`, and the host PID of that sleep.
struct Sleeper {
  Running runtime;
  pid_t sleep_pid = -1;

  explicit Sleeper(const Options& options = {})
      : runtime(start(container_args({"sleep", "1000"}), options)),
        sleep_pid(runtime.find_process("sleep 1000")) {}
};

}  // namespace

TEST(KilledFromOutside, SigkillGives137) {
  REQUIRE_CONTAINER_PRIVILEGES();
  Sleeper c;
  ASSERT_GT(c.sleep_pid, 0) << "`sleep 1000` did not show up in the container";
  ASSERT_EQ(kill(c.sleep_pid, SIGKILL), 0);
  const Result r = c.runtime.wait();
  EXPECT_EQ(r.status, 137) << r;
  EXPECT_EQ(r.signal, 0) << "the runtime itself exits with 137, it is not killed" << r;
}

// Any other signal N gives 128+N. From step 2 on the command is PID 1 of its PID namespace,
// which ignores every signal it has no handler for, also from the host: only SIGKILL ends it.
TEST(KilledFromOutside, SignalNGives128PlusNUnlessPid1) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    Sleeper c;
    ASSERT_GT(c.sleep_pid, 0) << "`sleep 1000` did not show up in the container";
    ASSERT_EQ(kill(c.sleep_pid, sig), 0);
    if (step() >= 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      EXPECT_TRUE(is_alive(c.sleep_pid)) << "PID 1 ended on signal " << sig;
      kill(c.sleep_pid, SIGKILL);
    }
    const Result r = c.runtime.wait();
    EXPECT_EQ(r.status, step() == 1 ? 128 + sig : 137) << "signal " << sig << r;
  }
}

// Ctrl-C / SIGTERM to the runtime (not to the container) stops the container: step 5.
TEST(StopRuntime, SigtermStopsTheContainer) {
  REQUIRE_CONTAINER_PRIVILEGES();
  Sleeper c({.expect_leftovers = step() < 5});
  ASSERT_GT(c.sleep_pid, 0) << "`sleep 1000` did not show up in the container";
  c.runtime.signal(SIGTERM);
  const Result r = c.runtime.wait(15);
  if (step() < 5)
    EXPECT_FALSE(r.leftovers.empty()) << "step " << step() << ": the container outlives a "
                                      << "runtime stopped with SIGTERM (the matrix says no)" << r;
  else
    EXPECT_TRUE(r.leftovers.empty()) << r;
}

// The runtime killed outright (SIGKILL, no chance to clean up) leaves no container process.
TEST(StopRuntime, SigkillLeavesNoProcessBehind) {
  REQUIRE_CONTAINER_PRIVILEGES();
  Sleeper c({.expect_leftovers = step() < 5});
  ASSERT_GT(c.sleep_pid, 0) << "`sleep 1000` did not show up in the container";
  c.runtime.signal(SIGKILL);
  const Result r = c.runtime.wait();
  EXPECT_EQ(r.signal, SIGKILL) << r;
  if (step() < 5) {
    EXPECT_FALSE(r.leftovers.empty()) << "step " << step() << ": the container outlives a "
                                      << "runtime killed outright (the matrix says no)" << r;
  } else {
    EXPECT_TRUE(r.leftovers.empty()) << r;
  }
  // From step 4 on its cgroup stays behind (nobody was left to remove it): the next run does.
  if (step() >= 4) {
    EXPECT_EQ(container({"true"}).status, 0);
  }
}
