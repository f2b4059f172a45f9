# One source file of step N as the learner's starting point: `./workshop start N` (cmd_start in
# ../workshop) runs it on every .cpp and .hpp of step N but a new header (copied as it is: the
# interface the new code is written against). POSIX awk (Debian's mawk).
#
# Input: the chapter of step N (its .md files: where each snippet region of the source is shown),
# then, on stdin, the file as `diff` labels it against step N-1's: every line prefixed with " "
# (both steps), "-" (step N-1 only) or "+" (step N only). Step N-1's program name is already
# step N's in it (renaming is not the lesson).
#
# Output, on stdout, the file with the code step N adds taken out:
#  - Step N-1's code stays as it was, so the starter does what step N-1 does: graded as step N,
#    it misses step N's rows and meets the earlier ones. Where step N changes it, it stays as
#    step N-1 wrote it, under "TODO(step N): step N changes the line below".
#  - Step N's comments and blank lines come in, and its #include <...> lines. The code step N
#    adds goes; "TODO(step N)" marks the place, with the chapter's section to read: the one that
#    shows the snippet region (//! [name]) the place is in.
#  - A function all new in step N (every line of it, and a name step N-1 does not define: the
#    caller passes step N-1's names) keeps its signature and its comments, and its body fails at
#    run time: "PROGRAM: NAME() is not written yet: TODO(step N), read ...", exit status 125.
#    Nothing calls it: its call sites are step N's code. A type or a constant all new in step N
#    (struct, class, enum, union; constexpr or const at namespace scope) comes whole: the
#    signatures may need it.
#  - namespace lines and #include "..." of the workshop's own headers stay in a new file; in a
#    file step N-1 has they are code (a new header may declare what step N-1 defines otherwise).
#  - With a function not written yet in the file, two pragmas after the last #include keep
#    -Werror from refusing it: never called, its parameters unused.
#
# Variables (-v): step (N), program (step N's folder and program name), file (its name in the
# folder), new_file (1: step N-1 has no such file), old_names (" NAME NAME ... ": the functions,
# types and constants step N-1 defines). With mode=names, reads plain source files instead and
# prints the names of the functions, types and constants they define.

FILENAME ~ /\.md$/ {
  if ($0 ~ /^```/) fenced = !fenced
  if (!fenced && $0 ~ /^#+ /) {
    heading = $0
    sub(/^#+ /, "", heading)
  }
  if (match($0, /<!-- snippet: [^ ]+ -->/)) {
    key = substr($0, RSTART + 14, RLENGTH - 18)
    if (!(key in section)) {
      section[key] = heading
      chapter[key] = FILENAME
    }
  }
  next
}

mode == "names" { n++; tag[n] = " "; text[n] = $0; next }
{ n++; tag[n] = substr($0, 1, 1); text[n] = substr($0, 2) }

END {
  if (mode == "names") {
    find_definitions()
    for (d = 1; d <= ndefs; d++) print name[d]
    exit
  }
  slide()
  find_definitions()
  for (d = 1; d <= ndefs; d++)
    if (all_new(d) && !defined_before(name[d])) {
      if (kind[d] == "function") stub_at[first[d]] = d
      else kept_at[first[d]] = d
      for (i = first[d]; i <= last[d]; i++) inside[i] = 1
    }
  write_starter()
  print_output()
}

# --- reading the diff ----------------------------------------------------------------------------

# diff may pair a common line with the wrong one of two equal lines: the "}" that ends the
# function above with the new function's own "}", the "};" of a struct step N extends with that
# of a new struct after it. Every line of the run of "+" lines before it is new either way, so
# the common line moves up to the first equal line of the run: a run that begins with it (as
# git's diff slides), or a "}" or "};" in column 0 anywhere in it. Then a new function or type
# is "+" from its first line to its last.
function slide(   i, j, m) {
  for (i = 1; i <= n; i++) {
    if (tag[i] != "+") continue
    for (j = i; j < n && tag[j + 1] == "+"; j++) ;
    if (j == n || tag[j + 1] != " ") {
      i = j
      continue
    }
    for (m = i; m <= j && text[m] != text[j + 1]; m++) ;
    if (m <= j && (m == i || text[m] ~ /^[}]/)) {
      tag[m] = " "
      tag[j + 1] = "+"
      i = m  # the run from m + 1 on may move again
    } else {
      i = j
    }
  }
}

# Does step N-1 define any of `names` (space-separated)?
function defined_before(names,   k, count, each) {
  count = split(names, each, " ")
  for (k = 1; k <= count; k++)
    if (index(old_names, " " each[k] " ")) return 1
  return 0
}

# Every line of definition d is new in step N.
function all_new(d,   i) {
  for (i = first[d]; i <= last[d]; i++)
    if (tag[i] != "+") return 0
  return 1
}

# --- step N's functions and types ------------------------------------------------------------------

# The top-level definitions of step N's side of the file (every line not "-"), as the workshop
# writes them: a function or type starts in column 0 and ends with the next "}" or "};" there, a
# constant ends with the first line that ends with ";". For each: first[d], last[d] (line
# numbers), name[d] (a constant's may be several: "a b"), kind[d]; for a function, opening[d],
# the line of its body's "{", and brace[d], the column of that "{".
function find_definitions(   i, j, t) {
  for (i = 1; i <= n; i++) {
    t = text[i]
    if (tag[i] == "-" || t !~ /^[A-Za-z_[~]/ || t ~ /^(namespace|using|typedef|static_assert)([^A-Za-z0-9_]|$)/) continue
    if (t ~ /^(struct|class|enum|union) / && t ~ /[}];[ \t]*(\/\/.*)?$/) {
      record(i, i, "type", t)  # on one line: struct Mount { ... };
    } else if (t ~ /^(struct|class|enum|union) / && t ~ /[{]$/) {
      j = next_line(i, "^[}];")
      if (j) {
        record(i, j, "type", t)
        i = j
      }
    } else if (signature(i)) {
      j = brace_closes(text[sig_line], sig_col) ? sig_line : next_line(sig_line, "^[}]")
      if (j) {
        record(i, j, "function", sig_text)
        opening[ndefs] = sig_line
        brace[ndefs] = sig_col
        i = j
      }
    } else if (t ~ /^(static |inline )*(constexpr|const) /) {
      j = t ~ /;[ \t]*(\/\/.*)?$/ ? i : next_line(i, ";[ \t]*(//.*)?$")
      if (j) {
        record(i, j, "constant", t)
        i = j
      }
    }
  }
}

function record(from, to, what, head,   words) {
  ndefs++
  first[ndefs] = from
  last[ndefs] = to
  kind[ndefs] = what
  if (what == "type") {
    sub(/^enum class /, "enum ", head)
    split(head, words, /[ :{]+/)
    name[ndefs] = words[2]
  } else if (what == "constant") {  # every NAME followed by "=", "[" or "{": a = 1, b = 2
    name[ndefs] = ""
    while (match(head, /[A-Za-z_][A-Za-z0-9_]*[ \t]*[=[{]/)) {
      words[1] = substr(head, RSTART, RLENGTH)
      sub(/[ \t]*[=[{]$/, "", words[1])
      name[ndefs] = name[ndefs] (name[ndefs] == "" ? "" : " ") words[1]
      head = substr(head, RSTART + RLENGTH)
    }
  } else {
    sub(/[ \t]+$/, "", head)  # the text before the parameters: its last word is the name
    sub(/.*[ *&]/, "", head)
    name[ndefs] = head
  }
}

# The first line after i, on step N's side, that matches `pattern`; 0 when there is none.
function next_line(i, pattern) {
  for (i++; i <= n; i++)
    if (tag[i] != "-" && text[i] ~ pattern) return i
  return 0
}

# Does line i start a function definition? Reads on until the body's "{" outside parentheses:
# a ";" or a blank line first, no "(" before it, or an "=" (an initializer) say no. Sets
# sig_line and sig_col (where that "{" is) and sig_text (what comes before the first "(").
function signature(i,   depth, c, k, t, quote, before) {
  depth = 0
  sig_text = before = ""
  for (; i <= n; i++) {
    if (tag[i] == "-") continue
    t = text[i]
    if (blank(t)) return 0
    quote = ""
    for (k = 1; k <= length(t); k++) {
      c = substr(t, k, 1)
      if (quote != "") {
        if (c == "\\") k++
        else if (c == quote) quote = ""
      } else if (c == "\"" || c == "'") {
        quote = c
      } else if (c == "/" && substr(t, k + 1, 1) == "/") {
        break
      } else if (c == "(") {
        if (depth++ == 0 && sig_text == "") sig_text = before substr(t, 1, k - 1)
      } else if (c == ")") {
        depth--
      } else if (depth == 0 && (c == ";" || c == "=")) {
        return 0
      } else if (depth == 0 && c == "{") {
        sig_line = i
        sig_col = k
        return sig_text != ""
      }
    }
    if (sig_text == "") before = before t " "
  }
  return 0
}

# Does the "{" at column `col` of `t` close on the same line (a one-line function)?
function brace_closes(t, col,   depth, k, c) {
  depth = 0
  for (k = col; k <= length(t); k++) {
    c = substr(t, k, 1)
    if (c == "{") depth++
    else if (c == "}" && --depth == 0) return 1
  }
  return 0
}

# --- writing the starter ---------------------------------------------------------------------------

function write_starter(   i) {
  for (i = 1; i <= n; i++) {
    if (tag[i] != " ") {
      i = write_hunk(i)
    } else {
      follow_region(text[i])
      emit(text[i])
      marked = 0
    }
  }
}

# The lines from i to the next common line: what step N changes there. Returns the hunk's last.
# Step N-1's code that step N changes goes, under a TODO, where step N's code line most like its
# first line is (the same start: "int parent(", "pid_t pid = "); step N's lines before that
# line come first, the rest after.
function write_hunk(i,   h, j, old_code, new_code, first_old, anchor, best, length_now) {
  for (h = i; h < n && tag[h + 1] != " "; h++) ;
  for (j = i; j <= h; j++) {
    if (tag[j] == "-" && code(text[j]) && !old_code++) first_old = text[j]
    if (tag[j] == "+" && code(text[j]) && !inside[j]) new_code++
  }
  if (!old_code) {
    for (j = i; j <= h; j++) j = write_line(j)
    return h
  }
  anchor = h + 1
  best = -1
  for (j = i; j <= h; j++)
    if (tag[j] == "+" && code(text[j]) && !inside[j] && (length_now = same_start(text[j], first_old)) > best) {
      anchor = j
      best = length_now
    }
  for (j = i; j < anchor; j++)
    if (tag[j] == "+") j = write_line(j)
  for (j = i; j <= h; j++) {
    if (tag[j] != "-" || comment(text[j]) || blank(text[j])) continue
    if (code(text[j]) && !marked) emit(todo(text[j], "step " step (new_code ? " changes " : " removes ") \
                                             (old_code == 1 ? "the line below" : "the " old_code " lines below") ": "))
    emit(text[j])  # step N-1's code stays
  }
  for (j = anchor; j <= h; j++)
    if (tag[j] == "+") j = write_line(j)
  return h
}

# How many characters two lines have in common at their start, indentation aside.
function same_start(a, b,   k) {
  sub(/^[ \t]+/, "", a)
  sub(/^[ \t]+/, "", b)
  for (k = 0; k < length(a) && substr(a, k + 1, 1) == substr(b, k + 1, 1); k++) ;
  return k
}

# Line i of a hunk; returns the last line it wrote (a definition's).
function write_line(i,   t, d) {
  t = text[i]
  if (tag[i] == "-") {
    if (t ~ /^#/) emit(t)  # an #include step N no longer needs: step N-1's code may
    return i
  }
  follow_region(t)
  if (i in stub_at || i in kept_at) marked = 0
  if (i in stub_at) return write_stub(stub_at[i])
  if (i in kept_at) {
    for (d = kept_at[i]; i <= last[d]; i++) emit(text[i])
    return last[d]
  }
  if (comment(t) || t ~ /^#/ && (t !~ /^#include "/ || new_file) || new_file && t ~ /^(namespace |[}]  \/\/ namespace)/) {
    emit(t)
    marked = 0
  } else if (blank(t)) {
    emit(t)
  } else if (!marked) {  # code step N adds: taken out, a TODO where it was
    emit(todo(t, ""))
  }
  return i
}

# A function all new in step N: its signature and comments, and a body that fails.
function write_stub(d,   i, message) {
  for (i = first[d]; i < opening[d]; i++) emit(text[i])
  emit(opening[d] == last[d] ? substr(text[i], 1, brace[d]) : text[i])
  for (i++; i < last[d]; i++)
    if (comment(text[i])) emit("  " substr(text[i], index(text[i], "//")))  # at the body's indent
  message = program ": " name[d] "() is not written yet: TODO(step " step "), read " reading()
  gsub(/\\/, "\\\\", message)
  gsub(/"/, "\\\"", message)
  emit("  // TODO(step " step "): write " name[d] "() here, in place of the two lines below.")
  emit("  std::fputs(\"" message "\\n\", stderr);")
  emit("  std::exit(125);")
  emit("}")
  stubs++
  return last[d]
}

# "TODO(step N): WHAT read CHAPTER, section ...", indented as `t`.
function todo(t, what) {
  match(t, /^[ \t]*/)
  marked = 1
  return substr(t, 1, RLENGTH) "// TODO(step " step "): " what "read " reading() "."
}

# The chapter's section that shows the region we are in, or the chapter.
function reading(   key) {
  key = program "/" file "#" region
  if (region != "" && key in section) return chapter[key] ", section \"" section[key] "\", where it shows " region
  return program "/README.md"
}

# A line "//! [NAME]" opens the snippet region NAME, the next one closes it.
function follow_region(t,   r) {
  if (!region_marker(t)) return
  r = t
  sub(/^[ \t]*\/\/! \[/, "", r)
  sub(/\].*/, "", r)
  region = region == r ? "" : r
}

function comment(t) { return t ~ /^[ \t]*\/\// }
function blank(t) { return t ~ /^[ \t]*$/ }
function code(t) { return !comment(t) && !blank(t) && t !~ /^#/ }
function region_marker(t) { return t ~ /^[ \t]*\/\/! \[/ }

# Adds a line to the output; blank lines one at a time. The pragmas go after the last #include
# above the code (one further down, inside an initializer, includes data).
function emit(t) {
  if (blank(t) && (nout == 0 || blank(out[nout]))) return
  out[++nout] = t
  if (t ~ /^#include/ && !code_seen) last_include = nout
  if (code(t)) code_seen = 1
}

# The output, with the stubs' pragmas (and the headers they call) after the last #include.
function print_output(   i, has) {
  for (i = 1; i <= nout; i++) has[out[i]] = 1
  for (i = 0; i <= nout; i++) {
    if (i) print out[i]
    if (i != last_include || !stubs) continue
    if (!("#include <cstdio>" in has)) print "#include <cstdio>"
    if (!("#include <cstdlib>" in has)) print "#include <cstdlib>"
    print ""
    print "// A function not written yet is never called and ignores its parameters: -Werror refuses both."
    print "// TODO(step " step "): delete these two lines once every function here is written."
    print "#pragma GCC diagnostic ignored \"-Wunused-function\""
    print "#pragma GCC diagnostic ignored \"-Wunused-parameter\""
  }
}
