// The error rule, every step (docs/contract.md, "Exit status and errors"): what the runtime does
// when it cannot run.
// Usage errors and 126/127 are in test_cli.cpp and test_exit_status.cpp.
#include "harness.hpp"

using namespace workshop;

namespace {
constexpr uid_t nobody = 65534;
}

// Not root. Step 1 needs no privileges at all, and runs as anybody: that is its cell. A later
// step may need root (namespaces, mounts and cgroups do): then it says so, by the error rule
// (125, one line naming root). One that runs as anybody all the same, in a user namespace of its
// own say, is judged by the rows of what it isolates.
TEST(NotRoot, RunsOrSaysRootIsNeeded) {
  REQUIRE_ROOT();  // to become nobody
  const Result r = container({"id", "-u"}, {.uid = nobody, .gid = nobody});
  if (step() == 1) {
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "65534\n") << r;
    return;
  }
  if (r.status == 0) return;
  EXPECT_RUNTIME_ERROR(r, 125);
  EXPECT_NE(r.err.find("root"), std::string::npos) << "the error says root is needed" << r;
}

// An empty COMMAND is a command that does not exist.
TEST(Errors, EmptyCommandIs127) {
  REQUIRE_CONTAINER_PRIVILEGES();
  EXPECT_RUNTIME_ERROR(container({""}), 127);
}

// Arguments the runtime's parser might trip over are the command's, not errors.
TEST(Errors, OddArgumentsAreNoErrors) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string long_argument(100000, 'x');
  const Result r = container({"sh", "-c", "echo ${#1}", "sh", long_argument});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "100000\n") << r.err;
}
