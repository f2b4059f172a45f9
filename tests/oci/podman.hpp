// The oci tests' machinery: a world of the test's own where podman drives the OCI runtime under
// test, and the check that nothing is left behind. The cases are in test_oci.cpp.
#pragma once

#include "../harness.hpp"

#include <string>
#include <vector>

namespace workshop::oci {

// The OCI runtime podman drives: --runtime=PATH on the command line (see podman.cpp).
const std::string& runtime();

// The workshop's rootfs, imported into the test's own podman storage as this image.
inline const std::string image = "localhost/workshop-rootfs";

// `podman GLOBAL-OPTIONS args...`, waited for, where GLOBAL-OPTIONS put podman's storage in the
// test's world and name the runtime: the one under test, or `with_runtime`.
Result podman(const std::vector<std::string>& args, const Options& options = {},
              const std::string& with_runtime = runtime());

// The runtime under test called directly, as podman and conmon call it (`state ID`...), waited for.
Result call_runtime(const std::vector<std::string>& args);

// Every case: skips (fails under CI=true) when the world could not be made; afterwards, checks
// that the case left nothing behind and removes what podman itself keeps (its conmon cgroup).
class Oci : public testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // podman() with the case's runtime: the one under test, unless the case says otherwise.
  Result podman(const std::vector<std::string>& args, const Options& options = {}) const {
    return oci::podman(args, options, runtime_);
  }
  std::string runtime_ = runtime();

  // `podman run --network none --ulimit ... --cgroup-parent P OPTIONS IMAGE COMMAND...`: what
  // every container here needs on this host (podman.cpp says why), then the case's options.
  std::vector<std::string> run_args(const std::vector<std::string>& options,
                                    const std::vector<std::string>& command) const;
  // run_args with --rm, waited for.
  Result run(const std::vector<std::string>& options, const std::vector<std::string>& command) const;
  // A detached container (`run -d --name NAME`) running `command`; returns its full ID.
  std::string run_detached(const std::string& name, const std::vector<std::string>& command,
                           const std::vector<std::string>& options = {}) const;
  // `podman inspect --format FORMAT name`, its output without the newline.
  std::string inspect(const std::string& name, const std::string& format) const;
  // The cgroup directories of container ID, in every mounted hierarchy where it has one.
  std::vector<std::string> container_cgroups(const std::string& id) const;

  const std::string cgroup_parent = unique_name("workshop-oci");
};

}  // namespace workshop::oci
