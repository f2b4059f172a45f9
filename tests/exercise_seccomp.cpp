// Exercise "seccomp" (step 5; solution: exercises/seccomp/solution.patch): a seccomp filter
// makes unshare(2) fail with EPERM, as docker's default profile does. Step 5's root has few
// capabilities left, but unshare(CLONE_NEWUSER) needs none, and inside the new user namespace
// the caller holds them all. Suites named Exercise... run only as ctest's exercise/<id>/...
// tests (exercises/CMakeLists.txt), in no step's filter.
#include "harness.hpp"

using namespace workshop;

TEST(ExerciseSeccomp, UnshareIsRefusedWithEperm) {
  REQUIRE_ROOT();
  const Result r = shell("grep Seccomp: /proc/self/status; unshare -U true && echo unshared; echo goes-on");
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "Seccomp:\t2")) << "COMMAND runs under a seccomp filter (mode 2)" << r;
  EXPECT_FALSE(has_line(r.out, "unshared")) << "busybox `unshare -U` made a user namespace" << r;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << "refused with EPERM" << r;
  EXPECT_TRUE(has_line(r.out, "goes-on")) << "the filter refuses one call, it kills nothing" << r;
}
