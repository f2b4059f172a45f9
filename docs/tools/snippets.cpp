// snippets: keeps the code blocks of the chapters identical to marked regions of the source.
//
// A chapter (markdown) marks a code block with an HTML comment on the line directly before it:
//
//     <!-- snippet: step3-rootfs/main.cpp#setup_rootfs -->
//     ```cpp
//     ...
//     ```
//
// The path is relative to the repository root (--root). The source marks the region with
// Doxygen's own snippet markers, a line `//! [setup_rootfs]` before and one after it, so that
// Doxygen's \snippet finds the same region. The block holds the lines between the two markers,
// without any marker lines (of this or other regions) that fall inside.
//
//   snippets [--root DIR] --check FILE.md...    exit 1 when a block differs from its region,
//                                               a marker or source is missing, or a C/C++
//                                               block has no marker
//   snippets [--root DIR] --update FILE.md...   rewrites the blocks from the source
//
// A C/C++ block that is not from the source says so with `<!-- snippet: none -->`.
// Exit status: 0 all good (or updated), 1 a problem was found, 2 wrong usage.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr const char* program = "snippets";

struct Problem {
  std::string where;  // FILE:LINE
  std::string what;
  std::size_t line = 0;  // for the order of the messages
};

// The lines of a file, without their '\n'; `ends_with_newline` tells whether the last had one.
struct Text {
  std::vector<std::string> lines;
  bool ends_with_newline = true;
};

std::optional<Text> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string all = buffer.str();
  Text text;
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\n', start);
    if (end == std::string::npos) {
      text.lines.push_back(all.substr(start));
      text.ends_with_newline = false;
      break;
    }
    text.lines.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return text;
}

bool write_text(const fs::path& path, const Text& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (std::size_t i = 0; i < text.lines.size(); ++i) {
    out << text.lines[i];
    if (i + 1 < text.lines.size() || text.ends_with_newline) out << '\n';
  }
  return static_cast<bool>(out);
}

// `//! [name]` alone on a line (leading and trailing blanks allowed): a Doxygen snippet marker.
const std::regex source_marker{R"(^\s*//!\s*\[([^\]]+)\]\s*$)"};
// `<!-- snippet: path#name -->` or `<!-- snippet: none -->` alone on a line.
const std::regex chapter_marker{R"(^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$)"};
// An opening code fence: blanks, three or more ` or ~, then the info string, whose first word
// is the language. After backticks the info string holds none, so ```` ```sh ```` in a line of
// text is no fence.
const std::regex fence_open{R"(^(\s*)(`{3,}(?=[^`]*$)|~{3,})\s*([^`\s]*).*$)"};

bool is_code_language(const std::string& info) {
  static const char* const languages[] = {"cpp", "c++", "cxx", "cc", "c", "h", "hpp"};
  for (const char* language : languages)
    if (info == language) return true;
  return false;
}

// The region `name` of `source`, marker lines removed; or why it cannot be had.
struct Region {
  std::vector<std::string> lines;
  std::string error;
};

Region find_region(const fs::path& root, const std::string& file, const std::string& name) {
  const auto source = read_text(root / file);
  if (!source) return {{}, "cannot read " + file + " (paths are relative to the repository root)"};
  std::vector<std::size_t> at;  // line indexes of this region's markers
  std::smatch m;
  for (std::size_t i = 0; i < source->lines.size(); ++i)
    if (std::regex_match(source->lines[i], m, source_marker) && m[1] == name) at.push_back(i);
  const std::string marker = "//! [" + name + "]";
  if (at.empty())
    return {{}, "no region '" + name + "' in " + file + " (put a line `" + marker +
                    "` before the region and one after it)"};
  if (at.size() != 2)
    return {{}, "region '" + name + "' in " + file + " has " + std::to_string(at.size()) +
                    " marker lines `" + marker + "`; it needs exactly two"};
  Region region;
  for (std::size_t i = at[0] + 1; i < at[1]; ++i)
    if (!std::regex_match(source->lines[i], source_marker)) region.lines.push_back(source->lines[i]);
  return region;
}

// One marked block of a chapter.
struct Block {
  std::size_t marker_line = 0;  // index of the `<!-- snippet: ... -->` line
  std::size_t first = 0;        // index of the first line inside the fence
  std::size_t end = 0;          // index of the closing fence line
  std::string target;           // "path#name", or "none"
};

// Walks a chapter: collects its marked blocks and reports malformed markers and C/C++ blocks
// that have no marker.
std::vector<Block> scan_chapter(const std::string& file, const Text& chapter,
                                std::vector<Problem>& problems) {
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::vector<Block> blocks;
  std::size_t pending = none;  // index of a marker line waiting for its fence
  const auto unfollowed = [&] {
    if (pending != none)
      problems.push_back({file + ":" + std::to_string(pending + 1),
                          "snippet marker is not directly followed by a code block"});
    pending = none;
  };
  std::smatch m;
  for (std::size_t i = 0; i < chapter.lines.size(); ++i) {
    const std::string& line = chapter.lines[i];
    if (std::regex_match(line, m, chapter_marker)) {
      unfollowed();
      pending = i;
      continue;
    }
    if (!std::regex_match(line, m, fence_open)) {
      unfollowed();
      continue;
    }
    // A fenced block: find its end (the same fence character, at least as long).
    const std::string fence = m[2];
    const std::string info = m[3];
    std::size_t end = i + 1;
    for (; end < chapter.lines.size(); ++end) {
      const std::string& l = chapter.lines[end];
      const std::size_t s = l.find_first_not_of(" \t");
      if (s == std::string::npos || l.compare(s, fence.size(), fence) != 0) continue;
      const std::size_t rest = l.find_first_not_of(fence[0], s);
      if (rest == std::string::npos || l.find_first_not_of(" \t", rest) == std::string::npos) break;
    }
    if (end == chapter.lines.size()) {
      problems.push_back({file + ":" + std::to_string(i + 1), "code block is not closed"});
      return blocks;
    }
    if (pending != none) {
      std::smatch marker;
      std::regex_match(chapter.lines[pending], marker, chapter_marker);
      blocks.push_back({pending, i + 1, end, marker[1]});
    } else if (is_code_language(info)) {
      problems.push_back({file + ":" + std::to_string(i + 1),
                          "```" + info +
                              " block without a snippet marker: pull it from the source with "
                              "<!-- snippet: PATH#NAME --> on the line before, or mark it "
                              "<!-- snippet: none --> if it is not from the source"});
    }
    pending = none;
    i = end;
  }
  unfollowed();
  return blocks;
}

// The first line where two blocks differ, for the message.
std::string first_difference(const std::vector<std::string>& in_chapter,
                             const std::vector<std::string>& in_source) {
  std::size_t i = 0;
  while (i < in_chapter.size() && i < in_source.size() && in_chapter[i] == in_source[i]) ++i;
  std::string text = "first difference at line " + std::to_string(i + 1) + " of the block:";
  text += "\n    chapter: " + (i < in_chapter.size() ? in_chapter[i] : std::string("(block ends)"));
  text += "\n    source:  " + (i < in_source.size() ? in_source[i] : std::string("(region ends)"));
  return text;
}

// Checks (and with `update`, rewrites) one chapter. Returns false on any problem.
bool process(const fs::path& root, const std::string& file, bool update) {
  auto chapter = read_text(file);
  if (!chapter) {
    std::fprintf(stderr, "%s: cannot read %s\n", program, file.c_str());
    return false;
  }
  std::vector<Problem> problems;
  const std::vector<Block> blocks = scan_chapter(file, *chapter, problems);

  Text updated = *chapter;
  std::ptrdiff_t shift = 0;  // how far later blocks moved in `updated`
  int changed = 0;
  for (const Block& block : blocks) {
    if (block.target == "none") continue;
    const std::string where = file + ":" + std::to_string(block.marker_line + 1);
    const std::size_t hash = block.target.find('#');
    if (hash == std::string::npos || hash == 0 || hash + 1 == block.target.size()) {
      problems.push_back({where, "snippet marker '" + block.target +
                                     "' is not PATH#NAME (e.g. step3-rootfs/main.cpp#setup_rootfs)"});
      continue;
    }
    const Region region =
        find_region(root, block.target.substr(0, hash), block.target.substr(hash + 1));
    if (!region.error.empty()) {
      problems.push_back({where, region.error});
      continue;
    }
    const std::vector<std::string> current(chapter->lines.begin() + block.first,
                                           chapter->lines.begin() + block.end);
    if (current == region.lines) continue;
    if (update) {
      auto first = updated.lines.begin() + (static_cast<std::ptrdiff_t>(block.first) + shift);
      auto last = updated.lines.begin() + (static_cast<std::ptrdiff_t>(block.end) + shift);
      first = updated.lines.erase(first, last);
      updated.lines.insert(first, region.lines.begin(), region.lines.end());
      shift += static_cast<std::ptrdiff_t>(region.lines.size()) -
               static_cast<std::ptrdiff_t>(current.size());
      ++changed;
    } else {
      problems.push_back({where, "block differs from " + block.target + " (run `cmake --build "
                                     "build --target snippets-update`); " +
                                     first_difference(current, region.lines)});
    }
  }

  for (Problem& p : problems) p.line = std::stoul(p.where.substr(p.where.rfind(':') + 1));
  std::stable_sort(problems.begin(), problems.end(),
                   [](const Problem& a, const Problem& b) { return a.line < b.line; });
  for (const Problem& p : problems) std::fprintf(stderr, "%s: %s\n", p.where.c_str(), p.what.c_str());
  if (update && changed > 0) {
    if (!problems.empty()) {
      std::fprintf(stderr, "%s: %s not updated: fix the problems above first\n", program,
                   file.c_str());
      return false;
    }
    if (!write_text(file, updated)) {
      std::fprintf(stderr, "%s: cannot write %s\n", program, file.c_str());
      return false;
    }
    std::printf("%s: updated %d block%s\n", file.c_str(), changed, changed == 1 ? "" : "s");
  }
  return problems.empty();
}

int usage(const char* message) {
  if (message != nullptr) std::fprintf(stderr, "%s: %s\n", program, message);
  std::fprintf(stderr,
               "usage: %s [--root DIR] --check FILE.md...\n"
               "       %s [--root DIR] --update FILE.md...\n",
               program, program);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path root = ".";
  std::optional<bool> update;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--root") {
      if (i + 1 == argc) return usage("--root needs a directory");
      root = argv[++i];
    } else if (arg == "--check" || arg == "--update") {
      if (update && *update != (arg == "--update")) return usage("give --check or --update, not both");
      update = arg == "--update";
    } else if (arg == "--help" || arg == "-h") {
      usage(nullptr);
      return 0;
    } else if (arg.starts_with("-")) {
      return usage(("unknown option " + arg).c_str());
    } else {
      files.push_back(arg);
    }
  }
  if (!update) return usage("give --check or --update");
  if (files.empty()) return usage("no markdown file given");
  if (!fs::is_directory(root)) return usage(("--root " + root.string() + " is not a directory").c_str());

  bool ok = true;
  for (const std::string& file : files) ok = process(root, file, *update) && ok;
  return ok ? 0 : 1;
}
