// docsite: what the Doxygen site needs done to the workshop's files, besides Doxygen itself.
//
//   docsite filter --root DIR --steps A,B,... [--diagrams DIR] [--mode docs|view] [--] FILE
//       Doxygen's input filter (FILTER_PATTERNS; --mode view for FILTER_SOURCE_PATTERNS):
//       prints FILE as Doxygen should read it. Line numbers stay those of FILE, so Doxygen's
//       warnings point at the real line (in a chapter, up to the first section the site adds).
//   docsite diff --root DIR --from STEP --to STEP --out FILE.html
//       `diff -u` of the sources of two steps, as an HTML table (added lines green, removed
//       lines red) for \htmlinclude.
//   docsite relink --root DIR --steps A,B,... --html DIR
//       after Doxygen: points the names in each chapter's code blocks at its own step.
//   docsite symbols --root DIR --steps A,B,...
//       lists the names the chapters can link to, for checking the filter.
//
// What the filter does to markdown (chapters stepN-*/README.md, docs/*.md, rootfs/README.md):
//   - gives every heading a Doxygen id: the page's first heading gets the page's label
//     (`step3` for step3-rootfs/README.md, `pitfalls` for docs/pitfalls.md), every other heading
//     `LABEL-SLUG`, SLUG being the anchor the forge makes (`## PID 1 ignores SIGTERM` in
//     pitfalls.md: `pitfalls-pid-1-ignores-sigterm`);
//   - turns links between the repository's files into Doxygen references, so that the same
//     markdown links work on the forge and on the site: `../step2-namespaces/README.md#try-it`
//     becomes `@ref step2-try-it`, `main.cpp` the file's page; a link to a chapter of a step
//     that does not exist yet, or to a file the site does not show, keeps its text only;
//   - links `name()` and `name` in a chapter's code spans to that name in the chapter's step,
//     and keeps Doxygen from linking them to an arbitrary step on other pages;
//   - works around what Doxygen 1.9 reads differently from the forge: a code span with a
//     quote in it, `**` around a code span, `--option` outside code;
//   - replaces a line `<!-- site: TEXT -->` (hidden on the forge) with TEXT; `<!-- site: code -->`,
//     `<!-- site: diagrams -->`, `<!-- site: diff -->`, `<!-- site: diff-list -->` and
//     `<!-- site: diagram NAME.dot -->` stand for what the site generates;
//   - adds to each chapter, before its exercises, the sections the chapter did not place: its
//     code, its diagrams (docs/diagrams/stepN-*.dot, each with a `// caption: ...` line) and
//     its diff against the step before; colours the cells "yes" and "no" of tables.
// What it does to the C++ sources of a step (see filter_source):
//   - puts the step's code into `namespace stepN`, so that the functions of five steps, each in
//     an anonymous namespace of a file called main.cpp, do not merge into one namespace;
//   - (documentation only) turns the snippet markers `//! [name]` into plain comments, and the
//     plain `//` comment directly above a top-level declaration into its documentation (`///`),
//     the comment that opens the file into the file's description.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
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

constexpr const char* program = "docsite";

[[noreturn]] void fail(const std::string& message, int status = 2) {
  std::fprintf(stderr, "%s: %s\n", program, message.c_str());
  std::exit(status);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, separator);)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// 3 for "step3-rootfs", 0 for anything else.
int step_number(const std::string& name) {
  static const std::regex step{R"(^step([1-9])-.+$)"};
  std::smatch m;
  return std::regex_match(name, m, step) ? std::stoi(m[1]) : 0;
}

// --- the workshop as the site sees it ---------------------------------------------------------

struct Site {
  fs::path root;                        // the repository
  fs::path diagrams;                    // docs/diagrams
  std::map<int, std::string> steps;     // the steps the site shows: 3 -> "step3-rootfs"
};

bool is_source(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".cpp" || ext == ".hpp" || ext == ".h";
}

// The sources of a step, main.cpp first, then by name.
std::vector<std::string> step_sources(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && is_source(entry.path())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    if ((a == "main.cpp") != (b == "main.cpp")) return a == "main.cpp";
    return a < b;
  });
  return names;
}

// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'.
std::string slug(const std::string& heading) {
  std::string out;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '_' || c == '-' || c >= 0x80) out += static_cast<char>(std::tolower(c));
    else if (c == ' ') out += '-';
  }
  return out;
}

// The first `# Title {#id}` of a markdown file, if it names an id.
std::optional<std::string> explicit_page_id(const fs::path& file) {
  std::ifstream in(file);
  static const std::regex heading{R"(^#\s.*\{#([A-Za-z0-9_.-]+)\}\s*$)"};
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (std::regex_match(line, m, heading)) return m[1].str();
    return std::nullopt;
  }
  return std::nullopt;
}

// The forge's anchor of a markdown file's title (its first heading), or "".
std::string title_slug(const fs::path& file) {
  std::ifstream in(file);
  static const std::regex heading{R"(^#\s+(.*?)\s*(\{#[^}]*\})?\s*#*\s*$)"};
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    return std::regex_match(line, m, heading) ? slug(m[1]) : "";
  }
  return "";
}

// The label of the page made from `rel` (a path relative to the root); empty if `rel` is not
// one of the site's pages. A chapter of a step the site does not show is not a page.
std::string page_label(const Site& site, const fs::path& rel) {
  const std::vector<fs::path> parts(rel.begin(), rel.end());
  if (parts.size() == 2 && parts[1] == "README.md") {
    if (int n = step_number(parts[0]); n != 0) {
      auto it = site.steps.find(n);
      return it != site.steps.end() && it->second == parts[0] ? "step" + std::to_string(n) : "";
    }
  }
  if (rel.extension() != ".md" || !fs::is_regular_file(site.root / rel)) return "";
  if (rel == "docs/mainpage.md") return "index";
  const bool docs_page = parts.size() == 2 && parts[0] == "docs";
  const bool readme = parts.size() == 2 && parts[1] == "README.md";
  if (!docs_page && !readme) return "";
  if (auto id = explicit_page_id(site.root / rel)) return *id;
  std::string label = readme ? parts[0].string() : rel.stem().string();
  if (docs_page && readme) label = "docs";
  for (char& c : label)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  return label;
}

// Doxygen typesets `--` and `---` as dashes; an option such as `--rootfs` written outside a
// code span must keep its two hyphens. Code spans are left alone.
std::string keep_double_dashes(const std::string& text) {
  std::string out;
  bool code = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '`') code = !code;
    const bool starts_word = i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1])) ||
                             text[i - 1] == '(';
    if (!code && starts_word && text.compare(i, 2, "--") == 0 && i + 2 < text.size() &&
        std::isalnum(static_cast<unsigned char>(text[i + 2]))) {
      out += "\\--";
      ++i;
      continue;
    }
    out += c;
  }
  return out;
}

// --- markdown -----------------------------------------------------------------------------------

struct Page {
  fs::path rel;            // where the page lives in the repository (also for generated stubs)
  std::string label;       // its Doxygen label
  int step = 0;            // a chapter's step, else 0
  std::string title_slug;  // the forge's anchor of its title
};

// What a link target becomes on the site: a Doxygen reference, the target untouched (an
// address elsewhere, an image), or nothing (the link keeps only its text).
std::optional<std::string> site_target(const Site& site, const Page& page, const std::string& target) {
  static const std::regex scheme{R"(^[A-Za-z][A-Za-z0-9+.-]*:.*)"};
  if (target.empty() || std::regex_match(target, scheme) || target.starts_with("//") ||
      target.starts_with("@ref") || target.starts_with("\\ref"))
    return target;
  const std::size_t hash = target.find('#');
  const std::string path = target.substr(0, hash);
  const std::string fragment = hash == std::string::npos ? "" : target.substr(hash + 1);
  if (path.empty()) {  // a heading of this page; the title's anchor is the page itself
    if (fragment == page.title_slug) return "@ref " + page.label;
    return "@ref " + page.label + "-" + fragment;
  }

  fs::path rel = (page.rel.parent_path() / path).lexically_normal();
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;  // outside the repository
  if (rel.filename().empty()) rel = rel.parent_path();              // "dir/" -> "dir"
  if (step_number(rel.string()) != 0 && std::distance(rel.begin(), rel.end()) == 1)
    rel /= "README.md";                                             // a step's folder: its chapter
  if (std::string label = page_label(site, rel); !label.empty()) {
    if (fragment.empty() || fragment == title_slug(site.root / rel)) return "@ref " + label;
    return "@ref " + label + "-" + fragment;
  }
  // A source of a step the site shows: the file's page.
  if (is_source(rel) && std::distance(rel.begin(), rel.end()) == 2) {
    const int n = step_number(rel.begin()->string());
    auto it = site.steps.find(n);
    if (n != 0 && it != site.steps.end() && it->second == *rel.begin() &&
        fs::is_regular_file(site.root / rel))
      return "@ref " + rel.generic_string();
  }
  return std::nullopt;
}

// --- what the steps' sources define -----------------------------------------------------------

// A name defined at namespace level in a step's sources, with the scope Doxygen gives it on the
// site (see filter_source): `step3::anonymous_namespace{main.cpp}` for the anonymous namespace.
struct Symbol {
  std::string name;
  std::string scope;
  bool function = false;
  bool type = false;
};

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The identifier that ends just before position `end` of `text` (blanks skipped), or "".
std::string identifier_before(const std::string& text, std::size_t end) {
  while (end > 0 && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  std::size_t begin = end;
  while (begin > 0 && is_identifier_char(text[begin - 1])) --begin;
  if (begin == end || std::isdigit(static_cast<unsigned char>(text[begin]))) return "";
  return text.substr(begin, end - begin);
}

// The names a declaration at namespace level defines; `statement` is its text up to `;` or `{`.
void declared_names(const std::string& statement, const std::string& scope,
                    std::vector<Symbol>& out) {
  static const std::regex skipped{R"(^\s*(using|typedef|static_assert|template|friend|return)\b.*)"};
  static const std::regex type{R"(^\s*(?:struct|class|union|enum(?:\s+class)?)\s+([A-Za-z_]\w*)[^(]*$)"};
  std::smatch m;
  if (statement.find_first_not_of(" \t\n") == std::string::npos) return;
  if (std::regex_match(statement, m, skipped)) return;
  if (std::regex_match(statement, m, type)) {
    out.push_back({m[1], scope, false, true});
    return;
  }
  const std::size_t paren = statement.find('(');
  const std::size_t equal = statement.find('=');
  if (paren != std::string::npos && (equal == std::string::npos || paren < equal)) {
    // A member defined outside its class (`void Cgroup::make(`) belongs to the class: skipped.
    std::size_t end = paren;
    while (end > 0 && std::isspace(static_cast<unsigned char>(statement[end - 1]))) --end;
    const std::string name = identifier_before(statement, end);
    const std::size_t begin = end - name.size();
    const bool qualified = (begin >= 2 && statement.compare(begin - 2, 2, "::") == 0) ||
                           (begin >= 1 && statement[begin - 1] == '~');
    if (!name.empty() && name != "operator" && !qualified) out.push_back({name, scope, true, false});
    return;
  }
  // Variables: each declarator's name stands before its `=`, or at its end.
  int depth = 0;
  std::size_t part = 0;
  for (std::size_t i = 0; i <= statement.size(); ++i) {
    const char c = i < statement.size() ? statement[i] : ',';
    if (c == '(' || c == '<' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == '>' || c == ']' || c == '}') --depth;
    if (depth > 0 || c != ',') continue;
    const std::string declarator = statement.substr(part, i - part);
    const std::size_t eq = declarator.find('=');
    std::string name = identifier_before(declarator, eq == std::string::npos ? declarator.size() : eq);
    if (!name.empty()) out.push_back({name, scope, false, false});
    part = i + 1;
  }
}

// Walks C++ text, skipping comments, string and character literals and preprocessor lines, and
// calls on(c, line, statement) for every '{', '}' and ';': `line` is the 0-based line of c,
// `statement` the code since the previous one of them.
template <class On>
void walk_code(const std::string& text, On on) {
  std::string statement;
  std::size_t line = 0;
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = true;
      statement += ' ';
      continue;
    }
    if (line_start && c == '#') {  // a preprocessor line, with its continuations
      while (i + 1 < text.size() && !(text[i + 1] == '\n' && text[i] != '\\')) {
        if (text[i] == '\n') ++line;
        ++i;
      }
      continue;
    }
    if (!std::isspace(static_cast<unsigned char>(c))) line_start = false;
    if (text.compare(i, 2, "//") == 0) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (text.compare(i, 2, "/*") == 0) {
      const std::size_t end = text.find("*/", i + 2);
      const std::size_t stop = end == std::string::npos ? text.size() : end + 2;
      line += static_cast<std::size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(i),
                                                  text.begin() + static_cast<std::ptrdiff_t>(stop), '\n'));
      i = stop - 1;
      continue;
    }
    if (c == '"' || c == '\'') {  // a literal, escapes included
      std::size_t j = i + 1;
      while (j < text.size() && text[j] != c && text[j] != '\n') j += text[j] == '\\' ? 2 : 1;
      statement += c == '"' ? "\"\"" : "''";
      i = std::min(j, text.size() - 1);
      continue;
    }
    if (c == '{' || c == '}' || c == ';') {
      on(c, line, statement);
      statement.clear();
      continue;
    }
    statement += c;
  }
}

bool opens_anonymous_namespace(const std::string& statement) {
  static const std::regex anonymous{R"(^\s*namespace\s*$)"};
  return std::regex_match(statement, anonymous);
}

// The namespace-level names of one source file of step `step`. A top-level anonymous namespace
// is the step's namespace on the site (see filter_source), other namespaces nest in it.
void scan_symbols(const std::string& text, int step, const std::string& file,
                  std::vector<Symbol>& out) {
  struct Scope {
    bool is_namespace;
    std::string name;  // as Doxygen names it; empty: adds nothing to the scope
  };
  std::vector<Scope> stack;
  const auto at_namespace_level = [&] {
    return std::all_of(stack.begin(), stack.end(), [](const Scope& s) { return s.is_namespace; });
  };
  const auto scope_name = [&] {
    std::string name = "step" + std::to_string(step);
    for (const Scope& s : stack)
      if (!s.name.empty()) name += "::" + s.name;
    return name;
  };
  walk_code(text, [&](char c, std::size_t, const std::string& statement) {
    static const std::regex named{R"(^\s*(?:inline\s+)?namespace\s+([A-Za-z_][\w:]*)\s*$)"};
    static const std::regex extern_c{R"(^\s*extern\s*""\s*$)"};
    std::smatch m;
    const bool level = at_namespace_level();
    if (c == '{') {
      if (!level) {
        stack.push_back({false, ""});
      } else if (opens_anonymous_namespace(statement)) {
        stack.push_back({true, stack.empty() ? "" : "anonymous_namespace{" + file + "}"});
      } else if (std::regex_match(statement, m, named)) {
        stack.push_back({true, m[1]});
      } else if (std::regex_match(statement, extern_c)) {
        stack.push_back({true, ""});
      } else {
        declared_names(statement, scope_name(), out);
        stack.push_back({false, ""});
      }
    } else if (c == '}') {
      if (!stack.empty()) stack.pop_back();
    } else if (level) {
      declared_names(statement, scope_name(), out);
    }
  });
}

// The lines (0-based) that open and close each top-level anonymous namespace of a file.
std::vector<std::pair<std::size_t, std::size_t>> anonymous_namespaces(const std::string& text) {
  std::vector<std::pair<std::size_t, std::size_t>> found;
  std::vector<std::optional<std::size_t>> stack;  // the opening line of a top-level anonymous one
  walk_code(text, [&](char c, std::size_t line, const std::string& statement) {
    if (c == '{') {
      if (stack.empty() && opens_anonymous_namespace(statement)) stack.push_back(line);
      else stack.push_back(std::nullopt);
    } else if (c == '}' && !stack.empty()) {
      if (stack.back()) found.emplace_back(*stack.back(), line);
      stack.pop_back();
    }
  });
  return found;
}

// Every step's namespace-level names, read once.
const std::map<int, std::vector<Symbol>>& symbols(const Site& site) {
  static std::map<int, std::vector<Symbol>> all;
  static bool read = false;
  if (read) return all;
  read = true;
  for (const auto& [n, dir] : site.steps)
    for (const std::string& name : step_sources(site.root / dir))
      scan_symbols(read_file(site.root / dir / name), n, name, all[n]);
  return all;
}

const Symbol* find_symbol(const Site& site, int step, const std::string& name, bool function) {
  auto it = symbols(site).find(step);
  if (it == symbols(site).end()) return nullptr;
  for (const Symbol& s : it->second)
    if (s.name == name && s.function == function) return &s;
  return nullptr;
}

// --- inline markdown ----------------------------------------------------------------------------

// A code span as Doxygen should read it:
//   - Doxygen ends a single-backtick span at a quote followed by a non-word character
//     (`sh -c 'echo $$'` would break), so such a span gets two backticks;
//   - `name()` or `name` of a step's function, constant or type links to the definition in the
//     chapter's own step; on other pages, or when the chapter's step has no such name,
//     Doxygen's automatic link (which would pick any step's) is suppressed.
std::string code_span(const Site& site, const Page& page, const std::string& ticks,
                      const std::string& content) {
  static const std::regex symbol{R"(^([A-Za-z_]\w*)(\(\))?$)"};
  std::smatch m;
  if (std::regex_match(content, m, symbol)) {
    const bool function = m[2].matched;
    const std::string name = m[1];
    if (page.step != 0) {
      if (const Symbol* s = find_symbol(site, page.step, name, function))
        return "<code>[" + content + "](@ref " + s->scope + "::" + name + ")</code>";
    }
    for (const auto& [n, list] : symbols(site))
      for (const Symbol& s : list)
        if (s.name == name && s.function == function && (function || s.type))
          return "<code>%" + content + "</code>";
  }
  if (ticks.size() == 1) {
    for (std::size_t i = 0; i < content.size(); ++i)
      if (content[i] == '\'' && (i + 1 == content.size() || !is_identifier_char(content[i + 1])))
        return "``" + content + "``";
  }
  return ticks + content + ticks;
}

struct CodeSpan {
  std::size_t begin, end;  // [begin, end), backticks included
  std::size_t ticks;
};

std::vector<CodeSpan> code_spans(const std::string& line) {
  std::vector<CodeSpan> spans;
  std::size_t i = 0;
  while ((i = line.find('`', i)) != std::string::npos) {
    std::size_t run = line.find_first_not_of('`', i);
    if (run == std::string::npos) break;
    const std::size_t ticks = run - i;
    // The closing run: exactly as many backticks.
    std::size_t close = run;
    while ((close = line.find(std::string(ticks, '`'), close)) != std::string::npos) {
      const std::size_t after = close + ticks;
      if ((after == line.size() || line[after] != '`') && line[close - 1] != '`') break;
      close = line.find_first_not_of('`', close);
      if (close == std::string::npos) break;
    }
    if (close == std::string::npos) break;  // unclosed: the rest is text
    spans.push_back({i, close + ticks, ticks});
    i = close + ticks;
  }
  return spans;
}

// Text and code spans between `from` and `to` of a line, as Doxygen should read them.
std::string inline_text(const Site& site, const Page& page, const std::string& line,
                        const std::vector<CodeSpan>& spans, std::size_t from, std::size_t to) {
  std::string out;
  std::size_t i = from;
  for (const CodeSpan& s : spans) {
    if (s.end <= from || s.begin >= to) continue;
    out += keep_double_dashes(line.substr(i, s.begin - i));
    out += code_span(site, page, std::string(s.ticks, '`'),
                     line.substr(s.begin + s.ticks, s.end - s.begin - 2 * s.ticks));
    i = s.end;
  }
  out += keep_double_dashes(line.substr(i, to - i));
  return out;
}

// Doxygen does not see `**` as bold when a code span follows it (`**`MS_PRIVATE` matters.**`
// shows the asterisks): such a pair becomes <b>...</b>.
std::string bold_around_code(const std::string& line) {
  const std::vector<CodeSpan> spans = code_spans(line);
  const auto in_span = [&](std::size_t at) {
    return std::any_of(spans.begin(), spans.end(),
                       [&](const CodeSpan& s) { return at >= s.begin && at < s.end; });
  };
  std::vector<std::size_t> stars;  // positions of `**` outside code spans
  for (std::size_t i = 0; i + 1 < line.size(); ++i)
    if (line.compare(i, 2, "**") == 0 && !in_span(i)) {
      stars.push_back(i);
      ++i;
    }
  std::string out = line;
  for (std::size_t k = stars.size() / 2 * 2; k >= 2; k -= 2) {  // from the end: positions hold
    const std::size_t open = stars[k - 2], close = stars[k - 1];
    const std::string inside = line.substr(open + 2, close - open - 2);
    if (inside.find('`') == std::string::npos && inside.find("<code>") == std::string::npos) continue;
    out.replace(close, 2, "</b>");
    out.replace(open, 2, "<b>");
  }
  return out;
}

// Rewrites one line of markdown text: links (their text may hold code spans) and code spans.
std::string rewrite_links(const Site& site, const Page& page, const std::string& line) {
  static const std::regex link{R"((!?)\[([^\]]*)\]\(([^)\s]*)((?:\s+"[^"]*")?)\))"};
  const std::vector<CodeSpan> spans = code_spans(line);
  std::string masked = line;  // code spans hidden, so that a `[x](y)` inside one is no link
  for (const CodeSpan& s : spans)
    for (std::size_t k = s.begin; k < s.end; ++k)
      if (masked[k] != '`') masked[k] = '\x01';
  std::string out;
  std::size_t pos = 0;
  for (auto it = std::sregex_iterator(masked.begin(), masked.end(), link); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    const std::size_t begin = static_cast<std::size_t>(m.position(0));
    const std::size_t end = begin + static_cast<std::size_t>(m.length(0));
    out += inline_text(site, page, line, spans, pos, begin);
    const std::string original = line.substr(begin, end - begin);
    const std::string text = line.substr(static_cast<std::size_t>(m.position(2)), static_cast<std::size_t>(m.length(2)));
    const std::string target = line.substr(static_cast<std::size_t>(m.position(3)), static_cast<std::size_t>(m.length(3)));
    const std::string title = line.substr(static_cast<std::size_t>(m.position(4)), static_cast<std::size_t>(m.length(4)));
    if (m[1].length() > 0) {
      out += original;  // an image: Doxygen finds it through IMAGE_PATH
    } else if (auto site_link = site_target(site, page, target)) {
      // Doxygen shows the text of a @ref link as it is, backticks too: a text that is one code
      // span becomes a link inside <code>, other backticks are dropped.
      static const std::regex one_span{R"(^(`+)([^`]+)\1$)"};
      std::smatch t;
      if (site_link->starts_with("@ref") && std::regex_match(text, t, one_span)) {
        out += "<code>[" + t[2].str() + "](" + *site_link + title + ")</code>";
      } else if (site_link->starts_with("@ref")) {
        std::string plain;
        for (char c : text)
          if (c != '`') plain += c;
        out += "[" + plain + "](" + *site_link + title + ")";
      } else {
        out += "[" + text + "](" + *site_link + title + ")";
      }
    } else {
      out += inline_text(site, page, line, spans, static_cast<std::size_t>(m.position(2)),
                         static_cast<std::size_t>(m.position(2) + m.length(2)));
    }
    pos = end;
  }
  out += inline_text(site, page, line, spans, pos, line.size());
  return bold_around_code(out);
}

struct Diagram {
  std::string file;     // name in docs/diagrams
  std::string caption;  // from its `// caption: ...` line
};

// docs/diagrams/stepN-*.dot (step 0: the files of no step): the process tree first, then by name.
std::vector<Diagram> step_diagrams(const Site& site, int step) {
  std::vector<Diagram> diagrams;
  const std::string prefix = "step" + std::to_string(step) + "-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(site.diagrams, ec)) {
    const std::string name = entry.path().filename();
    if (entry.path().extension() != ".dot") continue;
    if (step != 0 ? !name.starts_with(prefix) : step_number(name) != 0) continue;
    Diagram d{name, ""};
    static const std::regex caption{R"(^\s*//\s*caption:\s*(.*?)\s*$)"};
    std::smatch m;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);)
      if (std::regex_match(line, m, caption)) {
        d.caption = m[1];
        break;
      }
    diagrams.push_back(d);
  }
  std::sort(diagrams.begin(), diagrams.end(), [](const Diagram& a, const Diagram& b) {
    const bool ta = a.file.find("process-tree") != std::string::npos;
    const bool tb = b.file.find("process-tree") != std::string::npos;
    if (ta != tb) return ta;
    return a.file < b.file;
  });
  return diagrams;
}

// A caption is plain text on the site: no backticks, no double quotes.
std::string quote_caption(const std::string& caption) {
  std::string out;
  for (char c : caption)
    if (c != '`') out += c == '"' ? '\'' : c;
  return "\"" + out + "\"";
}

std::string dotfile(const Diagram& d) {
  return "\\dotfile " + d.file + (d.caption.empty() ? "" : " " + quote_caption(d.caption));
}

std::vector<std::string> code_section(const Site& site, int step) {
  const std::string& dir = site.steps.at(step);
  std::vector<std::string> out{"", "## The code of this step {#step" + std::to_string(step) + "-code}", ""};
  std::string files;
  for (const std::string& name : step_sources(site.root / dir)) {
    if (!files.empty()) files += ", ";
    files += "[" + dir + "/" + name + "](@ref " + dir + "/" + name + ")";
  }
  out.push_back("The whole program, every function with its cross-references: " + files + ".");
  return out;
}

std::vector<std::string> diagrams_section(const Site& site, int step) {
  const std::vector<Diagram> diagrams = step_diagrams(site, step);
  if (diagrams.empty()) return {};
  std::vector<std::string> out{"", "## Pictures of this step {#step" + std::to_string(step) + "-pictures}"};
  for (const Diagram& d : diagrams) {
    out.push_back("");
    out.push_back(dotfile(d));
  }
  return out;
}

std::vector<std::string> diff_section(const Site& site, int step) {
  auto before = site.steps.find(step - 1);
  if (before == site.steps.end()) return {};
  const std::string& from = before->second;
  const std::string& to = site.steps.at(step);
  const std::string n = std::to_string(step);
  const std::string m = std::to_string(step - 1);
  return {"",
          "## What changed since step " + m + " {#step" + n + "-diff}",
          "",
          "The code of step " + n + " against step " + m + ", made from the sources when this "
          "site was built: added lines are green, removed lines red. To see it on your machine: "
          "`diff -u " + from + "/main.cpp " + to + "/main.cpp`, or "
          "`cmake --build build --target step-diffs` for every pair of steps.",
          "",
          "\\htmlinclude diff_step" + n + ".html"};
}

// The markdown a line `<!-- site: ... -->` stands for; nullopt when `line` is no such line.
std::optional<std::vector<std::string>> site_line(const Site& site, const Page& page,
                                                  const std::string& line, std::set<std::string>& placed) {
  static const std::regex site_comment{R"(^\s*<!--\s*site:\s*(.*?)\s*-->\s*$)"};
  std::smatch m;
  if (!std::regex_match(line, m, site_comment)) return std::nullopt;
  const std::string what = m[1];
  if (page.step != 0 && (what == "code" || what == "diagrams" || what == "diff")) {
    placed.insert(what);
    if (what == "code") return code_section(site, page.step);
    if (what == "diagrams") return diagrams_section(site, page.step);
    return diff_section(site, page.step);
  }
  if (what == "diff-list") {  // the list of every step's diff, for the main page
    std::vector<std::string> out;
    for (const auto& [n, dir] : site.steps)
      if (site.steps.contains(n - 1))
        out.push_back("- [Step " + std::to_string(n) + " against step " + std::to_string(n - 1) +
                      "](@ref step" + std::to_string(n) + "-diff): `diff -u " +
                      site.steps.at(n - 1) + "/main.cpp " + dir + "/main.cpp`");
    return out;
  }
  if (what.starts_with("diagram ")) {  // `diagram NAME.dot`: the picture with its caption
    const std::string name = what.substr(8);
    for (int n = 0; n <= 9; ++n)
      for (const Diagram& d : step_diagrams(site, n))
        if (d.file == name) return std::vector<std::string>{dotfile(d)};
    return std::vector<std::string>{"\\dotfile " + name};  // Doxygen reports it if missing
  }
  return std::vector<std::string>{what};
}

// The cells "yes" and "no" of a table row, marked so that the site can colour them.
std::string table_cells(const std::string& line) {
  if (!line.starts_with("|")) return line;
  static const std::regex cell{R"(\|(\s*)(yes|no)(\s*)(?=\|))"};
  return std::regex_replace(line, cell, "|$1<span class=\"ws-$2\">$2</span>$3");
}

// Markdown as Doxygen should read it. Lines are added only at the end, or in place of a
// `<!-- site: ... -->` line: Doxygen's warnings keep their line numbers up to the first of those.
void filter_markdown(const Site& site, const Page& page, const std::vector<std::string>& lines) {
  static const std::regex heading{R"(^(#{1,6})\s+(.*?)\s*#*\s*$)"};
  static const std::regex fence{R"(^\s*(`{3,}(?=[^`]*$)|~{3,}).*$)"};
  std::map<std::string, int> used;  // slugs already given, as the forge counts them
  std::set<std::string> placed;
  std::string open_fence;
  bool titled = false;
  std::optional<std::size_t> exercises;  // where the chapter's exercises begin in `out`
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    std::smatch m;
    if (!open_fence.empty()) {  // inside a fenced block: untouched
      const std::size_t s = line.find_first_not_of(" \t");
      if (s != std::string::npos && line.compare(s, open_fence.size(), open_fence) == 0 &&
          line.find_first_not_of(std::string(1, open_fence[0]) + " \t", s) == std::string::npos)
        open_fence.clear();
      out.push_back(line);
      continue;
    }
    if (std::regex_match(line, m, fence)) {
      open_fence = m[1];
      out.push_back(line);
      continue;
    }
    if (auto replaced = site_line(site, page, line, placed)) {
      out.insert(out.end(), replaced->begin(), replaced->end());
      continue;
    }
    static const std::regex exercises_heading{R"(^##\s+Exercises?\b.*$)", std::regex::icase};
    if (!exercises && std::regex_match(line, exercises_heading)) exercises = out.size();
    if (std::regex_match(line, m, heading) && line.find("{#") == std::string::npos) {
      const std::string text = m[2];
      std::string id;
      if (!titled && m[1].length() == 1) {
        titled = true;
        if (page.label != "index") id = page.label;  // the main page keeps Doxygen's own name
      } else {
        std::string s = slug(text);
        const int n = used[s]++;
        if (n > 0) s += "-" + std::to_string(n);
        id = page.label + "-" + s;
      }
      out.push_back(id.empty() ? line : m[1].str() + " " + text + " {#" + id + "}");
      continue;
    }
    if (std::regex_match(line, m, heading)) titled = titled || m[1].length() == 1;
    out.push_back(table_cells(rewrite_links(site, page, line)));
  }
  if (page.step != 0) {
    // The sections not placed by the chapter go before its exercises, or else at the end.
    std::vector<std::string> sections;
    for (const std::string what : {"code", "diagrams", "diff"}) {
      if (placed.contains(what)) continue;
      std::vector<std::string> section = what == "code"       ? code_section(site, page.step)
                                         : what == "diagrams" ? diagrams_section(site, page.step)
                                                              : diff_section(site, page.step);
      sections.insert(sections.end(), section.begin(), section.end());
    }
    auto at = exercises ? out.begin() + static_cast<std::ptrdiff_t>(*exercises) : out.end();
    if (exercises) sections.push_back("");
    out.insert(at, sections.begin(), sections.end());
  }
  for (const std::string& line : out) std::cout << line << '\n';
}

// --- C++ sources --------------------------------------------------------------------------------

bool is_marker(const std::string& line) {
  static const std::regex marker{R"(^\s*//!\s*\[[^\]]+\]\s*$)"};
  return std::regex_match(line, marker);
}

bool is_plain_comment(const std::string& line) {
  return line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!");
}

// A line that starts a top-level declaration a comment above it documents.
bool starts_declaration(const std::string& line) {
  if (line.empty() || std::isspace(static_cast<unsigned char>(line[0]))) return false;
  for (const char* not_one : {"#", "}", "/", "namespace", "extern \"C\""})
    if (line.starts_with(not_one)) return false;
  return true;
}

// Comment text made safe for Doxygen: outside `code spans`, characters Doxygen would read as
// commands or HTML are escaped.
std::string doxygen_text(const std::string& text) {
  std::string out;
  bool code = false;
  for (char c : text) {
    if (c == '`') code = !code;
    if (!code && std::strchr("\\@<>&#%", c) != nullptr) out += '\\';
    out += c;
  }
  return keep_double_dashes(out);
}

std::string promote(const std::string& comment, const std::string& suffix = "") {
  return "///" + doxygen_text(comment.substr(2)) + suffix;
}

// Where a file without a top-level anonymous namespace opens the namespace of its step: the
// first empty line after the last #include.
std::optional<std::size_t> namespace_line(const std::vector<std::string>& lines) {
  std::size_t last_include = 0;
  bool in_block_comment = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (!in_block_comment && l.starts_with("#include")) last_include = i;
    if (l.find("/*") != std::string::npos) in_block_comment = true;
    if (l.find("*/") != std::string::npos) in_block_comment = false;
  }
  for (std::size_t i = last_include; i < lines.size(); ++i)
    if (lines[i].empty()) return i;
  return std::nullopt;
}

// A line that holds nothing but `namespace {` or nothing but its closing `}` (comments allowed).
bool only_brace_line(const std::string& line, bool opening) {
  static const std::regex open{R"(^\s*namespace\s*\{\s*(//.*)?$)"};
  static const std::regex close{R"(^\s*\}\s*(//.*)?$)"};
  return std::regex_match(line, opening ? open : close);
}

// A step's source as Doxygen should read it.
//
// Every step has a main.cpp whose functions sit in an anonymous namespace; Doxygen would merge
// them all into one namespace `anonymous_namespace{main.cpp}` and link a call in step 1's code
// to step 3's function of that name. So the step's code goes into a namespace named for the step:
// the line `namespace {` opens `namespace stepN {`, its closing line is dropped, and the
// namespace closes at the end of the file (main() is then in it too). A file without such a
// namespace is wrapped from the first empty line after its #includes.
//
// `view`: for the source browser, which shows the file as it is but for those lines, each
// saying so. Without `view` (the documentation): also snippet markers blanked and comments
// above declarations made documentation.
void filter_source(const fs::path& rel, const std::vector<std::string>& input, bool view) {
  std::vector<std::string> lines = input;
  const int step = rel.has_parent_path() ? step_number(rel.begin()->string()) : 0;

  if (!view) {
    // Comments directly above a top-level declaration (snippet markers between do not count).
    for (std::size_t i = 0; i < lines.size();) {
      if (!is_plain_comment(lines[i]) || is_marker(lines[i])) {
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < lines.size() && (is_plain_comment(lines[end]) || is_marker(lines[end]))) ++end;
      const bool opens_file =
          i == 0 && (end == lines.size() || lines[end].empty() || lines[end].starts_with("#"));
      if (opens_file || (end < lines.size() && starts_declaration(lines[end]))) {
        bool first = true;
        for (std::size_t k = i; k < end; ++k) {
          if (is_marker(lines[k])) continue;
          lines[k] = promote(lines[k], opens_file && first ? " \\file" : "");
          first = false;
        }
      }
      i = end;
    }
    // `//! [name]` would be documentation; `// [name]` is a plain comment that \snippet
    // still finds.
    for (std::string& line : lines)
      if (is_marker(line)) line.replace(line.find("//!"), 3, "//");
  }

  if (step != 0) {
    std::string text;
    for (const std::string& line : input) text += line + '\n';
    auto anonymous = anonymous_namespaces(text);
    const bool usable = !anonymous.empty() &&
        std::all_of(anonymous.begin(), anonymous.end(), [&](const auto& p) {
          return p.first < input.size() && p.second < input.size() && p.first != p.second &&
                 only_brace_line(input[p.first], true) && only_brace_line(input[p.second], false);
        });
    std::optional<std::size_t> opening = usable ? std::optional(anonymous.front().first)
                                                : namespace_line(input);
    if (opening) {
      const std::string ns = "step" + std::to_string(step);
      if (usable) {
        for (const auto& [open, close] : anonymous) {
          lines[open] = view ? "// namespace {  (on this site: part of namespace " + ns + ")" : "";
          lines[close] = view ? "// }  (on this site, namespace " + ns + " ends with the file)" : "";
        }
      }
      if (view)
        lines[*opening] = "namespace " + ns + " {  // on this site only: keeps the five steps apart";
      else if (rel.filename() == "main.cpp")
        lines[*opening] = "/** \\brief Step " + std::to_string(step) + " (" + rel.begin()->string() +
                          "). In the source, an anonymous namespace; on this site, a namespace "
                          "named for the step, which keeps the steps' functions apart. */ "
                          "namespace " + ns + " {";
      else
        lines[*opening] = "namespace " + ns + " {";
      lines.push_back("}  // namespace " + ns + (view ? " (on this site only)" : ""));
    }
  }
  for (const std::string& line : lines) std::cout << line << '\n';
}

int filter(const Site& site, const fs::path& file, bool view) {
  const std::vector<std::string> lines = split_lines(read_file(file));
  // Where the file sits in the repository. A chapter stub generated in the build tree
  // (.../stepN-name/README.md) stands for stepN-name/README.md.
  const fs::path absolute = fs::absolute(file).lexically_normal();
  fs::path rel = absolute.lexically_relative(site.root);
  const std::string dir = absolute.parent_path().filename();
  if (absolute.filename() == "README.md" && step_number(dir) != 0) rel = fs::path(dir) / "README.md";

  if (file.extension() == ".md") {
    Page page{rel, "", 0, title_slug(file)};
    if (rel.filename() == "README.md" && step_number(dir) != 0 && site.steps.contains(step_number(dir)))
      page.step = step_number(dir);
    page.label = page.step != 0 ? "step" + std::to_string(page.step) : page_label(site, rel);
    if (page.label.empty()) {
      std::string label = rel.generic_string();
      for (char& c : label)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      page.label = label;
    }
    filter_markdown(site, page, lines);
  } else {
    filter_source(rel, lines, view);
  }
  return 0;
}

// --- links in the generated pages -------------------------------------------------------------

// Doxygen links the names in a page's code blocks to whichever step's function of that name it
// finds first: in chapter 3, `must` would lead to step 5's must(). After Doxygen, each such link
// in a chapter is pointed at its own step's member of that name (or dropped when the step has
// none); in the other pages, where no step is meant, links into a step's code are dropped.
int relink(const Site& site, const fs::path& html) {
  std::map<int, std::map<std::string, std::string>> members;  // step -> name -> href
  for (const auto& [n, dir] : site.steps) {
    const fs::path page = html / ("namespacestep" + std::to_string(n) + ".html");
    if (!fs::exists(page)) continue;
    const std::string text = read_file(page);
    const std::regex member{"<a class=\"el\" href=\"((?:namespace|struct|class|union)step" +
                            std::to_string(n) + R"re([^"]*)">([A-Za-z_]\w*)</a>)re"};
    for (auto it = std::sregex_iterator(text.begin(), text.end(), member); it != std::sregex_iterator(); ++it)
      members[n].emplace((*it)[2].str(), (*it)[1].str());
  }
  std::vector<std::pair<fs::path, int>> pages{{html / "index.html", 0}};
  for (const auto& [n, dir] : site.steps) pages.push_back({html / ("step" + std::to_string(n) + ".html"), n});
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(site.root / "docs", ec))
    if (entry.path().extension() == ".md" && entry.path().filename() != "mainpage.md")
      pages.push_back({html / (page_label(site, fs::path("docs") / entry.path().filename()) + ".html"), 0});
  if (fs::exists(site.root / "rootfs/README.md"))
    pages.push_back({html / (page_label(site, "rootfs/README.md") + ".html"), 0});

  static const std::regex link{
      R"re(<a class="(code|el)((?: hl_\w+)?)" href="((?:namespace|struct|class|union)step(\d)[^"]*)"(?: title="[^"]*")?>([^<]*)</a>)re"};
  int changed = 0;
  for (const auto& [page, step] : pages) {
    if (!fs::exists(page)) continue;
    const std::string text = read_file(page);
    std::string out;
    auto last = text.cbegin();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), link); it != std::sregex_iterator(); ++it) {
      const std::smatch& m = *it;
      out.append(last, m[0].first);
      last = m[0].second;
      const int target = std::stoi(m[4]);
      const std::string name = m[5];
      if (step != 0 && target == step) {
        out += m[0].str();
        continue;
      }
      ++changed;
      auto own = step != 0 ? members[step].find(name) : members[step].end();
      if (step != 0 && own != members[step].end())
        out += "<a class=\"" + m[1].str() + m[2].str() + "\" href=\"" + own->second + "\">" + name + "</a>";
      else
        out += name;
    }
    out.append(last, text.cend());
    if (out != text) {
      std::ofstream file(page, std::ios::binary | std::ios::trunc);
      file << out;
      if (!file) fail("cannot write " + page.string());
    }
  }
  std::printf("%s: %d links in the pages' code pointed at the right step\n", program, changed);
  return 0;
}

// --- diffs --------------------------------------------------------------------------------------

// Runs argv, returns its stdout and exit status.
std::pair<std::string, int> capture(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) == -1) fail(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid == -1) fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "%s: cannot run %s: %s\n", program, argv[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buffer[65536];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n == -1 && errno == EINTR) continue;
    if (n == -1) fail(std::string("read: ") + std::strerror(errno));
    out.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {}
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
}

// One file's `diff -u` as an HTML table with line numbers.
std::string diff_table(const std::string& from, const std::string& to, const std::string& diff) {
  std::string rows;
  int added = 0, removed = 0, old_line = 0, new_line = 0;
  static const std::regex hunk{R"(^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@.*$)"};
  const auto row = [&](const char* kind, const std::string& a, const std::string& b,
                       const std::string& text) {
    rows += "<tr class=\"wsdiff-" + std::string(kind) + "\"><td class=\"wsdiff-ln\">" + a +
            "</td><td class=\"wsdiff-ln\">" + b + "</td><td class=\"wsdiff-code\">" +
            html_escape(text) + "</td></tr>\n";
  };
  for (const std::string& line : split_lines(diff)) {
    std::smatch m;
    if (line.starts_with("--- ") || line.starts_with("+++ ")) continue;
    if (std::regex_match(line, m, hunk)) {
      old_line = std::stoi(m[1]);
      new_line = std::stoi(m[2]);
      row("hunk", "", "", line);
    } else if (line.starts_with("+")) {
      ++added;
      row("add", "", std::to_string(new_line++), line);
    } else if (line.starts_with("-")) {
      ++removed;
      row("del", std::to_string(old_line++), "", line);
    } else if (line.starts_with("\\")) {
      row("note", "", "", line);
    } else {
      row("ctx", std::to_string(old_line++), std::to_string(new_line++), line);
    }
  }
  std::string title = from == "/dev/null" ? to + " (new file)"
                      : to == "/dev/null" ? from + " (removed)"
                                          : from + " &rarr; " + to;
  std::string html = "<table class=\"wsdiff\">\n<thead><tr><th colspan=\"3\">" + title +
                     " <span class=\"wsdiff-count-add\">+" + std::to_string(added) +
                     "</span> <span class=\"wsdiff-count-del\">&minus;" + std::to_string(removed) +
                     "</span></th></tr></thead>\n<tbody>\n";
  if (rows.empty()) rows = "<tr class=\"wsdiff-note\"><td></td><td></td><td class=\"wsdiff-code\">(no change)</td></tr>\n";
  return html + rows + "</tbody>\n</table>\n";
}

int diff(const fs::path& root, const std::string& from, const std::string& to, const fs::path& out_file) {
  for (const std::string& dir : {from, to})
    if (!fs::is_directory(root / dir)) fail(root.string() + "/" + dir + " is not a directory");
  std::vector<std::string> names = step_sources(root / from);
  for (const std::string& name : step_sources(root / to))
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  std::string html = "<div class=\"wsdiff-files\">\n";
  for (const std::string& name : names) {
    const bool in_from = fs::exists(root / from / name);
    const bool in_to = fs::exists(root / to / name);
    const std::string a = in_from ? from + "/" + name : "/dev/null";
    const std::string b = in_to ? to + "/" + name : "/dev/null";
    auto [text, status] = capture({"diff", "-u", "-N", "--label", a, "--label", b,
                                   (root / from / name).string(), (root / to / name).string()});
    if (status > 1) fail("diff " + a + " " + b + " failed");
    html += diff_table(a, b, text);
  }
  html += "</div>\n";
  const fs::path tmp = out_file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << html;
    if (!out) fail("cannot write " + tmp.string());
  }
  fs::rename(tmp, out_file);
  return 0;
}

int usage(const std::string& message) {
  std::fprintf(stderr,
               "%s: %s\n"
               "usage: %s filter --root DIR --steps STEP,... [--diagrams DIR] [--mode docs|view] [--] FILE\n"
               "       %s diff --root DIR --from STEP --to STEP --out FILE.html\n"
               "       %s relink --root DIR --steps STEP,... --html DIR\n"
               "       %s symbols --root DIR --steps STEP,...\n",
               program, message.c_str(), program, program, program, program);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("say filter or diff");
  const std::string command = argv[1];
  std::map<std::string, std::string> options;
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      files.insert(files.end(), argv + i + 1, argv + argc);
      break;
    }
    if (arg.starts_with("--")) {
      if (i + 1 == argc) return usage(arg + " needs a value");
      options[arg.substr(2)] = argv[++i];
    } else {
      files.push_back(arg);
    }
  }
  if (!options.contains("root")) return usage("--root is missing");
  const fs::path root = fs::absolute(options["root"]).lexically_normal();

  if (command == "filter") {
    if (files.size() != 1) return usage("filter takes one FILE");
    Site site{root, options.contains("diagrams") ? fs::path(options["diagrams"]) : root / "docs/diagrams", {}};
    for (const std::string& dir : split(options["steps"], ','))
      if (int n = step_number(dir); n != 0) site.steps[n] = dir;
    const std::string mode = options.contains("mode") ? options["mode"] : "docs";
    if (mode != "docs" && mode != "view") return usage("--mode is docs or view");
    return filter(site, files[0], mode == "view");
  }
  if (command == "symbols") {  // what chapters can link to: one line per name
    Site site{root, root / "docs/diagrams", {}};
    for (const std::string& dir : split(options["steps"], ','))
      if (int n = step_number(dir); n != 0) site.steps[n] = dir;
    for (const auto& [n, list] : symbols(site))
      for (const Symbol& s : list)
        std::printf("%s::%s%s\n", s.scope.c_str(), s.name.c_str(),
                    s.function ? "()" : s.type ? " (type)" : "");
    return 0;
  }
  if (command == "relink") {
    if (!options.contains("html")) return usage("--html is missing");
    Site site{root, root / "docs/diagrams", {}};
    for (const std::string& dir : split(options["steps"], ','))
      if (int n = step_number(dir); n != 0) site.steps[n] = dir;
    return relink(site, options["html"]);
  }
  if (command == "diff") {
    for (const char* needed : {"from", "to", "out"})
      if (!options.contains(needed)) return usage(std::string("--") + needed + " is missing");
    return diff(root, options["from"], options["to"], options["out"]);
  }
  return usage("unknown command " + command);
}
