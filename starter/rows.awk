# The grader's report (tests/grade.cpp, `./workshop grade`) read back: the one place that knows
# its format, for `./workshop grade STEP DIR --watch` and the starter's tests. POSIX awk.
#
#   awk -f rows.awk REPORT               one line per row: MARK<TAB>TITLE (✓ met, ✗ not met,
#                                        ? not checked, · a later step's row, and whatever other
#                                        mark the grader prints); then one per failed
#                                        case: failed<TAB>SUITE.CASE; then summary<TAB>LINE
#   awk -f rows.awk -v changes=1 BEFORE AFTER
#                                        what changed from one report to the next: the rows whose
#                                        mark changed, the cases that newly fail, the summary
#
# A row is a line indented by two spaces: its mark, its title, and perhaps a note in parentheses
# ("(step 5)"). Under it, "failed:" lists cases, comma-separated, over indented lines.

FNR == 1 { report++; listing = 0 }

/^  [^ ]/ {
  title = substr($0, 3 + length($1) + 1)
  sub(/ \([^()]*\)$/, "", title)
  mark[report, title] = $1
  titles[report, ++rows[report]] = title
  listing = 0
  next
}

/^      failed: / {
  sub(/^      failed: +/, "")
  add_cases()
  listing = 1
  next
}
listing && /^               [^ ]/ { add_cases(); next }
{ listing = 0 }
listing && /^ +[^ ]/ {
  count = split($0, cases, /[ ,]+/)
  for (k = 1; k <= count; k++)
    if (cases[k] != "") failed[report, cases[k]] = ++failures[report]
  next
}
{ listing = 0 }

/^(All |Not yet met|Not checked|Rows of later steps|Ahead of)/ { summary[report] = summary[report] $0 "\n" }

END {
  if (!changes) {
    for (k = 1; k <= rows[1]; k++) print mark[1, titles[1, k]] "\t" titles[1, k]
    for (key in failed) {
      split(key, part, SUBSEP)
      print "failed\t" part[2]
    }
    printf "%s", prefix_lines(summary[1], "summary\t")
    exit
  }
  for (k = 1; k <= rows[2]; k++) {
    title = titles[2, k]
    if (mark[1, title] != mark[2, title]) {
      print "  " (mark[1, title] == "" ? "new row:" : mark[1, title] " →") " " mark[2, title] " " title
      changed++
    }
  }
  for (key in failed) {
    split(key, part, SUBSEP)
    if (part[1] == 2 && !((1, part[2]) in failed)) {
      print "      newly failing: " part[2]
      changed++
    }
  }
  if (!changed) print "  no row changed"
  printf "%s", prefix_lines(summary[2], "")
}

function add_cases(   count, k, cases) {
  count = split($0, cases, /[ ,]+/)
  for (k = 1; k <= count; k++)
    if (cases[k] != "") failed[report, cases[k]] = 1
}

function prefix_lines(text, prefix,   out, line, count, k) {
  count = split(text, line, "\n")
  out = ""
  for (k = 1; k < count; k++) out = out prefix line[k] "\n"
  return out
}
