// The harness itself (label `tools`, with step 1's program, which needs no root).
#include "harness.hpp"

#include <fcntl.h>
#include <unistd.h>

using namespace workshop;

// Only stdin, stdout and stderr of the test process reach a program the tests start: ctest's
// log and whatever else the test process holds stay out of the container (docs/contract.md,
// "The host after the tests"). `ls` lists its own fd 3, the directory it reads.
TEST(ToolHarness, OnlyStdioReachesTheProgram) {
  const Result r = container({"ls", "/proc/self/fd"});
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "0\n1\n2\n3\n") << r;
}

// Options::open_fds: the program starts with those descriptors open as well, at those numbers,
// copies of the test's (here the same directory twice). `ls` reads /proc/self/fd as fd 4.
TEST(ToolHarness, OpenFdsReachTheProgramAtTheirNumbers) {
  const int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  const Result r = container({"ls", "/proc/self/fd"}, {.open_fds = {{3, dir}, {7, dir}}});
  close(dir);
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "0\n1\n2\n3\n4\n7\n") << r;
}
