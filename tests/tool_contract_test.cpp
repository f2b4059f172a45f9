// The pages the tests cite say what the tests hold: the matrix on docs/mainpage.md is the table
// of tests/matrix.hpp (the same rows, in the same order, "yes" from the same step), and every
// rule the grader reports is a heading of docs/contract.md.
#include "harness.hpp"

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

using namespace workshop;

namespace {

// The cells of the markdown table under the heading `heading` of `page`, row by row, trimmed.
std::vector<std::vector<std::string>> table_under(const std::string& page, const std::string& heading) {
  std::vector<std::vector<std::string>> rows;
  bool inside = false;
  for (const auto& line : lines(page)) {
    if (line.starts_with("#")) inside = line == heading;
    if (!inside || !line.starts_with("|") || line.starts_with("|---")) continue;
    std::vector<std::string> cells;
    size_t start = 1;
    for (size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1) {
      std::string cell = line.substr(start, bar - start);
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    rows.push_back(cells);
  }
  if (!rows.empty()) rows.erase(rows.begin());  // the header
  return rows;
}

}  // namespace

TEST(ToolContract, MatrixOnTheMainPageIsTheTestsTable) {
  const auto page = table_under(read_file(source_dir() + "/docs/mainpage.md"), "## What each step isolates");
  ASSERT_EQ(page.size(), std::size(matrix)) << "rows on docs/mainpage.md against tests/matrix.hpp";
  for (size_t i = 0; i < page.size(); ++i) {
    const Row& row = matrix[i];
    ASSERT_EQ(page[i].size(), 6u) << "a property and five steps: " << testing::PrintToString(page[i]);
    EXPECT_NE(page[i][0].find(row.page), std::string::npos) << "row " << i + 1 << " is " << row.id << ": " << page[i][0];
    for (int step = 1; step <= 5; ++step)
      EXPECT_EQ(page[i][step], step >= row.from_step ? "yes" : "no") << row.id << ", step " << step;
  }
}

TEST(ToolContract, EveryRuleIsAHeadingOfTheContractPage) {
  const std::string contract = read_file(source_dir() + "/docs/contract.md");
  for (const Row& rule : rules)
    EXPECT_TRUE(has_line(contract, "## " + std::string(rule.page))) << rule.id << ": no heading '" << rule.page << "'";
  EXPECT_TRUE(has_line(contract, "## What each step isolates"));
}

// What the repository cites lives in it: no page, chapter, program or test sends a learner to a
// design file the repository does not have (the workshop's own were written beside it).
// The names are spelled in pieces, so that this file does not find itself.
TEST(ToolContract, NothingCitesAFileTheRepositoryDoesNotHave) {
  const std::vector<std::string> absent{std::string("../") + "shared/", std::string("workshop-") + "contract.md",
                                        std::string("kernel-") + "notes.md", std::string("style") + ".md"};
  int read = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_dir())) {
    const std::string path = entry.path().string(), name = entry.path().filename().string();
    if (path.find("/.git/") != std::string::npos || path.find("/build") != std::string::npos || !entry.is_regular_file())
      continue;
    if (!(name.ends_with(".md") || name.ends_with(".cpp") || name.ends_with(".hpp") || name.ends_with(".sh") ||
          name.ends_with(".txt") || name == "workshop" || name == "run"))
      continue;
    const std::string text = read_file(path);
    ++read;
    for (const auto& file : absent) EXPECT_EQ(text.find(file), std::string::npos) << path << " cites " << file;
  }
  EXPECT_GT(read, 50) << "too few files read under " << source_dir();
}

// docs/pitfalls.md, "Mistakes the tests catch", has a row for every patch of tests/mistakes/ (but
// the one that is no mistake), naming the case the patch's first lines say catches it; that case
// is one of this suite's; and every patch the page names exists.
TEST(ToolContract, PitfallsListEveryMistakeAndTheCaseThatCatchesIt) {
  const std::string pitfalls = read_file(source_dir() + "/docs/pitfalls.md");
  const std::string mistakes = source_dir() + "/tests/mistakes/";
  std::set<std::string> cases;
  const auto& unit = *testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i)
    for (int j = 0; j < unit.GetTestSuite(i)->total_test_count(); ++j)
      cases.insert(std::string(unit.GetTestSuite(i)->name()) + "." + unit.GetTestSuite(i)->GetTestInfo(j)->name());
  int patches = 0;
  for (const auto& entry : std::filesystem::directory_iterator(mistakes)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".patch")) continue;
    const auto head = lines(read_file(entry.path().string()));
    if (head.at(0).find("(not a mistake)") != std::string::npos) continue;
    ++patches;
    ASSERT_TRUE(head.at(1).starts_with("Caught by ")) << name << ": its second line names the case";
    const std::string caught_by = head[1].substr(10, head[1].find(' ', 10) - 10);
    EXPECT_TRUE(cases.count(caught_by)) << name << ": no case " << caught_by;
    const std::string row_start = "| `" + name + "` | `" + caught_by + "` |";
    EXPECT_NE(pitfalls.find(row_start), std::string::npos) << "docs/pitfalls.md has no row ending " << row_start;
  }
  EXPECT_GE(patches, 40);
  for (size_t at = 0; (at = pitfalls.find(".patch`", at)) != std::string::npos; ++at) {
    const size_t begin = pitfalls.rfind('`', at - 1) + 1;
    const std::string name = pitfalls.substr(begin, at + 6 - begin);
    if (name.find('/') == std::string::npos) {
      EXPECT_TRUE(std::filesystem::exists(mistakes + name)) << "docs/pitfalls.md names " << name;
    }
  }
}

// Every case a page or a chapter names (`Suite.Case`, in backticks) is one of this suite's, or
// of the oci tests': a case renamed takes its mentions along.
TEST(ToolContract, EveryCaseThePagesNameExists) {
  std::set<std::string> cases;
  const auto& unit = *testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i)
    for (int j = 0; j < unit.GetTestSuite(i)->total_test_count(); ++j)
      cases.insert(std::string(unit.GetTestSuite(i)->name()) + "." + unit.GetTestSuite(i)->GetTestInfo(j)->name());
  // The oci tests are a program of their own (tests/oci/): their cases as their source declares them.
  const std::regex declared("TEST(?:_F)?\\((\\w+), (\\w+)\\)");
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/tests/oci")) {
    const std::string text = read_file(entry.path().string());
    for (std::sregex_iterator m(text.begin(), text.end(), declared), end; m != end; ++m)
      cases.insert((*m)[1].str() + "." + (*m)[2].str());
  }
  const std::regex named("`([A-Z][A-Za-z0-9]*\\.[A-Z][A-Za-z0-9]*)`");
  int mentions = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_dir())) {
    const std::string path = entry.path().string();
    if (!path.ends_with(".md") || path.find("/build") != std::string::npos || path.find("/.git/") != std::string::npos) continue;
    const std::string text = read_file(path);
    for (std::sregex_iterator m(text.begin(), text.end(), named), end; m != end; ++m, ++mentions)
      EXPECT_TRUE(cases.count((*m)[1])) << path << " names `" << (*m)[1] << "`, which is no case of the suite";
  }
  EXPECT_GT(mentions, 100);
}
