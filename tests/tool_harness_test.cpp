// The harness itself (label `tools`, with step 1's program, which needs no root).
#include "harness.hpp"

using namespace workshop;

// Only stdin, stdout and stderr of the test process reach a program the tests start: ctest's
// log and whatever else the test process holds stay out of the container (docs/contract.md,
// "The host after the tests"). `ls` lists its own fd 3, the directory it reads.
TEST(ToolHarness, OnlyStdioReachesTheProgram) {
  const Result r = container({"ls", "/proc/self/fd"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "0\n1\n2\n3\n") << r;
}
