// The workshop's test runner: GoogleTest plus the host guard, which checks that the tests left
// the host's mounts, hostname, cgroups and processes as they were (see host_guard.cpp).
// With --grade it prints a report of the matrix's rows instead of a line per case (grade.cpp).
#include "harness.hpp"

namespace workshop {
bool start_grading(int& argc, char** argv);  // grade.cpp: true with --grade
int graded_exit_status();                    // 0 when every row is met, else 1
}  // namespace workshop

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const bool grading = workshop::start_grading(argc, argv);
  testing::AddGlobalTestEnvironment(workshop::new_host_guard());
  const int status = RUN_ALL_TESTS();
  return grading ? workshop::graded_exit_status() : status;
}
