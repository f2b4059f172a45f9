// Exercise "etc-hosts" (step 5; solution: exercises/etc-hosts/solution.patch): the container
// knows its own name, as under docker: /etc/hostname holds it and /etc/hosts maps it to an
// address, so `hostname -i` finds it. Written in the throwaway layer: the rootfs on disk stays.
// Suites named Exercise... run only as ctest's exercise/<id>/... tests (exercises/CMakeLists.txt).
#include "harness.hpp"

using namespace workshop;

TEST(ExerciseEtcHosts, OwnNameIsInEtcHostnameAndResolves) {
  REQUIRE_ROOT();
  const std::string hosts_on_disk = read_file(rootfs() + "/etc/hosts");
  const Result r = shell("cat /etc/hostname; hostname -i; cat /etc/hosts", {}, {"--hostname", "exercise-name"});
  EXPECT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_GE(out.size(), 2u) << r;
  EXPECT_EQ(out[0], "exercise-name") << "/etc/hostname holds the name" << r;
  EXPECT_EQ(out[1], "127.0.1.1") << "`hostname -i` finds it in /etc/hosts" << r;
  EXPECT_TRUE(has_line(r.out, "127.0.0.1\tlocalhost")) << "the rootfs's lines stay" << r;
  EXPECT_EQ(read_file(rootfs() + "/etc/hosts"), hosts_on_disk) << "the rootfs on disk is not changed";
}
