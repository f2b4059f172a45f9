// The command line, every step (docs/contract.md, "The command line"): --help on the program and
// on `run`, the hidden `child` subcommand, and usage errors (125, one line each: "Exit status and
// errors").
#include "harness.hpp"

using namespace workshop;

namespace {

// `--help` output: on stdout, exit 0, nothing on stderr.
Result help(const std::vector<std::string>& args) {
  Result r = run(args);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.err, "") << r;
  return r;
}

bool mentions(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

// A help text lists a subcommand as a line that starts with its name.
bool lists_subcommand(const std::string& help_text, const std::string& name) {
  for (const auto& line : lines(help_text)) {
    const auto first = line.find_first_not_of(' ');
    if (first != std::string::npos && line.compare(first, name.size() + 1, name + " ") == 0)
      return true;
  }
  return false;
}

}  // namespace

// No root needed: nothing runs.
TEST(Cli, HelpOnTheProgram) {
  const Result r = help({"--help"});
  EXPECT_TRUE(lists_subcommand(r.out, "run")) << "--help lists the `run` subcommand" << r;
  EXPECT_FALSE(lists_subcommand(r.out, "child")) << "`child` is internal, hidden from --help" << r;
}

TEST(Cli, HelpOnRun) {
  const Result r = help({"run", "--help"});
  EXPECT_TRUE(mentions(r.out, "COMMAND")) << "run --help says how to pass COMMAND" << r;
  EXPECT_FALSE(lists_subcommand(r.out, "child")) << r;
  if (yes(row::rootfs_option)) {
    EXPECT_TRUE(mentions(r.out, "--rootfs")) << r;
  }
}

TEST(Cli, ChildRefusesToRunByHand) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"child", "echo", "ran"},
                                               {"child", "--", "echo", "ran"}}) {
    const Result r = run(args);
    EXPECT_RUNTIME_ERROR(r, 125);  // which also says: "ran" was not printed
  }
}

TEST(Cli, NoSubcommandIs125) {
  EXPECT_RUNTIME_ERROR(run({}), 125);
}

TEST(Cli, UnknownSubcommandIs125) {
  EXPECT_RUNTIME_ERROR(run({"start", "true"}), 125);
}

TEST(Cli, RunWithoutCommandIs125) {
  EXPECT_RUNTIME_ERROR(run({"run"}), 125);
  EXPECT_RUNTIME_ERROR(run({"run", "--"}), 125);
}
