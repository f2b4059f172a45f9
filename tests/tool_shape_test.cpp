// The shape of the steps (label `shape`): each step stays short enough to read in one sitting, and
// the files steps 4 and 5 share stay one file in two copies. Lines of code are counted as the
// workshop counts them everywhere (README.md, the chapters): blank lines and lines that hold only
// a comment (`//`, or `/*` and `*` lines) are left out. A budget is raised only in the change that
// adds the lesson that needs it, and the chapter says so.
#include "harness.hpp"

#include <filesystem>
#include <map>
#include <regex>

using namespace workshop;
namespace fs = std::filesystem;

namespace {

// The step's C++ files, by name: *.cpp, *.hpp, *.h in its folder.
std::map<std::string, std::string> sources(const std::string& step) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(source_dir() + "/" + step)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".cpp" || ext == ".hpp" || ext == ".h") files[entry.path().filename().string()] = read_file(entry.path());
  }
  return files;
}

int lines_of_code(const std::string& text) {
  static const std::regex not_code{R"(^\s*$|^\s*//.*$|^\s*/?\*.*$)"};
  int count = 0;
  for (const auto& line : lines(text)) count += !std::regex_match(line, not_code);
  return count;
}

int total(const std::map<std::string, std::string>& files) {
  int sum = 0;
  for (const auto& [name, text] : files) sum += lines_of_code(text);
  return sum;
}

}  // namespace

// Steps 1-3 keep the article's promise: under 100 lines of code.
TEST(ToolShape, StepsOneToThreeUnderAHundredLines) {
  for (const char* step : {"step1-skeleton", "step2-namespaces", "step3-rootfs"}) {
    const int code = total(sources(step));
    std::printf("[ measured ] %s: %d lines of code\n", step, code);
    EXPECT_LE(code, 100) << step;
  }
}

// Step 4 is step 3 plus the cgroup lesson, and nothing else: 200 lines in all, 110 of cgroup code.
TEST(ToolShape, StepFourIsStepThreePlusTheCgroup) {
  const auto files = sources("step4-cgroups");
  const int cgroup = lines_of_code(files.at("cgroup.hpp")) + lines_of_code(files.at("cgroup.cpp"));
  std::printf("[ measured ] step4-cgroups: %d lines of code, %d of them cgroup.*\n", total(files), cgroup);
  EXPECT_LE(total(files), 200);
  EXPECT_LE(cgroup, 110);
}

// Step 5: a main.cpp of at most 170 lines, no file over 160, 700 in all (560 before the hardening
// of step 5's chapter: seccomp, a terminal of its own, targets resolved inside the root). The
// bonus chapter's runtime, made from step 5, keeps to the same per-file budget.
TEST(ToolShape, StepFiveIsOneLessonPerFile) {
  std::printf("[ measured ] step5-complete: %d lines of code\n", total(sources("step5-complete")));
  EXPECT_LE(total(sources("step5-complete")), 700);
  for (const char* step : {"step5-complete", "bonus-oci"}) {
    if (!fs::exists(source_dir() + "/" + step)) continue;  // the bonus chapter may not be there
    for (const auto& [name, text] : sources(step)) {
      std::printf("[ measured ]   %s/%s: %d\n", step, name.c_str(), lines_of_code(text));
      EXPECT_LE(lines_of_code(text), name == "main.cpp" ? 170 : 160) << step << "/" << name;
    }
  }
}

// Step 5's cgroup is step 4's: the two copies of each shared file are the same, byte for byte.
TEST(ToolShape, StepFiveSharesStepFoursCgroupUnchanged) {
  const auto four = sources("step4-cgroups"), five = sources("step5-complete");
  for (const char* name : {"cgroup.hpp", "cgroup.cpp"}) {
    ASSERT_TRUE(four.count(name) && five.count(name)) << name;
    EXPECT_EQ(four.at(name), five.at(name)) << name << " differs between step 4 and step 5: change both, or neither";
  }
}

// Chapters read in one sitting too: step 4's at most 350 lines; step 5's in parts, one per file,
// each at most 250 (README.md and rootfs.md, privileges.md...); the bonus chapter's the same.
TEST(ToolShape, ChaptersAreShortEnoughToReadInOneSitting) {
  EXPECT_LE(lines(read_file(source_dir() + "/step4-cgroups/README.md")).size(), 350u);
  for (const char* step : {"step5-complete", "bonus-oci"}) {
    if (!fs::exists(source_dir() + "/" + step)) continue;  // the bonus chapter may not be there
    for (const auto& entry : fs::directory_iterator(source_dir() + "/" + step)) {
      if (entry.path().extension() == ".md") {
        EXPECT_LE(lines(read_file(entry.path())).size(), 250u) << entry.path();
      }
    }
  }
}

// The counter itself: what counts as a line of code.
TEST(ToolShape, CountsCodeNotCommentsOrBlanks) {
  EXPECT_EQ(lines_of_code("int a;\n\n  // a comment\n/* a block\n * of text */\nint b;  // code and comment\n"), 2);
}
