// docsite: what the workshop's site needs besides Doxygen (see docs/README.md).
//
//   docsite check  [--root DIR] FILE.md...   exit 1 when a code block differs from the region
//                                            of the source it names, or has no marker
//   docsite update [--root DIR] FILE.md...   copies the regions into the blocks
//   docsite filter --root DIR FILE           Doxygen's input filter: FILE as Doxygen should read it
//   docsite layout --root DIR [--run RUN] OUT.xml PAGE.md...
//                                            the navigation of one Doxygen run: every chapter,
//                                            then PAGE.md... (the other pages, in order)
//   docsite diff --root DIR FROM TO OUT.html every file of folder TO that differs from FROM's,
//                                            as highlighted tables for \htmlinclude
//
// The site is one Doxygen run per chapter folder (stepN-*/ into html/stepN/, bonus-oci/ into
// html/bonus/: the chapter, its parts and the step's code, so that the names in a chapter link
// to its own step's code) and one run for the other pages (docs/*.md, rootfs/README.md: html/).
// A link within a run is a Doxygen reference, which Doxygen checks; a link between runs is an
// address, which the filter checks. Line numbers stay those of the file, so that Doxygen's
// warnings point at the right line (in a chapter, up to the sections the site adds).
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Lines = std::vector<std::string>;

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "docsite: %s\n", message.c_str());
  std::exit(2);
}

std::optional<Lines> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  Lines lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

Lines must_read(const fs::path& path) {
  std::optional<Lines> lines = read_lines(path);
  if (!lines) fail("cannot read " + path.string());
  return *lines;
}

void write_lines(const fs::path& path, const Lines& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const std::string& line : lines) out << line << '\n';
  if (!out) fail("cannot write " + path.string());
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text)
    out += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&quot;" : std::string(1, c);
  return out;
}

// Doxygen's name for a page: main.cpp -> main_8cpp, further_reading -> further__reading.
std::string doxygen_name(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '/' ? "_2" : c == '.' ? "_8" : c == '_' ? "__" : std::string(1, c);
  return out;
}

bool is_source(const fs::path& file) {
  const std::string ext = file.extension();
  return ext == ".cpp" || ext == ".hpp" || ext == ".h";
}

// The names of the files in `dir` that `keep` accepts, sorted.
std::vector<std::string> files_in(const fs::path& dir, const auto& keep) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (keep(entry.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// `//! [name]` alone on a line: a Doxygen snippet marker, around a region the chapters show.
const std::regex source_marker{R"(^\s*//!\s*\[([^\]]+)\]\s*$)"};
// An opening code fence: blanks, three or more ` (none after them) or ~, the language.
const std::regex fence_open{R"(^(\s*)(`{3,}(?=[^`]*$)|~{3,})\s*([^`\s]*).*$)"};

// The line that closes the code block opened at line `open` with `fence`, or lines.size().
std::size_t fence_close(const Lines& lines, std::size_t open, const std::string& fence) {
  for (std::size_t i = open + 1; i < lines.size(); ++i) {
    const std::size_t s = lines[i].find_first_not_of(" \t");
    if (s == std::string::npos || lines[i].compare(s, fence.size(), fence) != 0) continue;
    const std::size_t rest = lines[i].find_first_not_of(fence[0], s);
    if (rest == std::string::npos || lines[i].find_first_not_of(" \t", rest) == std::string::npos)
      return i;
  }
  return lines.size();
}

// --- snippets: the chapters' code blocks are regions of the source ------------------------------

struct Region {
  Lines lines;        // between its two marker lines, the markers of other regions left out
  std::string error;  // why there is no such region
};

Region find_region(const fs::path& root, const std::string& file, const std::string& name) {
  const std::optional<Lines> source = read_lines(root / file);
  if (!source) return {{}, "cannot read " + file + " (paths are relative to the repository root)"};
  std::vector<std::size_t> at;
  std::smatch m;
  for (std::size_t i = 0; i < source->size(); ++i)
    if (std::regex_match((*source)[i], m, source_marker) && m[1] == name) at.push_back(i);
  const std::string marker = "`//! [" + name + "]`", what = "region '" + name + "' in " + file;
  if (at.empty()) return {{}, "no " + what + " (put a line " + marker + " before the region and one after it)"};
  if (at.size() != 2)
    return {{}, what + " has " + std::to_string(at.size()) + " marker lines " + marker + "; it needs exactly two"};
  Region region;
  for (std::size_t i = at[0] + 1; i < at[1]; ++i)
    if (!std::regex_match((*source)[i], source_marker)) region.lines.push_back((*source)[i]);
  return region;
}

std::string first_difference(const Lines& chapter, const Lines& source) {
  std::size_t i = 0;
  while (i < chapter.size() && i < source.size() && chapter[i] == source[i]) ++i;
  return "first difference at line " + std::to_string(i + 1) + " of the block:\n    chapter: " +
         (i < chapter.size() ? chapter[i] : "(block ends)") +
         "\n    source:  " + (i < source.size() ? source[i] : "(region ends)");
}

// Checks one chapter (with `update`: rewrites its blocks from the source). False on a problem.
bool snippets(const fs::path& root, const std::string& file, bool update) {
  static const std::regex chapter_marker{R"(^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$)"};
  static const std::set<std::string> code_languages{"cpp", "c++", "cxx", "cc", "c", "h", "hpp"};
  const std::optional<Lines> in = read_lines(file);
  if (!in) {
    std::fprintf(stderr, "docsite: cannot read %s\n", file.c_str());
    return false;
  }
  std::multimap<std::size_t, std::string> problems;  // by line
  const auto problem = [&](std::size_t at, const std::string& what) { problems.emplace(at + 1, what); };
  Lines out;
  int changed = 0;
  constexpr std::size_t none = std::string::npos;
  std::size_t marker = none;  // the line of a marker waiting for its block
  for (std::size_t i = 0; i < in->size(); ++i) {
    std::smatch m, fence;
    const std::string& line = (*in)[i];
    out.push_back(line);
    const bool is_marker = std::regex_match(line, m, chapter_marker);
    if (!std::regex_match(line, fence, fence_open)) {
      if (marker != none) problem(marker, "snippet marker is not directly followed by a code block");
      marker = is_marker ? i : none;
      continue;
    }
    const std::size_t close = fence_close(*in, i, fence[2]);
    if (close == in->size()) {
      problem(i, "code block is not closed");
      break;
    }
    Lines block(in->begin() + static_cast<std::ptrdiff_t>(i + 1), in->begin() + static_cast<std::ptrdiff_t>(close));
    std::smatch target;
    if (marker != none && std::regex_match((*in)[marker], target, chapter_marker) && target[1] != "none") {
      const std::string path = target[1];
      const std::size_t hash = path.find('#');
      const Region region = hash == std::string::npos || hash == 0 || hash + 1 == path.size()
          ? Region{{}, "snippet marker '" + path + "' is not PATH#NAME (e.g. step3-rootfs/main.cpp#setup_rootfs)"}
          : find_region(root, path.substr(0, hash), path.substr(hash + 1));
      if (!region.error.empty()) {
        problem(marker, region.error);
      } else if (region.lines != block && update) {
        block = region.lines;
        ++changed;
      } else if (region.lines != block) {
        problem(marker, "block differs from " + path + " (run `cmake --build build --target snippets-update`); " +
                            first_difference(block, region.lines));
      }
    } else if (marker == none && code_languages.contains(fence[3])) {
      problem(i, "```" + fence[3].str() + " block without a snippet marker: pull it from the source with "
                 "<!-- snippet: PATH#NAME --> on the line before, or mark it <!-- snippet: none --> if it "
                 "is not from the source");
    }
    out.insert(out.end(), block.begin(), block.end());
    out.push_back((*in)[close]);
    marker = none;
    i = close;
  }
  if (marker != none) problem(marker, "snippet marker is not directly followed by a code block");
  for (const auto& [line, what] : problems) std::fprintf(stderr, "%s:%zu: %s\n", file.c_str(), line, what.c_str());
  if (changed > 0 && !problems.empty()) {
    std::fprintf(stderr, "docsite: %s not updated: fix the problems above first\n", file.c_str());
  } else if (changed > 0) {
    write_lines(file, out);
    std::printf("%s: updated %d block%s\n", file.c_str(), changed, changed == 1 ? "" : "s");
  }
  return problems.empty();
}

// --- the site: its runs and pages -----------------------------------------------------------------

struct Site {
  fs::path root;
  std::vector<std::string> chapters;  // the folders with a chapter (README.md), in the site's order
};

Site site_at(const fs::path& root) {
  Site site{root, {}};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename();
    static const std::regex step{"step[1-9]-[A-Za-z0-9_-]+"};
    if (std::regex_match(name, step) && fs::exists(entry.path() / "README.md")) site.chapters.push_back(name);
  }
  std::sort(site.chapters.begin(), site.chapters.end());
  if (fs::exists(root / "bonus-oci/README.md")) site.chapters.push_back("bonus-oci");
  return site;
}

bool is_chapter(const Site& site, const std::string& dir) {
  return std::find(site.chapters.begin(), site.chapters.end(), dir) != site.chapters.end();
}

// The Doxygen run of a chapter folder, also the folder of the site it writes: step3, bonus.
std::string run_of_chapter(const std::string& dir) {
  return dir == "bonus-oci" ? "bonus" : dir.substr(0, 5);
}

// What `./workshop diff` calls the chapter of run `run`: 3, bonus.
std::string step_name(const std::string& run) { return run == "bonus" ? run : run.substr(4); }

// The run a file (relative to the root) belongs to: its chapter's, or "" (the other pages').
std::string run_of(const Site& site, const fs::path& rel) {
  if (std::distance(rel.begin(), rel.end()) != 2) return "";
  const std::string dir = rel.begin()->string();
  return is_chapter(site, dir) ? run_of_chapter(dir) : "";
}

// The Doxygen name of the page made from markdown file `rel`; "" when the site has no such page.
std::string page_label(const Site& site, const fs::path& rel) {
  if (rel.extension() != ".md" || std::distance(rel.begin(), rel.end()) != 2 || !fs::is_regular_file(site.root / rel))
    return "";
  const std::string dir = rel.begin()->string(), stem = rel.stem();
  if (is_chapter(site, dir)) return stem == "README" ? run_of_chapter(dir) : dir + "-" + stem;
  if (dir == "docs") return stem == "mainpage" ? "index" : stem == "README" ? "docs" : stem;
  return rel == "rootfs/README.md" ? "rootfs" : "";
}

// The address of file `file` of run `to`, from a page of run `from`.
std::string address(const std::string& from, const std::string& to, const std::string& file) {
  return (from.empty() ? "" : "../") + (to.empty() ? "" : to + "/") + file;
}

struct Heading {
  std::size_t line;
  int level;
  std::string text;    // without backticks: Doxygen 1.9 shows a code span in a heading as raw <tt>
  std::string anchor;  // the forge's: lower case, punctuation dropped, spaces turned into '-'
};

std::vector<Heading> headings(const Lines& lines) {
  static const std::regex heading{R"(^(#{1,6})\s+(.*?)\s*#*\s*$)"};
  std::map<std::string, int> used;
  std::vector<Heading> out;
  std::smatch m;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (std::regex_match(lines[i], m, fence_open)) i = fence_close(lines, i, m[2]);
    if (i >= lines.size() || !std::regex_match(lines[i], m, heading)) continue;
    std::string text = m[2], anchor;
    std::erase(text, '`');
    for (unsigned char c : text) {
      if (std::isalnum(c) || c == '_' || c == '-' || c >= 0x80) anchor += static_cast<char>(std::tolower(c));
      else if (c == ' ') anchor += '-';
    }
    if (const int n = used[anchor]++; n > 0) anchor += "-" + std::to_string(n);
    out.push_back({i, static_cast<int>(m[1].length()), text, anchor});
  }
  return out;
}

// A markdown file of the repository, as a page of the site.
struct Page {
  fs::path rel;       // relative to the root
  std::string run;    // its Doxygen run
  std::string label;  // its Doxygen name
};

// What a link's target becomes on the site: a Doxygen reference (same run), an address (other
// run, or outside), or nothing: a file the site does not show keeps only the link's text.
std::optional<std::string> site_target(const Site& site, const Page& page, const std::string& target) {
  static const std::regex scheme{R"(^[A-Za-z][A-Za-z0-9+.-]*:.*)"};
  if (target.empty() || std::regex_match(target, scheme) || target.starts_with("@ref")) return target;
  const std::size_t hash = target.find('#');
  const std::string path = target.substr(0, hash);
  const std::string fragment = hash == std::string::npos ? "" : target.substr(hash + 1);
  fs::path rel = path.empty() ? page.rel : (page.rel.parent_path() / path).lexically_normal();
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  if (rel.filename().empty()) rel = rel.parent_path();
  if (fs::is_directory(site.root / rel)) rel /= "README.md";
  const std::string to = run_of(site, rel);
  if (const std::string label = page_label(site, rel); !label.empty()) {
    const std::vector<Heading> all = headings(must_read(site.root / rel));
    const bool title = fragment.empty() || (!all.empty() && fragment == all[0].anchor);
    const std::string anchor = label + "-" + fragment;
    if (to == page.run) return "@ref " + (title ? label : anchor);
    // Another run: Doxygen cannot tell whether the heading exists, so an unknown one is left
    // a reference it fails on.
    const auto known = [&](const Heading& h) { return h.anchor == fragment; };
    if (!title && std::none_of(all.begin(), all.end(), known)) return "@ref " + anchor;
    return address(page.run, to, doxygen_name(label) + ".html") + (title ? "" : "#" + anchor);
  }
  if (!is_source(rel) || !fs::is_regular_file(site.root / rel) || to.empty()) return std::nullopt;
  return to == page.run ? "@ref " + rel.generic_string()
                        : address(page.run, to, doxygen_name(rel.filename()) + ".html");
}

// --- markdown, as Doxygen 1.9 should read it ----------------------------------------------------

// The code spans of a line: [begin, end), backticks included.
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;
Spans code_spans(const std::string& line) {
  static const std::regex span{R"((`+)[^`][\s\S]*?\1(?!`))"};
  Spans spans;
  for (auto m = std::sregex_iterator(line.begin(), line.end(), span); m != std::sregex_iterator(); ++m)
    spans.emplace_back(m->position(0), m->position(0) + m->length(0));
  return spans;
}

// Text between code spans: Doxygen typesets `--` as a dash, so an option such as --rootfs keeps
// its two hyphens.
std::string keep_dashes(const std::string& text) {
  static const std::regex option{R"((^|[\s(])--(?=[A-Za-z0-9]))"};
  return std::regex_replace(text, option, "$1\\--");
}

// A code span: Doxygen ends a single-backtick span at a quote followed by a non-word character
// (`sh -c 'echo $$'`), so such a span gets two backticks.
std::string code_span(const std::string& span) {
  static const std::regex quote{R"(^`[^`]*'(\W[^`]*)?`$)"};
  return std::regex_match(span, quote) ? "`" + span + "`" : span;
}

// Text and code spans of `line` within [from, to).
std::string inline_text(const std::string& line, const Spans& spans, std::size_t from, std::size_t to) {
  std::string out;
  for (const auto& [begin, end] : spans) {
    if (end <= from || begin >= to) continue;
    out += keep_dashes(line.substr(from, begin - from)) + code_span(line.substr(begin, end - begin));
    from = end;
  }
  return out + keep_dashes(line.substr(from, to - from));
}

// Doxygen does not see `**` as bold next to a code span (**`MS_PRIVATE` matters.**): <b>.
std::string bold_around_code(const std::string& line) {
  static const std::regex bold{R"(\*\*([^*]*)\*\*)"};
  std::string out;
  auto last = line.cbegin();
  for (auto m = std::sregex_iterator(line.begin(), line.end(), bold); m != std::sregex_iterator(); ++m) {
    const std::string inside = (*m)[1];
    const bool code = inside.find('`') != std::string::npos || inside.find("<code>") != std::string::npos;
    out.append(last, (*m)[0].first) += code ? "<b>" + inside + "</b>" : m->str();
    last = (*m)[0].second;
  }
  return out.append(last, line.cend());
}

// A line of text: its links made the site's, its code spans and dashes kept as the forge shows
// them. The first link of a chapter to one of its parts makes the part a subpage.
std::string inline_markdown(const Site& site, const Page& page, const std::string& line,
                            std::set<std::string>& subpages) {
  static const std::regex link{R"((!?)\[([^\]]*)\]\(([^)\s]*)((?:\s+"[^"]*")?)\))"};
  const Spans spans = code_spans(line);
  std::string masked = line;  // code spans blanked: a [x](y) inside one is no link
  for (const auto& [begin, end] : spans) masked.replace(begin, end - begin, end - begin, '\x01');
  std::string out;
  std::size_t pos = 0;
  for (auto it = std::sregex_iterator(masked.begin(), masked.end(), link); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const auto at = [&](int k) { return static_cast<std::size_t>(m.position(k)); };
    out += inline_text(line, spans, pos, at(0));
    pos = at(0) + static_cast<std::size_t>(m.length(0));
    std::string text = line.substr(at(2), static_cast<std::size_t>(m.length(2)));
    const std::optional<std::string> target = m[1].length() > 0 ? m[3].str() : site_target(site, page, m[3]);
    if (!target) {
      out += inline_text(line, spans, at(2), at(2) + text.size());
    } else if (!target->starts_with("@ref")) {
      out += line.substr(at(0), at(3) - at(0)) + *target + m[4].str() + ")";
    } else {
      // Doxygen shows a reference's text as it is: one code span becomes <code>, other
      // backticks go.
      const bool one_span = text.size() > 2 && text.front() == '`' && text.back() == '`' &&
                            std::count(text.begin(), text.end(), '`') == 2;
      std::erase(text, '`');
      const std::string label = target->substr(5), dir = page.rel.begin()->string();
      const bool part = page.label == page.run && !page.run.empty() && label.starts_with(dir + "-") &&
                        fs::exists(site.root / dir / (label.substr(dir.size() + 1) + ".md"));
      std::replace(text.begin(), text.end(), '"', '\'');
      if (part && subpages.insert(label).second)
        out += "\\subpage " + label + " \"" + text + "\"";
      else
        out += (one_span ? "<code>[" : "[") + text + "](" + *target + m[4].str() + (one_span ? ")</code>" : ")");
    }
  }
  return bold_around_code(out + inline_text(line, spans, pos, line.size()));
}

// A diagram as a picture (drawn by the docs build into NAME.svg), captioned with its
// `// caption: ...` line as plain text.
std::string picture(const Site& site, const std::string& dot) {
  static const std::regex caption{R"(^\s*//\s*caption:\s*(.*?)\s*$)"};
  std::string text;
  std::smatch m;
  for (const std::string& line : read_lines(site.root / "docs/diagrams" / dot).value_or(Lines{}))
    if (text.empty() && std::regex_match(line, m, caption)) text = m[1];
  std::erase(text, '`');
  std::replace(text.begin(), text.end(), '"', '\'');
  return "\\image html " + fs::path(dot).stem().string() + ".svg \"" + text + "\"";
}

// A section the site adds to a chapter: "code", "diagrams" (those it does not show itself), "diff".
Lines section(const Site& site, const Page& page, const std::string& what, const std::set<std::string>& shown) {
  const std::string dir = page.rel.begin()->string();
  const std::string id = " {#" + page.label + "-" + (what == "diagrams" ? "pictures" : what) + "}";
  if (what == "code") {
    std::string files;
    for (const std::string& name : files_in(site.root / dir, is_source))
      files += (files.empty() ? "[" : ", [") + dir + "/" + name + "](@ref " + dir + "/" + name + ")";
    return {"", "## The code of this step" + id, "",
            "The whole program, every function with its cross-references: " + files + "."};
  }
  if (what == "diagrams") {
    Lines out{"", "## Pictures of this step" + id};
    const auto own = [&](const fs::path& dot) { return dot.filename().string().starts_with(page.run + "-"); };
    for (const std::string& dot : files_in(site.root / "docs/diagrams", own))
      if (!shown.contains(dot)) out.insert(out.end(), {"", picture(site, dot)});
    return out.size() > 2 ? out : Lines{};
  }
  const auto it = std::find(site.chapters.begin(), site.chapters.end(), dir);
  if (it == site.chapters.begin()) return {};
  const std::string before = *(it - 1);
  return {"", "## What changed since step " + before.substr(4, 1) + id, "",
          "Every file of " + dir + "/ that differs from " + before + "/ (the chapter's markdown aside), made "
          "from the sources when this site was built: added lines are green, removed lines red, a new file is "
          "shown whole. On your machine: `./workshop diff " + step_name(page.run) + "`.",
          "", "\\htmlinclude diff_" + page.run + ".html"};
}

// What a line `<!-- site: WHAT -->` (hidden on the forge) stands for on the site.
Lines site_line(const Site& site, const Page& page, const std::string& what, std::set<std::string>& placed,
                const std::set<std::string>& shown) {
  if (page.label == page.run && (what == "code" || what == "diagrams" || what == "diff")) {
    placed.insert(what);
    return section(site, page, what, shown);
  }
  if (what.starts_with("diagram ")) return {picture(site, what.substr(8))};
  if (what != "diff-list") return {what};
  Lines out;  // every chapter's diff, for the main page
  for (std::size_t i = 1; i < site.chapters.size(); ++i) {
    const std::string run = run_of_chapter(site.chapters[i]), step = step_name(run);
    out.push_back("- [" + (run == "bonus" ? std::string("The bonus") : "Step " + step) + " against step " +
                  site.chapters[i - 1].substr(4, 1) + "](" + address(page.run, run, run + ".html#" + run + "-diff") +
                  "): `./workshop diff " + step + "`");
  }
  return out;
}

// Markdown as Doxygen should read it: headings with ids, links the site's, `<!-- site: ... -->`
// lines replaced, ordered lists numbered as on the forge, "yes" and "no" cells coloured; a
// chapter gets the sections it did not place, before its exercises.
void filter_markdown(const Site& site, const Page& page, const Lines& lines) {
  static const std::regex site_comment{R"(^\s*<!--\s*site:\s*(.*?)\s*-->\s*$)"};
  static const std::regex item{R"(^(\d+)\.(\s.*)$)"};
  static const std::regex cell{R"(\|(\s*)(yes|no)(\s*)(?=\|))"};
  std::set<std::string> placed, shown, subpages;  // shown: the diagrams a chapter shows in its text
  std::smatch m;
  const fs::path dir = site.root / page.rel.parent_path();
  const auto markdown = [](const fs::path& file) { return file.extension() == ".md"; };
  for (const std::string& md : page.label == page.run ? files_in(dir, markdown) : std::vector<std::string>{})
    for (const std::string& line : must_read(dir / md))
      if (std::regex_match(line, m, site_comment) && m[1].str().starts_with("diagram "))
        shown.insert(m[1].str().substr(8));
  const std::vector<Heading> all = headings(lines);
  auto next_heading = all.begin();
  std::optional<std::size_t> exercises;  // where the exercises begin in `out`
  bool in_list = false, html_list = false;  // html_list: opened as <ol start="N">, closed by end_list
  bool after_text = false;                  // the line before is text: a number then starts no list
  Lines out;
  const auto end_list = [&] {
    for (auto it = out.rbegin(); html_list && it != out.rend(); ++it)
      if (!it->empty()) *it += "</li></ol>", html_list = false;
    in_list = false;
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line = lines[i];
    if (std::regex_match(line, m, fence_open)) {
      if (m[1].length() == 0) end_list();
      const std::size_t close = std::min(fence_close(lines, i, m[2]), lines.size() - 1);
      out.insert(out.end(), lines.begin() + static_cast<std::ptrdiff_t>(i),
                 lines.begin() + static_cast<std::ptrdiff_t>(close + 1));
      i = close;
      after_text = false;
      continue;
    }
    if (std::regex_match(line, m, site_comment)) {
      const Lines replaced = site_line(site, page, m[1], placed, shown);
      out.insert(out.end(), replaced.begin(), replaced.end());
      continue;
    }
    if (next_heading != all.end() && next_heading->line == i) {
      const Heading& h = *next_heading++;
      const bool title = h.line == all.front().line && h.level == 1;
      end_list();
      if (!exercises && h.level == 2 && h.text.starts_with("Exercise")) exercises = out.size();
      const std::string id = title ? (page.label == "index" ? "" : page.label) : page.label + "-" + h.anchor;
      out.push_back(std::string(static_cast<std::size_t>(h.level), '#') + " " + keep_dashes(h.text) +
                    (id.empty() ? "" : " {#" + id + "}"));
      after_text = false;
      continue;
    }
    if (std::regex_match(line, m, item)) {
      const bool starts = !in_list && (!after_text || m[1] == "1");  // as CommonMark reads it
      if (!in_list && !starts) line = m[1].str() + "\\." + m[2].str();
      else if (starts && m[1] != "1") line = "<ol start=\"" + m[1].str() + "\"><li>" + m[2].str(), html_list = true;
      else if (html_list) line = "</li><li>" + m[2].str();
      in_list = in_list || starts;
    } else if (!line.empty() && line[0] != ' ' && !after_text) {
      end_list();
    }
    after_text = !line.empty();
    line = inline_markdown(site, page, line, subpages);
    if (line.starts_with("|")) line = std::regex_replace(line, cell, "|$1<span class=\"ws-$2\">$2</span>$3");
    out.push_back(line);
  }
  end_list();
  if (page.label == page.run) {
    Lines sections;
    for (const char* what : {"code", "diagrams", "diff"})
      if (!placed.contains(what)) {
        const Lines s = section(site, page, what, shown);
        sections.insert(sections.end(), s.begin(), s.end());
      }
    if (exercises) sections.push_back("");
    out.insert(exercises ? out.begin() + static_cast<std::ptrdiff_t>(*exercises) : out.end(), sections.begin(),
               sections.end());
  }
  for (const std::string& line : out) std::cout << line << '\n';
}

// --- sources --------------------------------------------------------------------------------------

bool is_plain_comment(const std::string& line) {
  return line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!");
}

// A comment's text as documentation: outside `code`, what Doxygen reads as commands escaped.
std::string documentation(const std::string& comment) {
  std::string text;
  bool code = false;
  for (char c : comment.substr(2)) {
    code = code != (c == '`');
    text += (!code && std::string("\\@<>&#%").find(c) != std::string::npos ? "\\" : "") + std::string(1, c);
  }
  return "///" + inline_text(text, code_spans(text), 0, text.size());
}

// A source as Doxygen should read it: the comment at the top is the file's description, a
// comment directly above a declaration at the top level is its documentation, and the snippet
// markers are plain comments (that \snippet still finds).
void filter_source(Lines lines) {
  for (std::size_t i = 0; i < lines.size();) {
    std::size_t end = i;
    static const std::regex declaration{R"(^(?![#}/\s]|namespace\b|extern "C").+)"};
    while (end < lines.size() && (is_plain_comment(lines[end]) || std::regex_match(lines[end], source_marker)))
      ++end;
    const bool declares = end < lines.size() && std::regex_match(lines[end], declaration);
    for (std::size_t k = i; k < end && (i == 0 || declares); ++k)
      if (is_plain_comment(lines[k])) lines[k] = documentation(lines[k]) + (k == 0 ? " \\file" : "");
    i = std::max(end, i + 1);
  }
  for (std::string& line : lines) {
    if (std::regex_match(line, source_marker)) line.replace(line.find("//!"), 3, "//");
    std::cout << line << '\n';
  }
}

int filter(const Site& site, const fs::path& file) {
  const fs::path rel = fs::weakly_canonical(file).lexically_relative(site.root);
  if (file.extension() != ".md") return filter_source(must_read(file)), 0;
  const Page page{rel, run_of(site, rel), page_label(site, rel)};
  if (page.label.empty()) fail(file.string() + " is no page of the site (see docs/README.md)");
  filter_markdown(site, page, must_read(file));
  return 0;
}

// --- navigation -------------------------------------------------------------------------------------

// The navigation of run `run` (DoxygenLayout.xml): the start page, the chapters (this run's
// with its sections and parts), `pages` (the other pages, in order), the code.
int layout(const Site& site, const std::string& run, const fs::path& file, const std::vector<std::string>& pages) {
  const auto tab = [&](const std::string& type, const std::string& title, const std::string& rest = "") {
    return "<tab type=\"" + type + "\" visible=\"yes\" title=\"" + html_escape(title) + "\"" + rest;
  };
  const auto page = [&](const fs::path& rel, const std::string& to) {  // a page of another run
    const std::string url = address(run, to, doxygen_name(page_label(site, rel)) + ".html");
    return tab("user", headings(must_read(site.root / rel)).at(0).text, " url=\"" + url + "\"/>\n");
  };
  std::string out = "<doxygenlayout version=\"1.0\">\n<navindex>\n";
  out += run.empty() ? tab("mainpage", "Start here", "/>\n")
                     : "<tab type=\"mainpage\" visible=\"no\"/>\n" + tab("user", "Start here", " url=\"../index.html\"/>\n");
  for (const std::string& dir : site.chapters)
    out += run_of_chapter(dir) == run ? tab("pages", "This chapter", "/>\n") : page(dir + "/README.md", run_of_chapter(dir));
  if (run.empty()) {
    out += tab("pages", "More pages", "/>\n") + tab("usergroup", "The code of each step", ">\n");
    for (const std::string& dir : site.chapters)
      out += tab("user", dir, " url=\"" + run_of_chapter(dir) + "/files.html\"/>\n");
    out += "</tab>\n";
  } else {
    out += tab("usergroup", "More pages", ">\n");
    for (const std::string& rel : pages) out += page(rel, "");
    out += "</tab>\n" + tab("files", "The code of this step", ">") + tab("filelist", "", "/>") + tab("globals", "", "/>") +
           "</tab>\n" + tab("namespaces", "", ">") + tab("namespacelist", "", "/>") + tab("namespacemembers", "", "/>") +
           "</tab>\n" + tab("classes", "", ">") + tab("classlist", "", "/>") + tab("classmembers", "", "/>") + "</tab>\n";
  }
  write_lines(file, {out + "</navindex>\n</doxygenlayout>"});
  return 0;
}

// --- diffs --------------------------------------------------------------------------------------

// `diff -ruN` of two chapter folders (the markdown aside) as HTML tables: a file each, with
// line numbers, added lines green, removed lines red.
int diff(const fs::path& root, const std::string& from, const std::string& to, const fs::path& out_file) {
  const std::string command = "cd '" + root.string() + "' && diff -ruN -x '*.md' '" + from + "' '" + to + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) fail("cannot run " + command);
  std::string text;
  char buffer[65536];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, n);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) fail(command + " failed");

  static const std::regex hunk{R"(^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@.*$)"};
  std::string html = "<div class=\"wsdiff-files\">\n", rows, a, b;
  int added = 0, removed = 0, old_line = 0, new_line = 0;
  bool created = false, deleted = false;
  const auto row = [&](const std::string& kind, int old_number, int new_number, const std::string& line) {
    const auto cell = [](int n) { return "<td class=\"wsdiff-ln\">" + (n > 0 ? std::to_string(n) : "") + "</td>"; };
    rows += "<tr class=\"wsdiff-" + kind + "\">" + cell(old_number) + cell(new_number) + "<td class=\"wsdiff-code\">" +
            html_escape(line) + "</td></tr>\n";
  };
  const auto table = [&] {
    if (rows.empty()) return;
    const std::string title = created ? b + " (new file)" : deleted ? a + " (removed)" : a + " &rarr; " + b;
    html += "<table class=\"wsdiff\">\n<thead><tr><th colspan=\"3\">" + title + " <span class=\"wsdiff-count-add\">+" +
            std::to_string(added) + "</span> <span class=\"wsdiff-count-del\">&minus;" + std::to_string(removed) +
            "</span></th></tr></thead>\n<tbody>\n" + rows + "</tbody>\n</table>\n";
    rows.clear();
    added = removed = 0;
  };
  std::istringstream in(text);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("diff ")) {
      table();
    } else if (line.starts_with("--- ") || line.starts_with("+++ ")) {
      (line[0] == '-' ? a : b) = line.substr(4, line.find('\t') - 4);
    } else if (std::regex_match(line, m, hunk)) {
      old_line = std::stoi(m[1]), new_line = std::stoi(m[3]);
      created = old_line == 0 && m[2] == "0", deleted = new_line == 0 && m[4] == "0";
      row("hunk", 0, 0, line);
    } else if (line.starts_with("+")) {
      ++added, row("add", 0, new_line++, line);
    } else if (line.starts_with("-")) {
      ++removed, row("del", old_line++, 0, line);
    } else if (line.starts_with("\\")) {
      row("note", 0, 0, line);  // \ No newline at end of file
    } else {
      row("ctx", old_line++, new_line++, line);
    }
  }
  table();
  write_lines(out_file, {html + "</div>"});
  return 0;
}

int usage(const std::string& message) {
  std::fprintf(stderr,
               "docsite: %s\nusage: docsite check|update [--root DIR] FILE.md...\n"
               "       docsite filter --root DIR FILE\n"
               "       docsite layout --root DIR [--run RUN] OUT.xml PAGE.md...\n"
               "       docsite diff --root DIR FROM TO OUT.html\n",
               message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("say what to do");
  const std::string command = argv[1];
  fs::path root = ".";
  std::string run;
  std::vector<std::string> args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--root" || arg == "--run") && i + 1 == argc) return usage(arg + " needs a value");
    if (arg == "--root") root = argv[++i];
    else if (arg == "--run") run = argv[++i];
    else args.push_back(arg);
  }
  if (!fs::is_directory(root)) return usage("--root " + root.string() + " is not a directory");
  root = fs::weakly_canonical(root);
  if ((command == "check" || command == "update") && !args.empty()) {
    bool ok = true;
    for (const std::string& file : args) ok = snippets(root, file, command == "update") && ok;
    return ok ? 0 : 1;
  }
  if (command == "filter" && args.size() == 1) return filter(site_at(root), args[0]);
  if (command == "layout" && !args.empty())
    return layout(site_at(root), run, args[0], std::vector<std::string>(args.begin() + 1, args.end()));
  if (command == "diff" && args.size() == 3) return diff(root, args[0], args[1], args[2]);
  return usage("wrong arguments for '" + command + "'");
}
