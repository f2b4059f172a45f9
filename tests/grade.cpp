// Grading: the shared suite as a report card for a container a learner wrote.
//
//   sudo ./workshop grade 3 path/to/my-step3       (the script sets the environment below)
//   WORKSHOP_STEP=3 WORKSHOP_BINARY=path/to/my-step3 WORKSHOP_ROOTFS=build/rootfs
//     WORKSHOP_SOURCE_DIR=. build/bin/workshop-tests --grade [--grade-log=FILE] [--grade-row=ID]
//
// runs the cases ctest runs for that step (the same filter: tests/CMakeLists.txt hands it to this
// file), or with --grade-row only those of one row, and, instead of gtest's line per case, prints
// one line per row of the matrix (docs/mainpage.md, "What each step isolates") and per rule of
// docs/contract.md (the command line, exit status and errors, the host after the tests): met, or
// not yet, with the failed cases and what to read. gtest's whole output, every failure's details
// included, goes to the log file named at the end.
//
// A row of a later step is not the learner's to meet yet. Its cases assert the "no" that the
// workshop's own step shows; when a learner's program fails them, the grader runs them again as
// that later step, and says "ahead" when they pass there. Never a failure.
// Exit status: 0 when every row up to the graded step is met, 1 when one is not, 2 when grading
// cannot start.
//
// A case counts for the row its suite stands for: one table, `suites` below; from which step a
// row is "yes" is the other table, tests/matrix.hpp. ToolGrade checks that every suite compiled
// into workshop-tests is in this one, and that every row points at code that exists.
#include "harness.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace workshop {
namespace {

// --- the table: which row a case counts for -----------------------------------------------------

struct Suite {
  std::string_view name;  // a suite, or Suite.Case for one case of it
  int from_step;          // counts for `row` from this step on (the entry with the highest
                          // from_step not above the graded step wins; a case's over its suite's)
  std::string_view row;
};

// Suites named Tool... and Exercise... are not graded: no step's filter runs them.
constexpr Suite suites[] = {
    {"Run", 1, "run"},
    {"Stdin", 1, "run"},
    {"Output", 1, "run"},
    {"Hostname", 1, "hostname"},
    {"Pid1", 1, "pid1"},
    {"Mounts", 1, "mounts"},
    {"Rootfs", 1, "rootfs"},
    {"Rootfs.SubmountsOfTheRootfs", 5, "overlay"},  // from step 5 `/` is a layer, not the rootfs's mount
    {"OldRoot", 1, "old-root"},
    {"Proc", 1, "proc"},
    {"Cgroup", 1, "cgroup"},
    {"OldRootGone", 1, "old-root"},
    {"World", 1, "world"},
    {"Privileges", 1, "privileges"},
    {"Step5Attacks", 5, "privileges"},
    {"NothingCrossesOver", 1, "crossing"},
    {"Step5Attacks.VolumeTargetThroughAMagicLinkIsRefused", 5, "crossing"},
    {"Step5Attacks.WritableLayerAndTmpAreBounded", 5, "crossing"},
    {"Step5Attacks.Pid1ThatTracesItselfDoesNotFoolTheRuntime", 5, "stop"},
    {"Overlay", 1, "overlay"},
    {"Step5Overlay", 5, "overlay"},
    {"KilledFromOutside", 1, "killed"},
    {"KilledFromOutside.SignalNGives128PlusNUnlessPid1", 2, "pid1"},  // from step 2 PID 1 ignores them
    {"Signals", 1, "stop"},
    {"Step5Signals", 5, "stop"},
    {"Step5Terminal", 5, "stop"},
    {"Step5Terminal.OwnTerminalFollowsTheWindowSize", 5, "crossing"},
    {"Step5Terminal.CallersTerminalIsRestoredAtExit", 5, "crossing"},
    {"Step5Load", 5, "stop"},
    {"Step5Signals", 5, "stop"},
    {"Cli", 1, "cli"},
    {"Cli.HelpOnRun", 3, "rootfs-option"},  // from step 3 it also wants --rootfs in `run --help`
    {"ExitStatus", 1, "errors"},
    {"Errors", 1, "errors"},
    {"NotRoot", 1, "errors"},
    {"Step3Rootfs", 3, "rootfs-option"},
    {"Step4Cgroups", 4, "limits"},
    {"Step4Cgroups.KilledRuntimesCgroupIsRemovedByTheNextStart", 4, "stop"},
    {"Step5Options", 5, "options"},
    {"Step5BadOptions", 5, "options"},
};

bool graded(std::string_view suite) { return !suite.starts_with("Tool") && !suite.starts_with("Exercise"); }

// The first step whose filter runs `suite`: M for Step<M>..., else 1.
int first_step_of(std::string_view suite) {
  if (suite.size() > 4 && suite.starts_with("Step") && suite[4] >= '1' && suite[4] <= '5') return suite[4] - '0';
  return 1;
}

// The row case `suite`.`name` counts for at `step`, or nullptr ("other": not in the table).
const Row* row_of(std::string_view suite, std::string_view name, int step) {
  const std::string full = std::string(suite) + "." + std::string(name);
  for (const std::string_view key : {std::string_view(full), suite}) {
    const Suite* best = nullptr;
    for (const Suite& entry : suites)
      if (entry.name == key && entry.from_step <= step && (!best || entry.from_step > best->from_step)) best = &entry;
    if (best) return find_row(best->row);
  }
  return nullptr;
}

// The filter ctest uses for step N (tests/CMakeLists.txt passes the five, space-separated).
std::string step_filter(int step) {
  std::istringstream filters(WORKSHOP_STEP_FILTERS);
  std::string filter;
  for (int n = 1; n <= step; ++n) filters >> filter;
  return filter;
}

// The cases of row `id` that the filter of `step` runs: a --gtest_filter.
std::string row_filter(std::string_view id, int step) {
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  std::string filter;
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (!graded(suite.name()) || first_step_of(suite.name()) > step) continue;
    for (int j = 0; j < suite.total_test_count(); ++j) {
      const Row* row = row_of(suite.name(), suite.GetTestInfo(j)->name(), step);
      if (row && row->id == id) filter += (filter.empty() ? "" : ":") + std::string(suite.name()) + "." + suite.GetTestInfo(j)->name();
    }
  }
  return filter;
}

// Runs the cases `names` again, as step `step`, in a process of their own whose output goes to
// the log (this process's stdout): true when they all pass there.
bool pass_as_step(const std::vector<std::string>& names, int step) {
  std::string filter;
  for (const auto& name : names) filter += (filter.empty() ? "" : ":") + name;
  std::vector<std::string> args{"/proc/self/exe", "--gtest_filter=" + filter};
  std::vector<std::string> env{"WORKSHOP_STEP=" + std::to_string(step)};
  for (char** e = environ; *e; ++e)
    if (!std::string_view(*e).starts_with("WORKSHOP_STEP=")) env.push_back(*e);
  std::vector<char*> c_args, c_env;
  for (auto& arg : args) c_args.push_back(arg.data());
  for (auto& entry : env) c_env.push_back(entry.data());
  c_args.push_back(nullptr);
  c_env.push_back(nullptr);
  std::printf("\n[ grader ] the cases of a later row, again as step %d: %s\n", step, filter.c_str());
  std::fflush(stdout);
  int status = -1;
  try {
    const pid_t pid = spawn([&](int report) {
      if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0) child_fail(report, "dup2");
      exec_with_stdio_only(report, c_args.data(), c_env.data());
    });
    waitpid(pid, &status, 0);
  } catch (const std::exception& e) {
    std::printf("[ grader ] cannot run them: %s\n", e.what());
  }
  return status == 0;
}

// --- the report ---------------------------------------------------------------------------------

struct Outcome {
  std::vector<std::string> failed, skipped, passed;  // case names; skipped with the reason
};

class Grader : public testing::EmptyTestEventListener {
 public:
  // With `only` a row id: that row and the host's alone are reported (--grade-row).
  Grader(int step, std::string log, FILE* out, std::string only)
      : step_(step), log_(std::move(log)), out_(out), only_(std::move(only)) {}

  int exit_status() const { return exit_status_; }

  void OnTestProgramStart(const testing::UnitTest& unit) override {
    start_ = std::chrono::steady_clock::now();
    total_ = unit.test_to_run_count();
    std::fprintf(out_, "Grading %s as step %d: %d cases (the whole log: %s)\n", binary().c_str(), step_, total_,
                 log_.c_str());
    std::fflush(out_);
  }

  void OnTestStart(const testing::TestInfo& info) override {
    ++started_;
    if (!isatty(fileno(out_))) return;
    std::fprintf(out_, "\r\033[K  [%d/%d] %s.%s", started_, total_, info.test_suite_name(), info.name());
    std::fflush(out_);
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    const std::string name = std::string(info.test_suite_name()) + "." + info.name();
    const Row* row = row_of(info.test_suite_name(), info.name(), step_);
    Outcome& outcome = outcomes_[std::string(row ? row->id : "other")];
    const testing::TestResult& result = *info.result();
    if (result.Failed()) {
      outcome.failed.push_back(name);
    } else if (result.Skipped()) {
      std::string reason;
      for (int i = 0; i < result.total_part_count(); ++i)
        if (result.GetTestPartResult(i).skipped()) reason = first_line(result.GetTestPartResult(i).message());
      outcome.skipped.push_back(name + (reason.empty() ? "" : " (" + reason + ")"));
    } else {
      outcome.passed.push_back(name);
    }
  }

  void OnTestProgramEnd(const testing::UnitTest& unit) override {
    if (isatty(fileno(out_))) std::fprintf(out_, "\r\033[K");
    const testing::TestResult& host = unit.ad_hoc_test_result();  // the host guard's findings
    for (int i = 0; i < host.total_part_count(); ++i)
      if (host.GetTestPartResult(i).failed())
        outcomes_["host"].failed.push_back(first_line(host.GetTestPartResult(i).message()));
    if (!host.Failed()) outcomes_["host"].passed.push_back("host guard");
    for (const Row& row : matrix) check_ahead(row);
    for (const Row& row : rules) check_ahead(row);

    std::fprintf(out_, "\nWhat each step isolates (docs/mainpage.md, \"What each step isolates\"):\n");
    for (const Row& row : matrix) print_row(row);
    std::fprintf(out_, "The command line, exit status and host (docs/contract.md):\n");
    for (const Row& row : rules) print_row(row);
    if (outcomes_.count("other")) print_other(outcomes_["other"]);

    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_);
    std::fprintf(out_, "(✓ met, ✗ not met, ? not checked, · a later step's row, ↑ a later step's row met ahead)\n\n");
    if (not_met_.empty() && unchecked_.empty()) std::fprintf(out_, "All %d rows of step %d met.\n", graded_rows_, step_);
    if (!not_met_.empty())
      std::fprintf(out_, "Not yet met (%zu of %d): %s\n", not_met_.size(), graded_rows_, join_titles(not_met_).c_str());
    if (!unchecked_.empty())
      std::fprintf(out_, "Not checked, cases skipped (%zu): %s\n", unchecked_.size(), join_titles(unchecked_).c_str());
    if (!ahead_.empty())
      std::fprintf(out_, "Ahead of step %d (%zu): %s\n", step_, ahead_.size(), join_titles(ahead_).c_str());
    std::fprintf(out_, "%d cases in %lld s. Every failure in detail: %s\n", started_,
                 static_cast<long long>(seconds.count()), log_.c_str());
    std::fflush(out_);
    exit_status_ = not_met_.empty() && unchecked_.empty() ? 0 : 1;
  }

 private:
  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  static std::string join_titles(const std::vector<std::string>& titles) {
    std::string text;
    for (const auto& title : titles) text += (text.empty() ? "" : "; ") + title;
    return text;
  }

  // The names, comma-separated, in lines of at most 100 columns below a 15-column label.
  static std::string join(const std::vector<std::string>& names) {
    std::string text;
    size_t column = 15;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string item = names[i] + (i + 1 < names.size() ? "," : "");
      if (i > 0 && column + 1 + item.size() > 100) {
        text += "\n" + std::string(15, ' ');
        column = 15;
      } else if (i > 0) {
        text += " ";
        ++column;
      }
      text += item;
      column += item.size();
    }
    return text;
  }

  // "step3-rootfs/README.md, where it shows setup_rootfs (step3-rootfs/main.cpp)", and the page
  // of the mistakes the tests catch.
  static std::string what_to_read(const Row& row) {
    if (row.read.empty()) return "the \"host guard:\" lines of the log say what was left behind";
    const std::string_view path = row.read.substr(0, row.read.find('#'));
    const std::string_view folder = path.substr(0, path.find('/'));
    return std::string(folder) + "/README.md, where it shows " + std::string(row.read.substr(row.read.find('#') + 1)) +
           " (" + std::string(path) + ")\n               docs/pitfalls.md, \"Mistakes the tests catch\"";
  }

  // A later row whose cases did not all show the workshop's "no": ahead when those cases pass as
  // that step (the others still show the "no": the row is met in part, as far as they tell).
  void check_ahead(const Row& row) {
    const Outcome& outcome = outcomes_[std::string(row.id)];
    if (row.from_step <= step_ || outcome.failed.empty() || !outcome.skipped.empty()) return;
    if (pass_as_step(outcome.failed, row.from_step)) met_ahead_.insert(std::string(row.id));
  }

  // ✓ met, ✗ not met (with the failed cases), ? not checked (skipped, or no case ran); for a row
  // of a later step · (its "no", or a program that differs from it without meeting the row) or
  // ↑ (met ahead: its cases pass as that step).
  void print_row(const Row& row) {
    if (!only_.empty() && row.id != only_ && row.id != row::host) return;
    const Outcome& outcome = outcomes_[std::string(row.id)];
    const bool due = row.from_step <= step_;
    if (due) ++graded_rows_;
    std::string mark = "✓", note;
    const std::string later = " (step " + std::to_string(row.from_step) + ")";
    if (!due) {
      mark = met_ahead_.count(std::string(row.id)) ? "↑" : "·";
      note = mark == "↑" ? " (step " + std::to_string(row.from_step) + "'s row, met ahead by " + join(outcome.failed) + ")" : later;
      if (mark == "↑") ahead_.emplace_back(row.title);
    } else if (!outcome.failed.empty()) {
      mark = "✗";
    } else if (!outcome.skipped.empty() || outcome.passed.empty()) {
      mark = "?";
      note = outcome.skipped.empty() ? " (no case ran)" : " (not checked: skipped)";
    }
    std::fprintf(out_, "  %s %s%s\n", mark.c_str(), std::string(row.title).c_str(), note.c_str());
    if (mark == "✗" || mark == "?") {
      (mark == "?" ? unchecked_ : not_met_).emplace_back(row.title);
      if (!outcome.failed.empty()) std::fprintf(out_, "      failed:  %s\n", join(outcome.failed).c_str());
      if (!outcome.skipped.empty()) std::fprintf(out_, "      skipped: %s\n", join(outcome.skipped).c_str());
      if (mark == "✗") std::fprintf(out_, "      read:    %s\n", what_to_read(row).c_str());
    }
  }

  void print_other(const Outcome& outcome) {
    ++graded_rows_;
    const bool met = outcome.failed.empty() && outcome.skipped.empty();
    std::fprintf(out_, "Other (suites missing from the table in tests/grade.cpp):\n  %s other cases\n", met ? "✓" : "✗");
    if (met) return;
    not_met_.emplace_back("other cases");
    if (!outcome.failed.empty()) std::fprintf(out_, "      failed:  %s\n", join(outcome.failed).c_str());
    if (!outcome.skipped.empty()) std::fprintf(out_, "      skipped: %s\n", join(outcome.skipped).c_str());
  }

  int step_;
  std::string log_;
  FILE* out_;
  std::string only_;
  std::map<std::string, Outcome> outcomes_;  // by row id
  std::set<std::string> met_ahead_;          // ids of later rows whose cases pass as their step
  std::vector<std::string> not_met_;    // rows of this step and before: titles
  std::vector<std::string> ahead_;      // rows of later steps met ahead: titles
  std::vector<std::string> unchecked_;  // rows with a skipped case, or none that ran
  int graded_rows_ = 0, total_ = 0, started_ = 0, exit_status_ = 1;
  std::chrono::steady_clock::time_point start_;
};

Grader* grader = nullptr;

[[noreturn]] void cannot_grade(const std::string& why) {
  std::fprintf(stderr, "workshop-tests --grade: %s\n", why.c_str());
  std::exit(2);
}

}  // namespace

// --grade [--grade-log=FILE] [--grade-row=ID], after InitGoogleTest: true when grading (the
// flags are removed).
bool start_grading(int& argc, char** argv) {
  bool grading = false;
  std::string log, row;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--grade")
      grading = true;
    else if (arg.starts_with("--grade-log="))
      log = arg.substr(std::strlen("--grade-log="));
    else if (arg.starts_with("--grade-row="))
      row = arg.substr(std::strlen("--grade-row="));
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  if (!grading) return false;

  int graded_step = 0;
  try {
    graded_step = step();
    if (access(binary().c_str(), X_OK) != 0) cannot_grade("WORKSHOP_BINARY='" + binary() + "' is not executable");
  } catch (const std::exception& e) {
    cannot_grade(e.what());
  }
  if (!row.empty() && !find_row(row)) cannot_grade("--grade-row=" + row + ": no such row in tests/matrix.hpp");
  if (log.empty()) log = "/tmp/workshop-grade-step" + std::to_string(graded_step) + ".log";
  log = std::filesystem::absolute(log).string();
  if (!row.empty())
    GTEST_FLAG_SET(filter, row_filter(row, graded_step));
  else if (GTEST_FLAG_GET(filter) == "*")
    GTEST_FLAG_SET(filter, step_filter(graded_step));

  // gtest's own output, and whatever a case prints, go to the log: fd 1 becomes the log file.
  // The report goes to what fd 1 was.
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd == -1) cannot_grade("cannot write the log " + log + ": " + std::strerror(errno));
  std::fflush(stdout);
  FILE* report = fdopen(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3), "w");
  if (report == nullptr || dup2(log_fd, STDOUT_FILENO) == -1) cannot_grade(std::string("stdout: ") + std::strerror(errno));
  close(log_fd);

  grader = new Grader(graded_step, log, report, row);
  testing::UnitTest::GetInstance()->listeners().Append(grader);  // gtest owns it
  return true;
}

// The exit status of a graded run: 0 when every row is met, else 1.
int graded_exit_status() { return grader ? grader->exit_status() : 1; }

}  // namespace workshop

// --- the table cannot rot -------------------------------------------------------------------------

using namespace workshop;

// Every suite compiled into workshop-tests counts for a row at every step that runs it.
TEST(ToolGrade, EverySuiteIsInTheTable) {
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  std::vector<std::string> missing;
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (!graded(suite.name())) continue;
    for (int j = 0; j < suite.total_test_count(); ++j)
      for (int step = first_step_of(suite.name()); step <= 5; ++step)
        if (row_of(suite.name(), suite.GetTestInfo(j)->name(), step) == nullptr)
          missing.push_back(std::string(suite.name()) + "." + suite.GetTestInfo(j)->name() + " at step " + std::to_string(step));
  }
  EXPECT_EQ(missing, std::vector<std::string>{}) << "add these suites to `suites` in tests/grade.cpp";
}

// Every entry names a row; every row has cases; what it says to read exists.
TEST(ToolGrade, EveryRowHasCasesAndPointsAtCodeThatExists) {
  for (const Suite& entry : suites) EXPECT_NE(find_row(entry.row), nullptr) << entry.name << " -> " << entry.row;
  auto check = [](const Row& row) {
    EXPECT_TRUE(row.id == "host" || std::ranges::any_of(suites, [&](const Suite& s) { return s.row == row.id; }))
        << "no suite checks the row " << row.id;
    if (row.read.empty()) return;
    const std::string path = source_dir() + "/" + std::string(row.read.substr(0, row.read.find('#')));
    const std::string marker = "//! [" + std::string(row.read.substr(row.read.find('#') + 1)) + "]";
    EXPECT_NE(read_file(path).find(marker), std::string::npos) << row.id << ": no " << marker << " in " << path;
  };
  for (const Row& row : matrix) check(row);
  for (const Row& row : rules) check(row);
}

// The filters come from tests/CMakeLists.txt, the same ctest registers each step with.
TEST(ToolGrade, StepFiltersLeaveOutToolsExercisesAndLaterSteps) {
  for (int step = 1; step <= 5; ++step) {
    const std::string filter = step_filter(step);
    EXPECT_TRUE(filter.starts_with("-Tool*:Exercise*")) << filter;
    for (int later = 1; later <= 5; ++later)
      EXPECT_EQ(filter.find("Step" + std::to_string(later) + "*") != std::string::npos, later > step) << filter;
  }
}
