// Tests of the documentation: the chapters' code blocks against the source (docs/tools/
// snippets.cpp), and the built site's links. The suites are named ToolDocs...: they run once,
// not once per step.
//
// Environment: WORKSHOP_SOURCE_DIR, the workshop's source tree;
//              WORKSHOP_SNIPPETS, the snippet tool (build/docs/tools/snippets);
//              WORKSHOP_DOCS_HTML, the built site (build/docs/html). When the site has not been
//              built, its cases skip with the reason, except under CI=true, where they fail.
#include "harness.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using workshop::read_file;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The repository and the tool, or why the case cannot run (a setup error, never a skip: the
// tool is built with the tests and ctest sets both variables).
struct Tools {
  fs::path root;
  std::string snippets;
  std::string problem;
};

Tools tools() {
  Tools s{env("WORKSHOP_SOURCE_DIR"), env("WORKSHOP_SNIPPETS"), ""};
  if (s.root.empty() || !fs::is_directory(s.root / "docs"))
    s.problem = "WORKSHOP_SOURCE_DIR must name the workshop's source tree (it is '" +
                s.root.string() + "')";
  else if (s.snippets.empty() || access(s.snippets.c_str(), X_OK) != 0)
    s.problem = "WORKSHOP_SNIPPETS must name the built snippet tool, build/docs/tools/snippets "
                "(it is '" + s.snippets + "')";
  return s;
}

struct Outcome {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

std::ostream& operator<<(std::ostream& out, const Outcome& r) {
  return out << "exit status " << r.status << ", output:\n" << r.output;
}

// Runs argv (no shell) in `dir` and waits for it.
Outcome run(const std::vector<std::string>& argv, const fs::path& dir) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == -1) return {-1, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    if (chdir(dir.c_str()) == -1) _exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  Outcome r;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n == -1 && errno == EINTR) continue;
    if (n == -1) break;
    r.output.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  if (pid == -1 || waitpid(pid, &status, 0) == -1) return {-1, r.output + "(could not run)"};
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A directory of the test's own, removed at scope exit.
struct Scratch {
  fs::path path;
  Scratch() {
    std::string name = (fs::temp_directory_path() / "workshop-docs-test-XXXXXX").string();
    if (mkdtemp(name.data()) != nullptr) path = name;
  }
  ~Scratch() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// The markdown the snippet check covers, relative to the root: the chapters, docs/*.md and
// rootfs/README.md.
std::vector<std::string> markdown_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename();
    if (entry.is_directory() && std::regex_match(name, std::regex("step[1-9]-.+")) &&
        fs::exists(entry.path() / "README.md"))
      files.push_back(name + "/README.md");
  }
  for (const auto& entry : fs::directory_iterator(root / "docs"))
    if (entry.path().extension() == ".md") files.push_back("docs/" + entry.path().filename().string());
  if (fs::exists(root / "rootfs/README.md")) files.push_back("rootfs/README.md");
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> check(const Tools& s, const std::vector<std::string>& files) {
  std::vector<std::string> argv{s.snippets, "--root", s.root.string(), "--check"};
  argv.insert(argv.end(), files.begin(), files.end());
  return argv;
}

// A small repository of our own: a source with two regions, one inside the other.
constexpr const char* source_text =
    "int unrelated();\n"
    "//! [outer]\n"
    "int outer() {\n"
    "  //! [inner]\n"
    "  return 42;\n"
    "  //! [inner]\n"
    "}\n"
    "//! [outer]\n";

constexpr const char* chapter_text =
    "# A chapter\n"
    "\n"
    "<!-- snippet: src/main.cpp#outer -->\n"
    "```cpp\n"
    "int outer() {\n"
    "  return 42;\n"
    "}\n"
    "```\n"
    "\n"
    "<!-- snippet: src/main.cpp#inner -->\n"
    "```cpp\n"
    "  return 42;\n"
    "```\n";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

}  // namespace

// --- the chapters against the source ------------------------------------------------------------

TEST(ToolDocsSnippets, ChaptersMatchTheirSource) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  const std::vector<std::string> files = markdown_files(s.root);
  ASSERT_FALSE(files.empty());
  const Outcome r = run(check(s, files), s.root);
  EXPECT_EQ(r.status, 0) << "a chapter's code block differs from its source, or names a region "
                            "that is not there; `cmake --build build --target snippets-update` "
                            "copies the source into the chapters\n"
                         << r;
}

TEST(ToolDocsSnippets, EveryChapterShowsCodeOfItsStep) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  int chapters = 0;
  for (const std::string& file : markdown_files(s.root)) {
    if (!file.starts_with("step")) continue;
    ++chapters;
    const std::string step = file.substr(0, file.find('/'));
    const std::string text = read_file(s.root / file);
    EXPECT_NE(text.find("<!-- snippet: " + step + "/"), std::string::npos)
        << file << " shows no code pulled from " << step << "/ (a line `<!-- snippet: " << step
        << "/main.cpp#NAME -->` before a code block; see docs/README.md)";
  }
  if (chapters == 0) WORKSHOP_SKIP_OR_FAIL_("no chapter written yet");
}

TEST(ToolDocsSnippets, AcceptsBlocksThatMatch) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  write_file(scratch.path / "src/main.cpp", source_text);
  write_file(scratch.path / "chapter.md", chapter_text);
  // The outer block leaves out the inner region's marker lines.
  const Outcome r = run({s.snippets, "--root", scratch.path.string(), "--check", "chapter.md"}, scratch.path);
  EXPECT_EQ(r.status, 0) << r;
}

// The check must not be vacuous: a block changed by hand is found, and --update restores it.
TEST(ToolDocsSnippets, DetectsAChangedBlockAndUpdateRestoresIt) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  write_file(scratch.path / "src/main.cpp", source_text);
  write_file(scratch.path / "chapter.md", replace(chapter_text, "  return 42;\n}", "  return 41;\n}"));

  const std::vector<std::string> base{s.snippets, "--root", scratch.path.string()};
  Outcome r = run({base[0], base[1], base[2], "--check", "chapter.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("chapter.md:3: block differs from src/main.cpp#outer"), std::string::npos) << r;

  r = run({base[0], base[1], base[2], "--update", "chapter.md"}, scratch.path);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(read_file(scratch.path / "chapter.md"), chapter_text);
  r = run({base[0], base[1], base[2], "--check", "chapter.md"}, scratch.path);
  EXPECT_EQ(r.status, 0) << r;
}

// The same on a copy of a real chapter: its first marked block, changed, no longer passes.
TEST(ToolDocsSnippets, DetectsAChangedBlockInARealChapter) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  for (const std::string& file : markdown_files(s.root)) {
    if (!file.starts_with("step")) continue;
    std::string text = read_file(s.root / file);
    const std::size_t marker = text.find("<!-- snippet: " + file.substr(0, file.find('/')) + "/");
    if (marker == std::string::npos) continue;
    // The first line inside the block that follows the marker.
    const std::size_t fence = text.find('\n', marker) + 1;
    const std::size_t first = text.find('\n', fence) + 1;
    ASSERT_LT(first, text.size()) << file;
    text.insert(first, "int drift;  // not in the source\n");

    Scratch scratch;
    ASSERT_FALSE(scratch.path.empty());
    write_file(scratch.path / "chapter.md", text);
    const Outcome r = run({s.snippets, "--root", s.root.string(), "--check", (scratch.path / "chapter.md").string()},
                      scratch.path);
    EXPECT_EQ(r.status, 1) << "a changed copy of " << file << " passed the check\n" << r;
    EXPECT_NE(r.output.find("block differs"), std::string::npos) << r;
    return;
  }
  WORKSHOP_SKIP_OR_FAIL_("no chapter pulls code from its step yet");
}

TEST(ToolDocsSnippets, DetectsAMissingRegionOrFile) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  write_file(scratch.path / "src/main.cpp", source_text);
  write_file(scratch.path / "region.md", replace(chapter_text, "#inner", "#no_such_region"));
  write_file(scratch.path / "file.md", replace(chapter_text, "src/main.cpp#outer", "src/gone.cpp#outer"));
  // A region marked only once is as good as missing.
  write_file(scratch.path / "src/once.cpp", "//! [half]\nint x;\n");
  write_file(scratch.path / "once.md", "<!-- snippet: src/once.cpp#half -->\n```cpp\nint x;\n```\n");

  Outcome r = run({s.snippets, "--root", scratch.path.string(), "--check", "region.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("region.md:10: no region 'no_such_region' in src/main.cpp"), std::string::npos) << r;

  r = run({s.snippets, "--root", scratch.path.string(), "--check", "file.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("file.md:3: cannot read src/gone.cpp"), std::string::npos) << r;

  r = run({s.snippets, "--root", scratch.path.string(), "--check", "once.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("needs exactly two"), std::string::npos) << r;

  // --update changes nothing while a marker is wrong.
  const std::string before = read_file(scratch.path / "region.md");
  r = run({s.snippets, "--root", scratch.path.string(), "--update", "region.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_EQ(read_file(scratch.path / "region.md"), before);
}

TEST(ToolDocsSnippets, RejectsCodeBlocksWithoutAMarker) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  write_file(scratch.path / "pasted.md", "# Pasted\n\n```cpp\nint pasted;\n```\n");
  write_file(scratch.path / "hint.md",
             "# A hint\n\n<!-- snippet: none -->\n```cpp\nint hint;\n```\n\n```sh\nls\n```\n");
  write_file(scratch.path / "dangling.md", "<!-- snippet: src/main.cpp#outer -->\n\ntext\n");

  Outcome r = run({s.snippets, "--root", scratch.path.string(), "--check", "pasted.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("pasted.md:3: ```cpp block without a snippet marker"), std::string::npos) << r;

  r = run({s.snippets, "--root", scratch.path.string(), "--check", "hint.md"}, scratch.path);
  EXPECT_EQ(r.status, 0) << r;

  r = run({s.snippets, "--root", scratch.path.string(), "--check", "dangling.md"}, scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("not directly followed by a code block"), std::string::npos) << r;
}

// --- the built site -----------------------------------------------------------------------------

namespace {

// The built site, or why it cannot be checked.
struct Site {
  fs::path html;
  std::string missing;
};

Site built_site() {
  Site site{env("WORKSHOP_DOCS_HTML"), ""};
  if (site.html.empty())
    site.missing = "WORKSHOP_DOCS_HTML is not set (it names build/docs/html)";
  else if (!fs::exists(site.html / "index.html"))
    site.missing = "the site is not built: cmake --build build --target docs";
  return site;
}

#define REQUIRE_SITE(site)                                                 \
  do {                                                                     \
    if (!(site).missing.empty()) WORKSHOP_SKIP_OR_FAIL_((site).missing);   \
  } while (0)

// The ids and names a page defines, for links to #fragments.
const std::set<std::string>& anchors(const fs::path& page) {
  static std::map<fs::path, std::set<std::string>> cache;
  auto [it, fresh] = cache.try_emplace(page);
  if (fresh) {
    static const std::regex anchor{R"re(\s(?:id|name)="([^"]+)")re"};
    const std::string text = read_file(page);
    for (auto m = std::sregex_iterator(text.begin(), text.end(), anchor); m != std::sregex_iterator(); ++m)
      it->second.insert((*m)[1]);
  }
  return it->second;
}

}  // namespace

TEST(ToolDocsSite, NoBrokenLocalLinksOrImages) {
  const Site site = built_site();
  REQUIRE_SITE(site);
  static const std::regex reference{R"re(\s(href|src|data)="([^"]*)")re"};
  static const std::regex external{R"(^([A-Za-z][A-Za-z0-9+.-]*:|//).*)"};
  std::vector<std::string> broken;
  int checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(site.html)) {
    if (entry.path().extension() != ".html") continue;
    const std::string text = read_file(entry.path());
    for (auto m = std::sregex_iterator(text.begin(), text.end(), reference); m != std::sregex_iterator(); ++m) {
      std::string target = (*m)[2];
      if (target.empty() || std::regex_match(target, external)) continue;
      ++checked;
      std::string fragment;
      if (const std::size_t hash = target.find('#'); hash != std::string::npos) {
        fragment = target.substr(hash + 1);
        target.erase(hash);
      }
      if (const std::size_t query = target.find('?'); query != std::string::npos) target.erase(query);
      const fs::path file = target.empty() ? entry.path() : entry.path().parent_path() / target;
      const std::string where = fs::relative(entry.path(), site.html).string() + ": " + (*m)[2].str();
      if (!fs::exists(file)) {
        broken.push_back(where + " (no such file)");
      } else if (!fragment.empty() && file.extension() == ".html" && !anchors(file).contains(fragment)) {
        broken.push_back(where + " (no such anchor)");
      }
    }
  }
  EXPECT_GT(checked, 100) << "too few links: is " << site.html << " the site?";
  std::string list;
  for (std::size_t i = 0; i < broken.size() && i < 30; ++i) list += "\n  " + broken[i];
  EXPECT_TRUE(broken.empty()) << broken.size() << " broken local links or images:" << list;
}

// Every step folder has its chapter page (or the stub), with its code, pictures and diff.
TEST(ToolDocsSite, EveryStepHasItsChapterCodePicturesAndDiff) {
  const Site site = built_site();
  REQUIRE_SITE(site);
  const fs::path root = env("WORKSHOP_SOURCE_DIR");
  ASSERT_TRUE(fs::is_directory(root / "docs")) << "WORKSHOP_SOURCE_DIR must name the source tree";
  std::vector<int> steps;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string name = entry.path().filename();
    if (entry.is_directory() && std::regex_match(name, m, std::regex("step([1-9])-.+")))
      steps.push_back(std::stoi(m[1]));
  }
  std::sort(steps.begin(), steps.end());
  ASSERT_FALSE(steps.empty());
  for (int n : steps) {
    const fs::path page = site.html / ("step" + std::to_string(n) + ".html");
    ASSERT_TRUE(fs::exists(page)) << "no page for step " << n << ": " << page;
    const std::string text = read_file(page);
    const std::string id = "step" + std::to_string(n);
    EXPECT_NE(text.find("id=\"" + id + "-code\""), std::string::npos) << page << ": no code section";
    EXPECT_NE(text.find("id=\"" + id + "-pictures\""), std::string::npos) << page << ": no pictures";
    EXPECT_NE(text.find("class=\"dotgraph\""), std::string::npos) << page << ": no diagram drawn";
    if (std::find(steps.begin(), steps.end(), n - 1) != steps.end()) {
      EXPECT_NE(text.find("id=\"" + id + "-diff\""), std::string::npos) << page << ": no diff section";
      EXPECT_NE(text.find("<tr class=\"wsdiff-add\">"), std::string::npos) << page << ": the diff shows no added line";
    }
  }
}
