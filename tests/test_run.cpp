// Matrix row 1, every step: runs COMMAND with its args; stdin, stdout, stderr attached.
#include "harness.hpp"

#include <set>
#include <sstream>
#include <unistd.h>

using namespace workshop;

namespace {

// A shell script that prints each of its arguments as [ARG] on a line of its own.
const std::string print_args = R"(for a; do printf '[%s]\n' "$a"; done)";

std::string bracketed(const std::vector<std::string>& args) {
  std::string text;
  for (const auto& arg : args) text += "[" + arg + "]\n";
  return text;
}

}  // namespace

TEST(Run, CommandRunsWithItsArguments) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"echo", "hello", "world"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "hello world\n") << r;
  EXPECT_EQ(r.err, "") << "the runtime adds nothing to a successful run's output" << r;
}

// Everything from COMMAND on is the container's argv: spaces, quotes, an empty argument, and
// words that look like the runtime's own options or like `--`.
TEST(Run, ArgumentsArePassedUntouched) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::vector<std::string> args{"two words", "'single'", "\"double\"", "", "--", "-la",
                                      "--help", "--rootfs", "/nonexistent", "run", "$HOME", "*",
                                      "back\\slash", "tab\there", "new\nline"};
  std::vector<std::string> command{"sh", "-c", print_args, "sh"};
  command.insert(command.end(), args.begin(), args.end());
  const Result r = container(command);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, bracketed(args)) << r;
}

TEST(Run, OptionsAfterCommandBelongToIt) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result ls = container({"ls", "-la", "/"});
  EXPECT_EQ(ls.status, 0) << ls;
  EXPECT_NE(ls.out.find(" ..\n"), std::string::npos) << "`ls -la` lists `..`" << ls;
  const Result echo = container({"echo", "-n", "no newline"});
  EXPECT_EQ(echo.status, 0) << echo;
  EXPECT_EQ(echo.out, "no newline") << echo;
}

TEST(Run, DoubleDashBeforeCommandIsAccepted) {
  REQUIRE_CONTAINER_PRIVILEGES();
  // run [--rootfs DIR] -- sh -c SCRIPT sh -- -x
  const Result r = container({"--", "sh", "-c", print_args, "sh", "--", "-x"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, bracketed({"--", "-x"})) << "only the first `--` is the runtime's" << r;
}

TEST(Stdin, IsPipedThrough) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"cat"}, {.input = "first line\nsecond line\n"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "first line\nsecond line\n") << r;
}

TEST(Stdin, EndOfInputReachesTheCommand) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("n=0; while read line; do n=$((n+1)); done; echo $n lines",
                         {.input = "a\nb\nc\n", .timeout_seconds = 10});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "3 lines\n") << r;
}

TEST(Stdin, LargeInputAndOutputFlowThrough) {
  REQUIRE_CONTAINER_PRIVILEGES();
  std::string input;
  for (int i = 0; input.size() < (2 << 20); ++i) input += "line " + std::to_string(i) + "\n";
  const Result r = container({"cat"}, {.input = input});
  EXPECT_EQ(r.status, 0) << "exit status " << r.status << ", stderr: " << r.err;
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input) << "2 MiB through `cat` came back changed";
}

TEST(Output, StdoutAndStderrAreSeparate) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("echo to-stdout; echo to-stderr >&2; echo more-stdout");
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "to-stdout\nmore-stdout\n") << r;
  EXPECT_EQ(r.err, "to-stderr\n") << r;
}

// The runtime adds nothing to COMMAND's environment: every variable is one the caller set, or one
// the runtime promises to set (PATH, HOME, HOSTNAME, TERM: docs/contract.md, "The command
// line"). No marker of the runtime's own, such as one that tells `child` it was started by `run`.
TEST(Run, EnvironmentHasNothingOfTheRuntimes) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"cat", "/proc/self/environ"}, {.env = {"WORKSHOP_PROBE=from-the-caller"}});
  ASSERT_EQ(r.status, 0) << r;
  std::set<std::string> callers{"WORKSHOP_PROBE"};
  for (char** e = environ; *e; ++e) callers.insert(std::string(*e).substr(0, std::string(*e).find('=')));
  std::istringstream entries(r.out);
  for (std::string entry; std::getline(entries, entry, '\0');) {
    const std::string name = entry.substr(0, entry.find('='));
    EXPECT_TRUE(callers.count(name) || name == "PATH" || name == "HOME" || name == "HOSTNAME" || name == "TERM")
        << name << " comes from the runtime" << r;
  }
}
