#!/usr/bin/env bash
# The learner's loop, tested (ctest -L starter; starter/CMakeLists.txt registers each case):
#   test.sh step N   `./workshop start N` makes a folder that builds on its own and, graded as
#                    step N, misses exactly the rows step N adds and meets the earlier ones; its
#                    TODOs name a chapter and a section that exist
#   test.sh refuses  `./workshop start` refuses a folder that exists, and bad arguments
#   test.sh watch    `./workshop grade 3 DIR --watch` grades again when a file is saved: a build
#                    error shows the compiler's error, step 3's own code turns the rows ✓, Ctrl-C ends it
# Needs WORKSHOP_BUILD (a built workshop, its rootfs included). Exit status 77: skipped (not root;
# under CI=true that fails instead).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${WORKSHOP_BUILD:?set WORKSHOP_BUILD to the workshop\'s build directory}
scratch=$build/starter-test/$1
rm -rf "$scratch"
mkdir -p "$scratch"

fail() { echo "FAILED: $*" >&2; exit 1; }
needs_root() {  # a skip outside CI; under CI=true a skip would hide a missing check
  [ "$(id -u)" = 0 ] && return
  [ "${CI:-}" != true ] || fail "grading needs root (CI=true: not skipped)"
  echo "skipped: grading needs root" >&2
  exit 77
}

# The rows of a report of the grader, "MARK<TAB>TITLE"; starter/rows.awk reads the format.
rows() { awk -f "$top/starter/rows.awk" "$1" | grep -v -E $'^(failed|summary)\t' || true; }

# The rows step K is graded on, as a grading that runs no case shows them: "?" (due, no case
# ran), "·" (a later step's), "✓" (a rule met without a case: the host left as it was).
due_rows() {
  local k=$1 program=$2
  GTEST_FILTER='-*' "$top/workshop" grade "$k" "$program" >"$scratch/due-$k" 2>&1 || true
  rows "$scratch/due-$k"
}

# What a starter of step N must show, graded as step N, row by row: ✗ where step N's cell is the
# first "yes", ✓ where step N-1's is already (and for a rule met without a case).
expected_rows() {
  local n=$1 program=$2
  if [ "$n" -gt 1 ]; then due_rows $((n - 1)) "$program"; fi >"$scratch/due-before"
  due_rows "$n" "$program" >"$scratch/due-now"
  awk -F'\t' -v n="$n" '
    FILENAME == ARGV[1] { before[$2] = $1; next }
    $1 == "?" { print ((n > 1 && before[$2] == "?") ? "✓" : "✗") "\t" $2 }
    $1 == "✓" { print "✓\t" $2 }
  ' "$scratch/due-before" "$scratch/due-now"
}

# The rows of REPORT that EXPECTED (expected_rows) names, as "MARK<TAB>TITLE".
graded_rows() {
  awk -F'\t' 'FILENAME == ARGV[1] { named[$2] = 1; next } $2 in named' "$1" <(rows "$2")
}

# Every TODO in DIR is step N's; what one says to read exists: the chapter, and its section.
check_todos() {
  local n=$1 dir=$2 line file section reads=0
  while IFS= read -r line; do
    [[ $line == *"TODO(step $n)"* ]] || fail "a TODO of another step: $line"
    [[ $line =~ read\ ([^ ,.\\]+\.md) ]] || continue  # "delete these two lines", "write f() here"
    reads=$((reads + 1))
    file=${BASH_REMATCH[1]}
    [ -f "$top/$file" ] || fail "a TODO names $file, which does not exist: $line"
    line=${line//\\\"/\"}  # the stubs' messages escape their quotes
    if [[ $line =~ section\ \"(.*)\",\ where\ it\ shows ]]; then
      section=${BASH_REMATCH[1]}
      grep -q -x -F -e "# $section" -e "## $section" -e "### $section" -e "#### $section" "$top/$file" ||
        fail "a TODO names the section \"$section\", which $file does not have: $line"
    fi
  done < <(grep -rh 'TODO(step' "$dir" --include='*.?pp')
  [ "$reads" -gt 0 ] || fail "$dir has no TODO that says what to read"
}

test_step() {
  local n=$1
  local dir=$scratch/my-step$n
  needs_root
  "$top/workshop" start "$n" "$dir" >/dev/null
  check_todos "$n" "$dir"
  # Builds on its own, and graded as step N...
  "$top/workshop" grade "$n" "$dir" >"$scratch/report" 2>&1 || true
  grep -q '^Grading ' "$scratch/report" || { cat "$scratch/report" >&2; fail "my-step$n was not graded"; }
  # ...misses exactly the rows step N adds.
  local program
  program=$(sed -n 's/^Grading \(.*\) as step .*/\1/p' "$scratch/report")
  expected_rows "$n" "$program" | sort >"$scratch/expected"
  graded_rows "$scratch/expected" "$scratch/report" | sort >"$scratch/graded"
  diff "$scratch/expected" "$scratch/graded" >"$scratch/diff" || {
    cat "$scratch/report" >&2
    echo "expected (<) and graded (>):" >&2
    cat "$scratch/diff" >&2
    fail "my-step$n graded as step $n does not miss exactly step $n's new rows"
  }
  # A function not written yet that runs (step 1's main()) says so: one line, exit status 125.
  local err status=0
  err=$("$program" run true 2>&1 >/dev/null) || status=$?
  if [[ $err == *"is not written yet"* ]]; then
    [ "$status" = 125 ] && [ "$(wc -l <<<"$err")" = 1 ] &&
      [[ $err =~ ^${program##*/}:\ [A-Za-z_:~]+\(\)\ is\ not\ written\ yet:\ TODO\(step\ $n\),\ read\  ]] ||
      fail "a function not written yet: exit status $status, says: $err"
    echo "$err"
  fi
  echo "my-step$n, graded as step $n, misses exactly:"
  grep -F "✗" "$scratch/graded" | cut -f2 | sed 's/^/  /'
  rm -rf "$scratch"
}

test_refuses() {
  mkdir "$scratch/there"
  local err status=0
  err=$("$top/workshop" start 3 "$scratch/there" 2>&1 >/dev/null) || status=$?
  [ "$status" = 1 ] || fail "start into an existing folder: exit status $status, not 1"
  [ "$(wc -l <<<"$err")" = 1 ] && [[ $err == *exists* ]] || fail "start into an existing folder says: $err"
  [ -z "$(ls -A "$scratch/there")" ] || fail "start wrote into an existing folder"
  for args in "" "6" "x" "3 $scratch/a $scratch/b"; do
    status=0
    # shellcheck disable=SC2086 # the words are the arguments
    err=$("$top/workshop" start $args 2>&1 >/dev/null) || status=$?
    [ "$status" = 1 ] && [ "$(wc -l <<<"$err")" = 1 ] && [[ $err == *usage* ]] ||
      fail "start $args: exit status $status, says: $err"
  done
  rm -rf "$scratch"
}

# Waits up to 120 s for `text` in the watch's output.
wait_for_output() {
  local text=$1 seconds=0
  until grep -q -F -e "$text" "$scratch/out"; do
    kill -0 "$watch" 2>/dev/null || { cat "$scratch/out" >&2; fail "the watch ended before it printed '$text'"; }
    [ $((seconds += 1)) -le 120 ] || { cat "$scratch/out" >&2; fail "no '$text' after 120 s"; }
    sleep 1
  done
}

test_watch() {
  needs_root
  local dir=$scratch/my-step3
  "$top/workshop" start 3 "$dir" >/dev/null
  set -m  # the watch in a process group of its own, as at a terminal, so that SIGINT reaches it
  GTEST_FILTER='Rootfs.*:Proc.*' "$top/workshop" grade 3 "$dir" --watch >"$scratch/out" 2>&1 &
  watch=$!
  set +m
  trap 'kill -KILL -$watch 2>/dev/null || true' EXIT
  wait_for_output "save a file to grade it again"
  grep -q -x -F '  ✗ / is the rootfs' "$scratch/out" || fail "the first grade has no ✗ for '/ is the rootfs'"

  echo 'this is not C++' >>"$dir/main.cpp"
  wait_for_output "does not build"
  grep -q 'main.cpp:.*error' "$scratch/out" || fail "the build error shows no compiler error"

  cp "$top/step3-rootfs/main.cpp" "$dir/main.cpp"  # the TODOs done: step 3's own code
  wait_for_output "✗ → ✓ / is the rootfs"
  wait_for_output "✗ → ✓ /proc is the container's own"
  [ "$(grep -c '^Grading ' "$scratch/out")" = 1 ] || fail "the whole report was printed again"

  kill -INT -"$watch"
  local seconds=0
  while kill -0 "$watch" 2>/dev/null; do
    [ $((seconds += 1)) -le 20 ] || fail "Ctrl-C did not end the watch in 20 s"
    sleep 1
  done
  ! pgrep -g "$watch" >/dev/null || fail "the watch left processes behind: $(pgrep -a -g "$watch")"
  trap - EXIT
  cat "$scratch/out"
  rm -rf "$scratch"
}

case $1 in
  step) test_step "$2" ;;
  refuses) test_refuses ;;
  watch) test_watch ;;
  *) fail "usage: test.sh step N | refuses | watch" ;;
esac
