// Tests of the documentation: docs/tools/docsite.cpp and the site it builds. The suites are
// named ToolDocs...: they run once, not once per step.
//
//   ToolDocsSnippets  the chapters' code blocks against the source (`docsite check|update`).
//   ToolDocsSite      the built site (build/docs/html) against the markdown it is made from:
//                     every page, heading, link, picture and diff is there, and none of the
//                     glitches of issue 11 (raw <tt> in the navigation, a diagram cut off in a
//                     fixed frame, diagrams shown twice, numbered lists restarting at 1,
//                     another step's tooltips).
//   ToolDocsFixture   the same checks on a small workshop of the tests' own
//                     (tests/fixtures/docsite: a chapter in parts, a bonus chapter), whose site
//                     the case builds from scratch.
//
// Environment: WORKSHOP_SOURCE_DIR, the workshop's source tree;
//              WORKSHOP_DOCSITE, the tool (build/docs/tools/docsite);
//              WORKSHOP_DOCS_HTML, the built site (build/docs/html). When the site has not been
//              built (or doxygen is missing, for the fixture), the cases skip with the reason,
//              except under CI=true, where they fail.
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
  std::string docsite;
  std::string problem;
};

Tools tools() {
  Tools s{env("WORKSHOP_SOURCE_DIR"), env("WORKSHOP_DOCSITE"), ""};
  if (s.root.empty() || !fs::is_directory(s.root / "docs"))
    s.problem = "WORKSHOP_SOURCE_DIR must name the workshop's source tree (it is '" +
                s.root.string() + "')";
  else if (s.docsite.empty() || access(s.docsite.c_str(), X_OK) != 0)
    s.problem = "WORKSHOP_DOCSITE must name the built tool, build/docs/tools/docsite (it is '" +
                s.docsite + "')";
  return s;
}

struct Outcome {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

std::ostream& operator<<(std::ostream& out, const Outcome& r) {
  return out << "exit status " << r.status << ", output:\n" << r.output;
}

// Runs argv in `dir` and waits for it; argv[0] is looked up in PATH.
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
    execvp(args[0], args.data());
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

// The folders with a chapter (README.md), in the site's order: step1-... to step9-..., then
// bonus-oci.
std::vector<std::string> chapter_dirs(const fs::path& root) {
  std::vector<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename();
    if (std::regex_match(name, std::regex("step[1-9]-[A-Za-z0-9_-]+")) && fs::exists(entry.path() / "README.md"))
      dirs.push_back(name);
  }
  std::sort(dirs.begin(), dirs.end());
  if (fs::exists(root / "bonus-oci/README.md")) dirs.push_back("bonus-oci");
  return dirs;
}

// The markdown the site shows, relative to the root: each chapter (README.md, then its other
// *.md files, its parts), docs/*.md and rootfs/README.md.
std::vector<std::string> markdown_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const std::string& dir : chapter_dirs(root)) {
    files.push_back(dir + "/README.md");
    std::vector<std::string> parts;
    for (const auto& entry : fs::directory_iterator(root / dir))
      if (entry.path().extension() == ".md" && entry.path().filename() != "README.md")
        parts.push_back(dir + "/" + entry.path().filename().string());
    std::sort(parts.begin(), parts.end());
    files.insert(files.end(), parts.begin(), parts.end());
  }
  std::vector<std::string> docs;
  for (const auto& entry : fs::directory_iterator(root / "docs"))
    if (entry.path().extension() == ".md") docs.push_back("docs/" + entry.path().filename().string());
  std::sort(docs.begin(), docs.end());
  files.insert(files.end(), docs.begin(), docs.end());
  if (fs::exists(root / "rootfs/README.md")) files.push_back("rootfs/README.md");
  return files;
}

std::vector<std::string> check(const Tools& s, const fs::path& root, const std::vector<std::string>& files,
                               const char* command = "check") {
  std::vector<std::string> argv{s.docsite, command, "--root", root.string()};
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
  const Outcome r = run(check(s, s.root, files), s.root);
  EXPECT_EQ(r.status, 0) << "a chapter's code block differs from its source, or names a region "
                            "that is not there; `cmake --build build --target snippets-update` "
                            "copies the source into the chapters\n"
                         << r;
}

TEST(ToolDocsSnippets, EveryChapterShowsCodeOfItsStep) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  int chapters = 0;
  for (const std::string& dir : chapter_dirs(s.root)) {
    ++chapters;
    std::string text;
    for (const std::string& file : markdown_files(s.root))
      if (file.starts_with(dir + "/")) text += read_file(s.root / file);
    EXPECT_NE(text.find("<!-- snippet: " + dir + "/"), std::string::npos)
        << dir << "'s chapter shows no code pulled from " << dir << "/ (a line `<!-- snippet: "
        << dir << "/main.cpp#NAME -->` before a code block; see docs/README.md)";
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
  const Outcome r = run(check(s, scratch.path, {"chapter.md"}), scratch.path);
  EXPECT_EQ(r.status, 0) << r;
}

// The check must not be vacuous: a block changed by hand is found, and `update` restores it.
TEST(ToolDocsSnippets, DetectsAChangedBlockAndUpdateRestoresIt) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  write_file(scratch.path / "src/main.cpp", source_text);
  write_file(scratch.path / "chapter.md", replace(chapter_text, "  return 42;\n}", "  return 41;\n}"));

  Outcome r = run(check(s, scratch.path, {"chapter.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("chapter.md:3: block differs from src/main.cpp#outer"), std::string::npos) << r;

  r = run(check(s, scratch.path, {"chapter.md"}, "update"), scratch.path);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(read_file(scratch.path / "chapter.md"), chapter_text);
  r = run(check(s, scratch.path, {"chapter.md"}), scratch.path);
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
    const Outcome r = run(check(s, s.root, {(scratch.path / "chapter.md").string()}), scratch.path);
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

  Outcome r = run(check(s, scratch.path, {"region.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("region.md:10: no region 'no_such_region' in src/main.cpp"), std::string::npos) << r;

  r = run(check(s, scratch.path, {"file.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("file.md:3: cannot read src/gone.cpp"), std::string::npos) << r;

  r = run(check(s, scratch.path, {"once.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("needs exactly two"), std::string::npos) << r;

  // `update` changes nothing while a marker is wrong.
  const std::string before = read_file(scratch.path / "region.md");
  r = run(check(s, scratch.path, {"region.md"}, "update"), scratch.path);
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

  Outcome r = run(check(s, scratch.path, {"pasted.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("pasted.md:3: ```cpp block without a snippet marker"), std::string::npos) << r;

  r = run(check(s, scratch.path, {"hint.md"}), scratch.path);
  EXPECT_EQ(r.status, 0) << r;

  r = run(check(s, scratch.path, {"dangling.md"}), scratch.path);
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_NE(r.output.find("not directly followed by a code block"), std::string::npos) << r;
}

// --- the markdown, as the forge shows it ------------------------------------------------------

namespace {

// The forge's anchor for a heading: lower case, punctuation dropped, spaces turned into '-'.
std::string forge_anchor(const std::string& heading) {
  std::string out;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '_' || c == '-' || c >= 0x80) out += static_cast<char>(std::tolower(c));
    else if (c == ' ') out += '-';
  }
  return out;
}

std::string without_backticks(std::string text) {
  std::erase(text, '`');
  return text;
}

struct Heading {
  std::string text;    // as the reader sees it: no backticks
  std::string anchor;  // the forge's, numbered as the forge numbers repeated ones
};

// One markdown file as the forge reads it.
struct Markdown {
  std::string rel;                  // relative to the root: "step3-rootfs/README.md"
  std::string title;                // its first heading
  std::vector<Heading> headings;    // the others
  std::vector<std::string> links;   // targets of its links to other files of the repository
  std::vector<std::string> placed;  // NAME.dot of its lines `<!-- site: diagram NAME.dot -->`
  std::vector<int> lists;           // the first number of each ordered list
};

Markdown parse_markdown(const fs::path& root, const std::string& rel) {
  Markdown md{rel, "", {}, {}, {}, {}};
  static const std::regex heading{R"(^(#{1,6})\s+(.*?)\s*(\{#[^}]*\})?\s*#*\s*$)"};
  static const std::regex fence{R"(^\s*(```|~~~).*)"};
  static const std::regex link{R"((!?)\[[^\]]*\]\(([^)\s]+)[^)]*\))"};
  static const std::regex site_diagram{R"(^<!--\s*site:\s*diagram\s+(\S+)\s*-->\s*$)"};
  static const std::regex item{R"(^(\d+)\.\s.*)"};
  std::map<std::string, int> used;
  bool in_fence = false, in_list = false, in_comment = false;
  std::string previous;  // the line before, "" when blank
  for (const std::string& line : workshop::lines(read_file(root / rel))) {
    std::smatch m;
    if (std::regex_match(line, fence)) in_fence = !in_fence;
    if (in_fence || line.starts_with("```") || line.starts_with("~~~")) {
      previous = line;
      continue;
    }
    if (line.starts_with("<!--") && line.find("-->") == std::string::npos) in_comment = true;
    if (in_comment) {
      in_comment = line.find("-->") == std::string::npos;
      continue;
    }
    if (std::regex_match(line, m, site_diagram)) md.placed.push_back(m[1]);
    if (std::regex_match(line, m, heading)) {
      const std::string text = without_backticks(m[2]);
      std::string anchor = forge_anchor(text);
      if (const int n = used[anchor]++; n > 0) anchor += "-" + std::to_string(n);
      if (md.title.empty() && m[1].length() == 1) md.title = text;
      else md.headings.push_back({text, anchor});
      in_list = false;
    } else if (std::regex_match(line, m, item)) {
      // CommonMark: a list starts on an item that follows a blank line, or that reads 1. when
      // it follows text; any other number after text continues the paragraph.
      if (!in_list && (previous.empty() || m[1] == "1")) md.lists.push_back(std::stoi(m[1]));
      in_list = in_list || previous.empty() || m[1] == "1";
    } else if (!line.empty() && line[0] != ' ' && previous.empty()) {
      in_list = false;
    }
    // Links outside code spans.
    std::string text = line;
    for (std::size_t open = 0; (open = text.find('`', open)) != std::string::npos;) {
      const std::size_t close = text.find('`', open + 1);
      if (close == std::string::npos) break;
      std::fill(text.begin() + static_cast<std::ptrdiff_t>(open), text.begin() + static_cast<std::ptrdiff_t>(close) + 1, ' ');
      open = close + 1;
    }
    for (auto l = std::sregex_iterator(text.begin(), text.end(), link); l != std::sregex_iterator(); ++l)
      if ((*l)[1].length() == 0 && !std::regex_match((*l)[2].str(), std::regex("^[A-Za-z][A-Za-z0-9+.-]*:.*")))
        md.links.push_back((*l)[2]);
    previous = line;
  }
  return md;
}

bool is_source(const fs::path& file) {
  const std::string ext = file.extension();
  return ext == ".cpp" || ext == ".hpp" || ext == ".h";
}

std::vector<std::string> sources_of(const fs::path& root, const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(root / dir))
    if (entry.is_regular_file() && is_source(entry.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// What a workshop's site must show: its chapters and pages, its diagrams.
struct Workshop {
  fs::path root;
  std::vector<std::string> dirs;   // chapter_dirs()
  std::vector<Markdown> pages;     // markdown_files(), parsed

  const Markdown* page(const std::string& rel) const {
    for (const Markdown& md : pages)
      if (md.rel == rel) return &md;
    return nullptr;
  }
  std::string chapter_title(const std::string& dir) const { return page(dir + "/README.md")->title; }
  // The folder before `dir` in the site's order, "" for the first.
  std::string before(const std::string& dir) const {
    auto it = std::find(dirs.begin(), dirs.end(), dir);
    return it == dirs.begin() ? "" : *(it - 1);
  }
};

Workshop workshop_at(const fs::path& root) {
  Workshop w{root, chapter_dirs(root), {}};
  for (const std::string& rel : markdown_files(root)) w.pages.push_back(parse_markdown(root, rel));
  return w;
}

// --- the built site -------------------------------------------------------------------------------

// HTML text as a reader sees it: tags dropped, entities decoded, blanks collapsed.
std::string plain(const std::string& html) {
  static const std::regex tag{"<[^>]*>"};
  std::string text = std::regex_replace(html, tag, "");
  for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&#160;", " "},
           {"&nbsp;", " "}, {"&rarr;", "→"}, {"&minus;", "−"}, {"&amp;", "&"}})
    for (std::size_t at = 0; (at = text.find(entity, at)) != std::string::npos; at += c.size())
      text.replace(at, entity.size(), c);
  std::string out;
  for (char c : text) {
    const bool blank = std::isspace(static_cast<unsigned char>(c));
    if (blank && (out.empty() || out.back() == ' ')) continue;
    out += blank ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct HtmlPage {
  fs::path file;
  std::string text;
  std::string title;  // plain text of Doxygen's <div class="title">
};

struct Link {
  fs::path file;         // resolved, normalised
  std::string fragment;  // after '#', or ""
};

Link resolve(const fs::path& page, std::string href) {
  std::string fragment;
  if (const std::size_t hash = href.find('#'); hash != std::string::npos) {
    fragment = href.substr(hash + 1);
    href.erase(hash);
  }
  if (const std::size_t query = href.find('?'); query != std::string::npos) href.erase(query);
  return {href.empty() ? page : (page.parent_path() / href).lexically_normal(), fragment};
}

bool is_external(const std::string& href) {
  static const std::regex external{R"(^([A-Za-z][A-Za-z0-9+.-]*:|//).*)"};
  return std::regex_match(href, external);
}

// The local links of a page.
std::vector<Link> links_of(const HtmlPage& page) {
  static const std::regex href{R"re(\shref="([^"]*)")re"};
  std::vector<Link> out;
  for (auto m = std::sregex_iterator(page.text.begin(), page.text.end(), href); m != std::sregex_iterator(); ++m)
    if (!(*m)[1].str().empty() && !is_external((*m)[1])) out.push_back(resolve(page.file, (*m)[1]));
  return out;
}

struct SectionHeading {
  std::string id;
  std::string text;  // plain
  std::size_t at;    // offset in the page
};

std::vector<SectionHeading> headings_of(const HtmlPage& page) {
  static const std::regex heading{R"re(<h([1-6])><a class="anchor" id="([^"]+)"></a>([\s\S]*?)</h\1>)re"};
  std::vector<SectionHeading> out;
  for (auto m = std::sregex_iterator(page.text.begin(), page.text.end(), heading); m != std::sregex_iterator(); ++m)
    out.push_back({(*m)[2], plain((*m)[3]), static_cast<std::size_t>(m->position(0))});
  return out;
}

const std::set<std::string>& ids_of(const fs::path& file) {
  static std::map<fs::path, std::set<std::string>> cache;
  auto [it, fresh] = cache.try_emplace(file);
  if (fresh && fs::exists(file)) {
    static const std::regex anchor{R"re(\s(?:id|name)="([^"]+)")re"};
    const std::string text = read_file(file);
    for (auto m = std::sregex_iterator(text.begin(), text.end(), anchor); m != std::sregex_iterator(); ++m)
      it->second.insert((*m)[1]);
  }
  return it->second;
}

// The built site, or why it cannot be checked.
struct Site {
  fs::path html;
  std::string missing;
  std::vector<HtmlPage> pages;  // every .html file

  const HtmlPage* titled(const std::string& title) const {
    for (const HtmlPage& p : pages)
      if (p.title == title) return &p;
    return nullptr;
  }
  const HtmlPage* at(const fs::path& file) const {
    for (const HtmlPage& p : pages)
      if (p.file == file) return &p;
    return nullptr;
  }
};

Site site_at(const fs::path& html) {
  Site site{html, "", {}};
  if (html.empty()) {
    site.missing = "WORKSHOP_DOCS_HTML is not set (it names build/docs/html)";
    return site;
  }
  if (!fs::exists(html / "index.html")) {
    site.missing = "the site is not built: cmake --build build --target docs";
    return site;
  }
  static const std::regex title{R"re(<div class="title">([\s\S]*?)</div>)re"};
  for (const auto& entry : fs::recursive_directory_iterator(html)) {
    if (entry.path().extension() != ".html") continue;
    HtmlPage page{entry.path().lexically_normal(), read_file(entry.path()), ""};
    std::smatch m;
    if (std::regex_search(page.text, m, title)) page.title = plain(m[1]);
    site.pages.push_back(std::move(page));
  }
  return site;
}

const Site& built_site() {
  static const Site site = site_at(env("WORKSHOP_DOCS_HTML"));
  return site;
}

const Workshop& real_workshop() {
  static const Workshop w = workshop_at(env("WORKSHOP_SOURCE_DIR"));
  return w;
}

#define REQUIRE_SITE(site)                                                 \
  do {                                                                     \
    if (!(site).missing.empty()) WORKSHOP_SKIP_OR_FAIL_((site).missing);   \
  } while (0)

// The page made from markdown file `rel`, or nullptr (with a failure).
const HtmlPage* page_of(const Workshop& w, const Site& site, const std::string& rel) {
  const Markdown* md = w.page(rel);
  const HtmlPage* page = md != nullptr ? site.titled(md->title) : nullptr;
  EXPECT_NE(page, nullptr) << "no page titled \"" << (md != nullptr ? md->title : "?") << "\" (from " << rel << ") in " << site.html;
  return page;
}

std::string chapter_file(const std::string& dir) { return dir + "/README.md"; }

// The pictures a page shows of a diagram: its <img>, <object> or <iframe> elements whose file
// is named for NAME.dot.
std::vector<std::string> pictures_of(const HtmlPage& page, const std::string& dot) {
  static const std::regex element{R"re(<(img|object|iframe)\b[^>]*\s(?:src|data)="([^"]*)"[^>]*>)re"};
  const std::string stem = fs::path(dot).stem();
  std::vector<std::string> found;
  for (auto m = std::sregex_iterator(page.text.begin(), page.text.end(), element); m != std::sregex_iterator(); ++m) {
    const std::string name = fs::path((*m)[2].str()).filename();
    if (name.ends_with(stem + ".svg") || name.ends_with(stem + ".png")) found.push_back((*m)[0]);
  }
  return found;
}

std::vector<std::string> diagrams_of(const fs::path& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root / "docs/diagrams", ec))
    if (entry.path().extension() == ".dot") names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string caption_of(const fs::path& dot) {
  static const std::regex caption{R"(^\s*//\s*caption:\s*(.*?)\s*$)"};
  std::smatch m;
  for (const std::string& line : workshop::lines(read_file(dot)))
    if (std::regex_match(line, m, caption)) return without_backticks(m[1]);
  return "";
}

// The folder of a file's page or source page: the first entry of its navigation path
// (step3-rootfs > main.cpp), "" for other pages.
const std::string& folder_of(const fs::path& file) {
  static std::map<fs::path, std::string> cache;
  auto [it, fresh] = cache.try_emplace(file);
  static const std::regex navpath{R"re(<li class="navelem"><a class="el" href="dir_[^"]*">([^<]+)</a>)re"};
  std::smatch m;
  const std::string text = fresh && fs::exists(file) ? read_file(file) : "";
  if (std::regex_search(text, m, navpath)) it->second = m[1];
  return it->second;
}

// The folders whose code a page of the site shows: its own, and those of the source pages it
// links to (where its names are defined).
std::set<std::string> folders_of(const fs::path& file) {
  static const std::regex source{R"re(href="([^"#]*_source\.html)[^"]*")re"};
  std::set<std::string> found;
  if (!folder_of(file).empty()) found.insert(folder_of(file));
  const std::string text = fs::exists(file) ? read_file(file) : "";
  for (auto m = std::sregex_iterator(text.begin(), text.end(), source); m != std::sregex_iterator(); ++m)
    if (const std::string& folder = folder_of(resolve(file, (*m)[1]).file); !folder.empty()) found.insert(folder);
  return found;
}

// A link to the page of source file `rel` (step3-rootfs/main.cpp) or to its source page.
bool leads_to_source(const Link& link, const fs::path& rel, const Site& site) {
  const HtmlPage* page = site.at(link.file);
  const std::string name = rel.filename();
  return page != nullptr && (page->title == name + " File Reference" || page->title == name) &&
         folder_of(link.file) == rel.begin()->string();
}

// The files of folder `dir` that differ from those of `before` (or that only one has), the
// markdown aside.
std::set<std::string> differing_files(const fs::path& root, const std::string& before, const std::string& dir) {
  std::set<std::string> names, differing;
  for (const std::string& folder : {before, dir})
    for (const auto& entry : fs::directory_iterator(root / folder))
      if (entry.is_regular_file() && entry.path().extension() != ".md") names.insert(entry.path().filename());
  for (const std::string& name : names) {
    const fs::path a = root / before / name, b = root / dir / name;
    if (!fs::exists(a) || !fs::exists(b) || read_file(a) != read_file(b)) differing.insert(name);
  }
  return differing;
}

// --- the checks, for the real site and the fixture's ----------------------------------------------

void expect_every_page(const Workshop& w, const Site& site) {
  for (const Markdown& md : w.pages) page_of(w, site, md.rel);
}

// Every heading of the markdown is a heading of the page, with the reader's text (no raw <tt>)
// and an anchor that ends with the forge's.
void expect_every_heading(const Workshop& w, const Site& site) {
  for (const Markdown& md : w.pages) {
    const HtmlPage* page = page_of(w, site, md.rel);
    if (page == nullptr) continue;
    const std::vector<SectionHeading> headings = headings_of(*page);
    for (const Heading& h : md.headings) {
      // The anchor of the page's own numbering, the shortest that ends with the forge's.
      auto it = headings.end();
      for (auto s = headings.begin(); s != headings.end(); ++s)
        if ((s->id == h.anchor || s->id.ends_with("-" + h.anchor)) && (it == headings.end() || s->id.size() < it->id.size()))
          it = s;
      if (it == headings.end()) {
        ADD_FAILURE() << md.rel << ": the heading \"" << h.text << "\" (#" << h.anchor << ") is not on " << page->file;
        continue;
      }
      EXPECT_EQ(it->text, h.text) << md.rel << ": the heading #" << h.anchor << " reads differently on " << page->file;
    }
  }
}

// A link of the markdown to another page (or heading) of the site, or to a step's source, is
// a link of the page to the same place on the site.
void expect_every_link(const Workshop& w, const Site& site) {
  for (const Markdown& md : w.pages) {
    const HtmlPage* page = page_of(w, site, md.rel);
    if (page == nullptr) continue;
    const std::vector<Link> links = links_of(*page);
    for (const std::string& target : md.links) {
      const std::size_t hash = target.find('#');
      const std::string path = target.substr(0, hash);
      const std::string fragment = hash == std::string::npos ? "" : target.substr(hash + 1);
      fs::path rel = path.empty() ? fs::path(md.rel) : (fs::path(md.rel).parent_path() / path).lexically_normal();
      if (!rel.empty() && rel.filename().empty()) rel = rel.parent_path();
      if (fs::is_directory(w.root / rel)) rel /= "README.md";
      const std::string where = md.rel + ": link to " + target;
      if (const Markdown* to = w.page(rel.generic_string())) {
        const HtmlPage* target_page = page_of(w, site, to->rel);
        if (target_page == nullptr) continue;
        const bool heading = !fragment.empty() && fragment != forge_anchor(to->title);
        const bool found = std::any_of(links.begin(), links.end(), [&](const Link& l) {
          if (l.file != target_page->file) return false;
          if (!heading) return true;
          return (l.fragment == fragment || l.fragment.ends_with("-" + fragment)) &&
                 ids_of(l.file).contains(l.fragment);
        });
        EXPECT_TRUE(found) << where << ": no such link on " << page->file;
      } else if (is_source(rel) && fs::exists(w.root / rel) &&
                 std::find(w.dirs.begin(), w.dirs.end(), rel.begin()->string()) != w.dirs.end()) {
        EXPECT_TRUE(std::any_of(links.begin(), links.end(), [&](const Link& l) { return leads_to_source(l, rel, site); }))
            << where << ": no link to the page of " << rel << " on " << page->file;
      }
    }
  }
}

// Each chapter has the sections the site adds: its code (a link to every source), its
// pictures (those it does not show itself), its diff with the chapter before; in that order,
// before its exercises.
void expect_generated_sections(const Workshop& w, const Site& site) {
  for (const std::string& dir : w.dirs) {
    const HtmlPage* page = page_of(w, site, chapter_file(dir));
    if (page == nullptr) continue;
    const std::vector<SectionHeading> headings = headings_of(*page);
    const auto offset = [&](const std::string& prefix) -> std::size_t {
      for (const SectionHeading& h : headings)
        if (h.text.starts_with(prefix)) return h.at;
      return std::string::npos;
    };
    std::vector<std::pair<std::string, std::size_t>> expected{{"The code of this step", offset("The code of this step")}};
    std::set<std::string> placed;
    for (const Markdown& md : w.pages)
      if (md.rel.starts_with(dir + "/")) placed.insert(md.placed.begin(), md.placed.end());
    const std::string prefix = dir == "bonus-oci" ? "bonus-" : dir.substr(0, 6);
    for (const std::string& dot : diagrams_of(w.root))
      if (dot.starts_with(prefix) && !placed.contains(dot)) {
        expected.push_back({"Pictures of this step", offset("Pictures of this step")});
        break;
      }
    if (const std::string before = w.before(dir); !before.empty())
      expected.push_back({"What changed since ", offset("What changed since ")});
    std::size_t last = 0;
    for (const auto& [text, at] : expected) {
      EXPECT_NE(at, std::string::npos) << page->file << ": no section \"" << text << "...\"";
      if (at == std::string::npos) continue;
      EXPECT_GT(at, last) << page->file << ": \"" << text << "\" out of order";
      last = at;
    }
    if (const std::size_t exercises = offset("Exercises"); exercises != std::string::npos) {
      EXPECT_LT(last, exercises) << page->file << ": the site's sections must come before the exercises";
    }

    const std::vector<Link> links = links_of(*page);
    for (const std::string& name : sources_of(w.root, dir))
      EXPECT_TRUE(std::any_of(links.begin(), links.end(), [&](const Link& l) { return leads_to_source(l, fs::path(dir) / name, site); }))
          << page->file << " does not link to the page of " << dir << "/" << name;
  }
}

// The diagrams page shows every diagram, each chapter those of its step (docs/diagrams/stepN-*.dot,
// bonus-*.dot) in its README.md or its parts: each once, with its caption, as a picture that
// scales to the page (not a fixed frame that cuts a wide one off).
void expect_every_diagram(const Workshop& w, const Site& site) {
  const auto expect_shown_once = [&](const std::vector<const HtmlPage*>& pages, const std::string& dot) {
    std::size_t shown = 0;
    for (const HtmlPage* page : pages) {
      const std::vector<std::string> pictures = pictures_of(*page, dot);
      shown += pictures.size();
      const std::string caption = caption_of(w.root / "docs/diagrams" / dot);
      if (!pictures.empty()) {
        EXPECT_NE(plain(page->text).find(caption), std::string::npos) << page->file << ": no caption \"" << caption << "\"";
      }
      for (const std::string& picture : pictures) {
        EXPECT_FALSE(picture.starts_with("<iframe")) << page->file << ": " << picture << " is a fixed frame";
        static const std::regex fixed_width{R"re(\swidth="\d+")re"};
        EXPECT_FALSE(std::regex_search(picture, fixed_width)) << page->file << ": " << picture << " has a fixed width";
      }
    }
    EXPECT_EQ(shown, 1u) << dot << " is shown " << shown << " times on " << pages.front()->file << " and its parts";
  };
  if (fs::exists(w.root / "docs/diagrams.md"))
    if (const HtmlPage* page = page_of(w, site, "docs/diagrams.md"))
      for (const std::string& dot : diagrams_of(w.root)) expect_shown_once({page}, dot);
  for (const std::string& dir : w.dirs) {
    std::vector<const HtmlPage*> pages;  // README.md first
    for (const Markdown& md : w.pages)
      if (md.rel.starts_with(dir + "/"))
        if (const HtmlPage* page = page_of(w, site, md.rel)) pages.push_back(page);
    const std::string prefix = dir == "bonus-oci" ? "bonus-" : dir.substr(0, 6);
    for (const std::string& dot : diagrams_of(w.root))
      if (!pages.empty() && dot.starts_with(prefix)) expect_shown_once(pages, dot);
  }
  // What makes a picture scale: the workshop's stylesheet.
  const std::string css = read_file(site.html / "workshop.css");
  static const std::regex scales{R"((object|img)[^{}]*\{[^}]*max-width:\s*100%)"};
  EXPECT_TRUE(std::regex_search(css, scales)) << "workshop.css does not scale pictures to the page";
}

// The side navigation of every part of the site lists every chapter and page, in order, by
// the titles the reader sees: no raw markup.
void expect_navigation(const Workshop& w, const Site& site) {
  std::vector<std::string> chapters, others;
  for (const std::string& dir : w.dirs) chapters.push_back(w.chapter_title(dir));
  for (const Markdown& md : w.pages)
    if (!md.rel.starts_with("step") && !md.rel.starts_with("bonus-oci/") && md.rel != "docs/mainpage.md")
      others.push_back(md.title);
  int navigations = 0;
  static const std::regex markup{R"((<|&lt;)/?(tt|code|b|em|strong)(>|&gt;))"};
  static const std::set<std::string> libraries{"jquery.js", "dynsections.js", "menu.js", "navtree.js",
                                               "resize.js", "svgpan.js", "cookie.js"};
  for (const auto& entry : fs::recursive_directory_iterator(site.html)) {
    const fs::path& file = entry.path();
    if (file.extension() != ".js" || libraries.contains(file.filename()) ||
        file.parent_path().filename() == "search")
      continue;
    const std::string text = read_file(file);
    std::smatch m;
    EXPECT_FALSE(std::regex_search(text, m, markup)) << file << " shows " << m.str() << " to the reader";
    if (file.filename() != "navtreedata.js") continue;
    ++navigations;
    std::size_t last = 0;
    for (const std::string& title : chapters) {
      const std::size_t at = text.find("\"" + title + "\"");
      EXPECT_NE(at, std::string::npos) << file << " does not list \"" << title << "\"";
      if (at == std::string::npos) continue;
      EXPECT_GT(at, last) << file << " lists the chapter \"" << title << "\" out of order";
      last = at;
    }
    for (const std::string& title : others)
      EXPECT_NE(text.find("\"" + title + "\""), std::string::npos) << file << " does not list \"" << title << "\"";
  }
  EXPECT_GT(navigations, 0) << "no navtreedata.js in " << site.html;
}

// Ordered lists are numbered as on the forge: one that starts at 5 starts at 5.
void expect_list_numbers(const Workshop& w, const Site& site) {
  static const std::regex ol{R"re(<ol(?:\s[^>]*)?>)re"};
  static const std::regex start{R"re(\sstart="(\d+)")re"};
  for (const Markdown& md : w.pages) {
    const HtmlPage* page = page_of(w, site, md.rel);
    if (page == nullptr) continue;
    std::vector<int> shown;
    for (auto m = std::sregex_iterator(page->text.begin(), page->text.end(), ol); m != std::sregex_iterator(); ++m) {
      std::smatch s;
      const std::string tag = m->str();
      shown.push_back(std::regex_search(tag, s, start) ? std::stoi(s[1]) : 1);
    }
    EXPECT_EQ(shown, md.lists) << md.rel << ": the first numbers of its ordered lists on " << page->file;
  }
}

// In a chapter, the names in code blocks and their tooltips lead to the code of the chapter's
// own step.
void expect_code_links_of_the_step(const Workshop& w, const Site& site) {
  static const std::regex code_link{R"re(<a class="code[^"]*" href="([^"]*)")re"};
  static const std::regex tooltip{R"re(<div class="ttdef"><b>Definition:</b> <a href="([^"]*)")re"};
  for (const std::string& dir : w.dirs)
    for (const Markdown& md : w.pages) {
      if (!md.rel.starts_with(dir + "/")) continue;
      const HtmlPage* page = page_of(w, site, md.rel);
      if (page == nullptr) continue;
      std::map<fs::path, std::string> targets;  // file -> what links to it
      for (const std::regex* pattern : {&code_link, &tooltip})
        for (auto m = std::sregex_iterator(page->text.begin(), page->text.end(), *pattern); m != std::sregex_iterator(); ++m)
          if (!is_external((*m)[1])) targets.emplace(resolve(page->file, (*m)[1]).file, (*m)[0]);
      for (const auto& [file, link] : targets)
        EXPECT_EQ(folders_of(file), std::set<std::string>{dir})
            << page->file << ": " << link << "... leads to the code of another step";
    }
}

// The diff of each chapter against the one before shows every file of the folder that differs
// (the markdown aside), a new file whole.
void expect_diffs(const Workshop& w, const Site& site) {
  static const std::regex header{R"re(<table class="wsdiff">\s*<thead><tr><th colspan="3">([\s\S]*?)</th>)re"};
  for (const std::string& dir : w.dirs) {
    const std::string before = w.before(dir);
    if (before.empty()) continue;
    const HtmlPage* page = page_of(w, site, chapter_file(dir));
    if (page == nullptr) continue;
    const std::set<std::string> expected = differing_files(w.root, before, dir);
    std::set<std::string> shown;
    for (auto m = std::sregex_iterator(page->text.begin(), page->text.end(), header); m != std::sregex_iterator(); ++m) {
      const std::string text = plain((*m)[1]);
      std::smatch f;
      if (!std::regex_search(text, f, std::regex("(?:" + before + "|" + dir + ")/(\\S+)"))) {
        ADD_FAILURE() << page->file << ": a diff names no file: " << text;
        continue;
      }
      shown.insert(f[1]);
      if (!fs::exists(w.root / before / f[1].str())) {
        const std::string whole = "+" + std::to_string(workshop::lines(read_file(w.root / dir / f[1].str())).size());
        EXPECT_NE(text.find("(new file)"), std::string::npos) << page->file << ": " << text;
        EXPECT_NE(text.find(whole + " "), std::string::npos) << page->file << ": " << text << " (expected " << whole << ")";
      }
    }
    EXPECT_EQ(shown, expected) << page->file << ": the files of the diff against " << before;
  }
}

// A chapter in parts: each *.md of the folder besides README.md is a page, listed in the
// navigation below the chapter in the order README.md links them. A bonus chapter comes last.
void expect_parts_in_order(const Workshop& w, const Site& site) {
  for (const std::string& dir : w.dirs) {
    const Markdown* chapter = w.page(chapter_file(dir));
    if (chapter == nullptr) continue;
    std::vector<std::string> order;  // titles of the parts, as README.md links them
    for (const std::string& link : chapter->links) {
      const Markdown* part = w.page(dir + "/" + link.substr(0, link.find('#')));
      if (part != nullptr && part != chapter &&
          std::find(order.begin(), order.end(), part->title) == order.end())
        order.push_back(part->title);
    }
    if (order.empty()) continue;
    bool listed = false;
    for (const auto& entry : fs::recursive_directory_iterator(site.html)) {
      if (entry.path().extension() != ".js") continue;
      const std::string text = read_file(entry.path());
      std::vector<std::size_t> at;
      for (const std::string& title : order) at.push_back(text.find("\"" + title + "\""));
      if (std::find(at.begin(), at.end(), std::string::npos) != at.end()) continue;
      listed = true;
      EXPECT_TRUE(std::is_sorted(at.begin(), at.end())) << entry.path() << " lists the parts of " << dir
                                                        << " out of the order README.md links them";
    }
    EXPECT_TRUE(listed) << "no navigation lists every part of " << dir;
  }
  if (std::find(w.dirs.begin(), w.dirs.end(), "bonus-oci") != w.dirs.end()) {
    EXPECT_TRUE(w.chapter_title("bonus-oci").starts_with("Bonus")) << "bonus-oci/README.md's title must start with \"Bonus\"";
  }
}

// Every local link, picture and anchor of the site leads somewhere.
void expect_no_broken_links(const Site& site) {
  static const std::regex reference{R"re(\s(href|src|data)="([^"]*)")re"};
  std::vector<std::string> broken;
  int checked = 0;
  for (const HtmlPage& page : site.pages) {
    for (auto m = std::sregex_iterator(page.text.begin(), page.text.end(), reference); m != std::sregex_iterator(); ++m) {
      if ((*m)[2].str().empty() || is_external((*m)[2])) continue;
      ++checked;
      const Link link = resolve(page.file, (*m)[2]);
      const std::string where = fs::relative(page.file, site.html).string() + ": " + (*m)[2].str();
      if (!fs::exists(link.file)) broken.push_back(where + " (no such file)");
      else if (!link.fragment.empty() && link.file.extension() == ".html" && !ids_of(link.file).contains(link.fragment))
        broken.push_back(where + " (no such anchor)");
    }
  }
  EXPECT_GT(checked, 100) << "too few links: is " << site.html << " the site?";
  std::string list;
  for (std::size_t i = 0; i < broken.size() && i < 30; ++i) list += "\n  " + broken[i];
  EXPECT_TRUE(broken.empty()) << broken.size() << " broken local links or images:" << list;
}

}  // namespace

TEST(ToolDocsSite, NoBrokenLocalLinksOrImages) {
  REQUIRE_SITE(built_site());
  expect_no_broken_links(built_site());
}

TEST(ToolDocsSite, EveryMarkdownFileIsAPage) {
  REQUIRE_SITE(built_site());
  expect_every_page(real_workshop(), built_site());
}

TEST(ToolDocsSite, EveryHeadingWithItsTextAndTheForgesAnchor) {
  REQUIRE_SITE(built_site());
  expect_every_heading(real_workshop(), built_site());
}

TEST(ToolDocsSite, EveryLinkLeadsWhereItLeadsOnTheForge) {
  REQUIRE_SITE(built_site());
  expect_every_link(real_workshop(), built_site());
}

TEST(ToolDocsSite, EveryChapterHasItsCodePicturesAndDiffSections) {
  REQUIRE_SITE(built_site());
  expect_generated_sections(real_workshop(), built_site());
}

TEST(ToolDocsSite, EveryDiagramOnceWithItsCaptionScaledToThePage) {
  REQUIRE_SITE(built_site());
  expect_every_diagram(real_workshop(), built_site());
}

TEST(ToolDocsSite, NavigationListsEveryPageInPlainText) {
  REQUIRE_SITE(built_site());
  expect_navigation(real_workshop(), built_site());
}

TEST(ToolDocsSite, NumberedListsKeepTheirNumbers) {
  REQUIRE_SITE(built_site());
  expect_list_numbers(real_workshop(), built_site());
}

TEST(ToolDocsSite, CodeLinksAndTooltipsOfAChapterLeadToItsStep) {
  REQUIRE_SITE(built_site());
  expect_code_links_of_the_step(real_workshop(), built_site());
}

TEST(ToolDocsSite, DiffsShowEveryFileThatDiffers) {
  REQUIRE_SITE(built_site());
  expect_diffs(real_workshop(), built_site());
}

TEST(ToolDocsSite, PartsFollowTheirChapterAndBonusComesLast) {
  REQUIRE_SITE(built_site());
  expect_parts_in_order(real_workshop(), built_site());
}

// --- a small workshop of the tests' own ---------------------------------------------------------

namespace {

bool on_path(const std::string& program) {
  return run({"sh", "-c", "command -v " + program}, ".").status == 0;
}

}  // namespace

// tests/fixtures/docsite: two steps, the second's chapter in two parts that README.md links in
// the order zeta, alpha; a bonus chapter; a docs page that links into the parts. Its site, built
// from scratch by the docs build, holds everything the workshop's must, and a link to a heading
// that does not exist fails the build.
TEST(ToolDocsFixture, ChapterInPartsAndBonusChapter) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  for (const char* program : {"cmake", "doxygen", "dot"})
    if (!on_path(program)) WORKSHOP_SKIP_OR_FAIL_(std::string("needs ") + program + " (apt-get install cmake doxygen graphviz)");
  Scratch scratch;
  ASSERT_FALSE(scratch.path.empty());
  const fs::path root = scratch.path / "workshop", build = scratch.path / "build";
  fs::copy(s.root / "tests/fixtures/docsite", root, fs::copy_options::recursive);
  Outcome r = run({"cmake", "-S", (s.root / "docs").string(), "-B", build.string(), "-DWORKSHOP_DOCS_ROOT=" + root.string(),
                   "-DWORKSHOP_DOCSITE=" + s.docsite}, scratch.path);
  ASSERT_EQ(r.status, 0) << r;
  r = run({"cmake", "--build", build.string(), "--target", "docs"}, scratch.path);
  ASSERT_EQ(r.status, 0) << r;

  const Workshop w = workshop_at(root);
  ASSERT_EQ(w.dirs, (std::vector<std::string>{"step1-first", "step2-second", "bonus-oci"}));
  const Site site = site_at(build / "html");
  ASSERT_TRUE(site.missing.empty()) << site.missing;
  expect_no_broken_links(site);
  expect_every_page(w, site);
  expect_every_heading(w, site);
  expect_every_link(w, site);
  expect_generated_sections(w, site);
  expect_every_diagram(w, site);
  expect_navigation(w, site);
  expect_list_numbers(w, site);
  expect_code_links_of_the_step(w, site);
  expect_diffs(w, site);
  expect_parts_in_order(w, site);

  // A link to a file the site does not show keeps its text and loses the link.
  const HtmlPage* guide = site.titled("Guide");
  ASSERT_NE(guide, nullptr);
  EXPECT_NE(plain(guide->text).find("The notes on this fixture are not on the site."), std::string::npos) << guide->file;
  EXPECT_EQ(guide->text.find("README.md\""), std::string::npos) << guide->file << " links to the fixture's notes";

  // A link to a heading that is not there, from one run to another, fails the build.
  std::ofstream(root / "docs/guide.md", std::ios::app) << "\nSee [nothing](../step2-second/alpha.md#no-such-heading).\n";
  r = run({"cmake", "--build", build.string(), "--target", "docs"}, scratch.path);
  EXPECT_NE(r.status, 0) << r;
  EXPECT_NE(r.output.find("step2-second-alpha-no-such-heading"), std::string::npos) << r;
}

// --- the diffs on the terminal --------------------------------------------------------------------

namespace {

// `diff -ruN` output: the name of each file it shows, with the number of lines it adds.
std::map<std::string, std::size_t> files_in_diff(const std::string& output) {
  static const std::regex header{R"(^diff .* \S+/(\S+)$)"};
  std::map<std::string, std::size_t> files;
  std::string current;
  std::smatch m;
  for (const std::string& line : workshop::lines(output)) {
    if (std::regex_match(line, m, header)) current = m[1], files[current] = 0;
    else if (line.starts_with("+") && !line.starts_with("+++") && !current.empty()) ++files[current];
  }
  return files;
}

}  // namespace

// `./workshop diff N` and the step-diffs target show what each step adds: every file of its
// folder that differs, the markdown aside, a new file whole.
TEST(ToolDocsDiffs, TerminalDiffsShowEveryFileThatDiffers) {
  const Tools s = tools();
  ASSERT_TRUE(s.problem.empty()) << s.problem;
  const std::vector<std::string> steps = chapter_dirs(s.root);
  ASSERT_GE(steps.size(), 2u);
  const Outcome all = run({"cmake", "-D", "WORKSHOP_ROOT=" + s.root.string(), "-P", (s.root / "docs/cmake/print-step-diffs.cmake").string()}, s.root);
  ASSERT_EQ(all.status, 0) << all;
  for (std::size_t i = 1; i < steps.size(); ++i) {
    const std::string n = steps[i] == "bonus-oci" ? "bonus" : std::to_string(i + 1);
    const Outcome r = run({(s.root / "workshop").string(), "diff", n}, s.root);
    ASSERT_EQ(r.status, 0) << "./workshop diff " << n << ": " << r;
    const std::map<std::string, std::size_t> shown = files_in_diff(r.output);
    std::set<std::string> names;
    for (const auto& [name, added] : shown) names.insert(name);
    EXPECT_EQ(names, differing_files(s.root, steps[i - 1], steps[i])) << "./workshop diff " << n;
    for (const auto& [name, added] : shown) {
      if (!fs::exists(s.root / steps[i - 1] / name)) {
        EXPECT_EQ(added, workshop::lines(read_file(s.root / steps[i] / name)).size()) << name << " is new in " << steps[i] << ": shown whole";
      }
    }
    // The step-diffs target prints the same, after a line naming the two folders.
    const std::string heading = "$ diff -ruN -x '*.md' " + steps[i - 1] + " " + steps[i] + "\n";
    const std::size_t at = all.output.find(heading);
    ASSERT_NE(at, std::string::npos) << "step-diffs: no " << heading << all;
    EXPECT_NE(all.output.find(r.output, at), std::string::npos) << "step-diffs does not print ./workshop diff " << n;
  }
  EXPECT_NE(run({(s.root / "workshop").string(), "diff", "1"}, s.root).status, 0) << "there is nothing before step 1";
}
