// The workshop's test runner: GoogleTest plus the host guard, which checks that the tests left
// the host's mounts, hostname, cgroups and processes as they were (see host_guard.cpp).
#include "harness.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  testing::AddGlobalTestEnvironment(workshop::new_host_guard());
  return RUN_ALL_TESTS();
}
