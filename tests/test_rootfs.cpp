// Matrix rows, every step: `/` is the rootfs, `/proc` is the container's own, the old root is
// gone (before, a host file stays reachable: at its own path where `/` is the host's, at
// /.pivot_root in the workshop's steps 3 and 4).
// Step3Rootfs: what --rootfs itself promises, from step 3 on.
#include "harness.hpp"

#include <algorithm>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace workshop;

namespace {

// A file and a program made on the host for the test, at paths the rootfs does not have.
struct HostFiles {
  TempDir dir;
  std::string file = dir.path + "/host-file";
  std::string content = unique_name("host-content") + "\n";
  std::string program = dir.path + "/host-program";

  HostFiles() {
    std::ofstream(file) << content;
    std::ofstream(program) << "#!/bin/sh\necho host-program-ran\n";
    chmod(program.c_str(), 0755);
  }
};

// The numeric entries of the container's /proc: the PIDs it can see.
std::vector<std::string> visible_pids() {
  const Result r = shell("ls /proc");
  EXPECT_EQ(r.status, 0) << r;
  std::vector<std::string> pids;
  for (const auto& entry : lines(r.out))
    if (!entry.empty() && entry.find_first_not_of("0123456789") == std::string::npos)
      pids.push_back(entry);
  return pids;
}

}  // namespace

TEST(Rootfs, RootIsTheRootfs) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = container({"cat", "/etc/os-release"});
  ASSERT_EQ(r.status, 0) << r;
  if (yes(row::rootfs)) {
    EXPECT_TRUE(has_line(r.out, "ID=workshop")) << "the rootfs's marker is at /etc" << r;
  } else {
    EXPECT_FALSE(has_line(r.out, "ID=workshop")) << r;
    EXPECT_EQ(r.out, read_file("/etc/os-release")) << "step " << step() << " sees the host's /"
                                                   << r;
  }
}

TEST(Rootfs, HostPathsAreNotThere) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const HostFiles host;
  const Result file = container({"cat", host.file});
  const Result program = container({host.program});
  if (yes(row::rootfs)) {
    EXPECT_NE(file.status, 0) << file;
    EXPECT_EQ(file.out, "") << "a host file is visible at its own path" << file;
    EXPECT_RUNTIME_ERROR(program, 127);
  } else {
    EXPECT_EQ(file.out, host.content) << "step " << step() << " sees the host's files" << file;
    EXPECT_EQ(program.status, 0) << program;
    EXPECT_EQ(program.out, "host-program-ran\n") << program;
  }
}

// The runtime started from a directory of the host's: inside, a relative path starts from the
// container's `/`, not from that directory, which stays outside the rootfs. (pivot_root moves
// the working directory only of processes that were at the old root itself.)
TEST(Rootfs, RelativePathsStayInside) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const HostFiles host;
  const Result r = shell("pwd; cat host-file", {.cwd = host.dir.path});
  if (yes(row::rootfs)) {
    EXPECT_EQ(r.out, "/\n") << "the host's " << host.file << " is reachable from the working directory" << r;
  } else {
    EXPECT_EQ(r.out, host.dir.path + "\n" + host.content) << "step " << step() << " starts where the runtime was" << r;
  }
}

// A rootfs with a file system mounted inside it (here a tmpfs on its /mnt, in a mount namespace
// of the test's own) is seen whole, as the host sees it, where `/` is a bind mount of the rootfs:
// the bind takes the submounts along (MS_REC). Where `/` is a throwaway layer above the rootfs
// (the row "the rootfs on disk is never changed"), the layer is the rootfs directory alone, as
// an image is: the submount is not in it.
TEST(Rootfs, SubmountsOfTheRootfs) {
  REQUIRE_ROOT();
  const Result r = container({"cat", "/mnt/marker"}, {.tmpfs_at = rootfs() + "/mnt"});
  if (!yes(row::rootfs) || yes(row::overlay)) {
    EXPECT_NE(r.out, "workshop-submount\n") << "step " << step() << ": `/` does not hold the rootfs's submounts" << r;
    return;
  }
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "workshop-submount\n") << "the tmpfs on " << rootfs() << "/mnt is not the container's /mnt" << r;
}

TEST(Proc, ListsOnlyTheContainersProcesses) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string test_pid = std::to_string(getpid());
  const auto pids = visible_pids();
  const bool sees_the_test = std::ranges::count(pids, test_pid) > 0;
  if (!yes(row::proc)) {
    EXPECT_TRUE(sees_the_test) << "step " << step() << " still has the host's /proc, where the "
                               << "test's own PID " << test_pid << " shows";
    return;
  }
  EXPECT_FALSE(sees_the_test) << "the host's process " << test_pid << " shows in /proc";
  EXPECT_EQ(std::ranges::count(pids, "1"), 1) << "PID 1 is in the container's /proc";
  EXPECT_LE(pids.size(), 3u) << "only the container's processes: " << testing::PrintToString(pids);
  const Result ps = container({"ps", "-o", "pid,comm"});
  EXPECT_EQ(ps.status, 0) << ps;
  EXPECT_LE(lines(ps.out).size(), 4u) << "`ps` lists only the container's processes" << ps;
  EXPECT_EQ(ps.out.find("workshop-tests"), std::string::npos) << ps;
}

// The row "the old root is gone", and its "no" in the workshop's steps: a host file is reachable
// at its own path where the host's / is the container's, and at /.pivot_root in steps 3-4.
TEST(OldRoot, HostFileReachableUntilStep5) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const HostFiles host;
  // No `2>/dev/null`: before step 5 /dev is the rootfs's own directory, and the redirection
  // would create a file there, on disk. The error messages go to stderr, unchecked.
  const Result r = shell("cat /.pivot_root" + host.file + " && echo via-pivot-root; " +
                         "cat " + host.file + " && echo via-own-path; true");
  ASSERT_EQ(r.status, 0) << r;
  std::string expected;
  if (!yes(row::rootfs)) expected = host.content + "via-own-path\n";
  if (yes(row::rootfs) && !yes(row::old_root)) expected = host.content + "via-pivot-root\n";
  EXPECT_EQ(r.out, expected) << "step " << step() << ": reachable "
                             << (!yes(row::rootfs)     ? "at its own path"
                                 : !yes(row::old_root) ? "through the old root at /.pivot_root"
                                                       : "nowhere")
                             << r;
}

// --- --rootfs, from step 3 on -----------------------------------------------------------------

TEST(Step3Rootfs, DefaultIsTheBuiltRootfs) {
  REQUIRE_ROOT();
  const Result r = run({"run", "cat", "/etc/os-release"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "ID=workshop")) << "without --rootfs: the workshop's rootfs" << r;
}

TEST(Step3Rootfs, RelativeDirIsFromTheWorkingDirectory) {
  REQUIRE_ROOT();
  const std::string relative = rootfs().substr(1);  // the harness runs the program in "/"
  const Result r = run({"run", "--rootfs", relative, "cat", "/etc/os-release"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "ID=workshop")) << r;
}

TEST(Step3Rootfs, StartsInRoot) {
  REQUIRE_ROOT();
  const Result r = container({"pwd"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "/\n") << r;
}

// `run --rootfs dir true` is refused: 125, one line naming the path and saying what to do.
static void expect_refused_rootfs(const std::string& dir, const Result& r) {
  EXPECT_RUNTIME_ERROR(r, 125);
  EXPECT_NE(r.err.find(dir), std::string::npos) << "the error names the path" << r;
  EXPECT_NE(r.err.find("--rootfs"), std::string::npos) << "and says what to do" << r;
}

static void expect_refused_rootfs(const std::string& dir) {
  expect_refused_rootfs(dir, run({"run", "--rootfs", dir, "true"}));
}

TEST(Step3Rootfs, MissingDirIs125) {
  REQUIRE_ROOT();
  expect_refused_rootfs("/nonexistent/" + unique_name("rootfs"));
}

TEST(Step3Rootfs, FileIsNotARootfs125) {
  REQUIRE_ROOT();
  const HostFiles host;
  expect_refused_rootfs(host.file);
}

// An empty directory: either refused as a rootfs (125, as above; step 3 finds no /proc to mount)
// or, by a runtime that makes what it needs (an overlay in step 5), searched in vain for
// COMMAND (127). Never a bare system-call error.
TEST(Step3Rootfs, EmptyDirIsRefusedClearly) {
  REQUIRE_ROOT();
  const TempDir empty;
  const Result r = run({"run", "--rootfs", empty.path, "true"});
  if (r.status == 127)
    EXPECT_RUNTIME_ERROR(r, 127);
  else
    expect_refused_rootfs(empty.path, r);
}

TEST(Step3Rootfs, ValueMissingIs125) {
  EXPECT_RUNTIME_ERROR(run({"run", "--rootfs"}), 125);
}

// A copy of the rootfs that no container ever ran on (no directory a runtime made in it) works:
// --rootfs takes any directory that holds a Linux userland.
TEST(Step3Rootfs, AFreshCopyWorks) {
  REQUIRE_ROOT();
  const TempDir copy;
  copy_rootfs(copy.path);
  const Result r = run({"run", "--rootfs", copy.path, "cat", "/etc/os-release"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "ID=workshop")) << r;
}

// Containers on the same rootfs at the same time (the old-root directory is shared).
TEST(Step3Rootfs, TwoContainersAtOnce) {
  REQUIRE_ROOT();
  Running first = start(container_args({"sleep", "1000"}));
  const pid_t sleeper = first.find_process("sleep 1000");
  ASSERT_GT(sleeper, 0) << "the first container's `sleep 1000` did not show up";
  const Result second = container({"cat", "/etc/os-release"});
  EXPECT_EQ(second.status, 0) << second;
  EXPECT_TRUE(has_line(second.out, "ID=workshop")) << second;
  kill(sleeper, SIGKILL);
  const Result r = first.wait();
  EXPECT_EQ(r.status, 137) << r;
}
