// Exit statuses, every step (docs/contract.md, "Exit status and errors": `docker run`'s).
// 128+N for a command killed by signal N is in test_signals.cpp.
#include "harness.hpp"

using namespace workshop;

TEST(ExitStatus, ZeroWhenTheCommandSucceeds) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"true"});
  EXPECT_EQ(r.status, 0) << r;
}

TEST(ExitStatus, IsTheCommandsOwn) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (int status : {1, 42, 124, 125, 126, 127, 255}) {
    const Result r = shell("exit " + std::to_string(status));
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.err, "") << "a status of the command's is no error of the runtime's" << r;
  }
}

// Refused before anything runs: no root needed.
TEST(ExitStatus, BadOptionIs125) {
  for (const std::string option : {"--no-such-option", "-Z", "--no-such-option=1"}) {
    const Result r = container({"true"}, {}, {option});
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find(option.substr(0, option.find('='))), std::string::npos)
        << "the error names the bad option" << r;
  }
}

TEST(ExitStatus, CommandNotFoundIs127) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (const std::string command : {"no-such-command-in-path", "/no/such/program"}) {
    const Result r = container({command, "arg"});
    EXPECT_RUNTIME_ERROR(r, 127);
    EXPECT_NE(r.err.find(command), std::string::npos) << "the error names the command" << r;
  }
}

// /etc/passwd exists in the host's root and in the rootfs, and is not executable.
TEST(ExitStatus, CommandNotExecutableIs126) {
  REQUIRE_CONTAINER_PRIVILEGES();
  for (const std::string command : {"/etc/passwd", "/etc"}) {
    const Result r = container({command});
    EXPECT_RUNTIME_ERROR(r, 126);
    EXPECT_NE(r.err.find(command), std::string::npos) << "the error names the command" << r;
  }
}
