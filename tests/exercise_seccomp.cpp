// Exercise "seccomp" (step 5; solution: exercises/seccomp/solution.patch): a rule of the
// learner's own in step 5's seccomp filter, on an argument: chmod, fchmod and fchmodat fail with
// EPERM when they would set the setuid bit, and work otherwise. Suites named Exercise... run
// only as ctest's exercise/<id>/... tests (exercises/CMakeLists.txt), in no step's filter.
#include "harness.hpp"

using namespace workshop;

TEST(ExerciseSeccomp, SetuidBitIsRefusedOtherModesAreNot) {
  REQUIRE_ROOT();
  const Result r = shell("touch /tmp/f; chmod 755 /tmp/f && echo plain-ok; chmod u+s /tmp/f && echo setuid-set; "
                         "chmod 4755 /tmp/f && echo setuid-set; stat -c %a /tmp/f");
  ASSERT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "plain-ok")) << "a mode without the setuid bit is allowed" << r;
  EXPECT_FALSE(has_line(r.out, "setuid-set")) << "the setuid bit was set" << r;
  EXPECT_EQ(last_line(r.out), "755") << r;
  EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << "refused with EPERM" << r;
}
