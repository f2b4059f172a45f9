// Matrix rows, every step: a hostname of its own, PID 1, mounts of its own (also on a host whose
// "/" has shared propagation). Step 1's "no" cells are shown without touching the host: the
// container is found in the test's own namespaces, and nothing is set or mounted on the host.
#include "harness.hpp"

#include <linux/capability.h>
#include <unistd.h>

using namespace workshop;

namespace {

// A script line that prints the container's namespace of `kind`, e.g. "uts:[4026531838]".
std::string print_namespace(const std::string& kind) {
  return "readlink /proc/self/ns/" + kind;
}

// Runs `command` only in a container whose namespace of `kind` is not the test's own: a test
// never renames or mounts on the host, also when grading a runtime that isolates nothing.
std::string only_if_isolated(const std::string& kind, const std::string& command) {
  return "if [ \"$(readlink /proc/self/ns/" + kind + ")\" != \"" + own_namespace(kind) +
         "\" ]; then " + command + "; else echo 'not isolated: left the host alone' >&2; fi";
}

// The first line of the output is the container's namespace of `kind` (see print_namespace):
// the step's cell says whether it is a new one or the test's own.
void expect_namespace(const Result& r, const std::string& kind, bool own_from_this_step) {
  const auto out = lines(r.out);
  ASSERT_FALSE(out.empty()) << r;
  if (own_from_this_step)
    EXPECT_NE(out[0], own_namespace(kind)) << "step " << step() << " gives the container a "
                                           << kind << " namespace of its own" << r;
  else
    EXPECT_EQ(out[0], own_namespace(kind)) << "step " << step() << " shares the host's " << kind
                                           << " namespace (the matrix says no)" << r;
}

std::string host_hostname() {
  const std::string name = read_file("/proc/sys/kernel/hostname");
  return name.substr(0, name.find('\n'));
}

// Mounts a tmpfs whose source is `probe` on directory `dir`, or on `otherwise` where the
// container does not see `dir` (its own `/` is the rootfs), and prints "mounted" when the
// container sees it; only in a mount namespace other than the test's (see only_if_isolated).
std::string mount_probe(const std::string& probe, const std::string& dir, const std::string& otherwise) {
  return only_if_isolated("mnt", "d=" + dir + "; [ -d $d ] || d=" + otherwise + "; mount -t tmpfs " + probe +
                                     " $d && grep -q " + probe + " /proc/self/mountinfo && echo mounted");
}

bool mentions(const std::string& mountinfo, const std::string& probe) {
  return mountinfo.find(probe) != std::string::npos;
}

}  // namespace

// Where the row says "yes" the container has a UTS namespace of its own: root in it, where it
// may (with CAP_SYS_ADMIN: until step 5), changes the hostname inside; the runtime itself may name
// it too (step 5); either way the host's stays as it was.
TEST(Hostname, ChangeInsideLeavesHostAlone) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const std::string before = host_hostname();
  if (!yes(row::hostname)) {
    // The "no": the container is in the host's UTS namespace, so `hostname x` inside would
    // rename the host. Shown without doing it.
    const Result r = shell(print_namespace("uts") + "; hostname");
    ASSERT_EQ(r.status, 0) << r;
    expect_namespace(r, "uts", false);
    EXPECT_EQ(last_line(r.out), before) << r;
    return;
  }
  const std::string name = unique_name("ws");
  const Result r = shell(print_namespace("uts") + "; cat /proc/self/status; " +
                         only_if_isolated("uts", "hostname " + name + " || true") + "; hostname");
  expect_namespace(r, "uts", true);
  EXPECT_EQ(r.status, 0) << r;
  if (has_capability(r.out, CAP_SYS_ADMIN)) {
    EXPECT_EQ(last_line(r.out), name) << "root in the container could change the hostname inside" << r;
  }
  EXPECT_EQ(host_hostname(), before) << "the host's hostname changed" << r;
}

TEST(Pid1, ShellIsPid1) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell(print_namespace("pid") + "; echo $$");
  ASSERT_EQ(r.status, 0) << r;
  expect_namespace(r, "pid", yes(row::pid1));
  const std::string pid = last_line(r.out);
  if (yes(row::pid1))
    EXPECT_EQ(pid, "1") << "COMMAND is PID 1" << r;
  else
    EXPECT_NE(pid, "1") << "step " << step() << " runs COMMAND as an ordinary host process" << r;
}

// PID 1 of a PID namespace gets no signal it has no handler for from inside its namespace, not
// even SIGKILL: `kill -9 $$` in the container's shell does nothing. An ordinary process dies: 137.
TEST(Pid1, IgnoresSigkillFromInside) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const Result r = shell("kill -9 $$; echo still-here");
  if (yes(row::pid1)) {
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "still-here\n") << r;
  } else {
    EXPECT_EQ(r.status, 137) << "step " << step() << ": the shell is no PID 1, SIGKILL ends it" << r;
  }
}

// Where the row says "yes" the container has a mount namespace of its own: root in it, where it
// may (with CAP_SYS_ADMIN: until step 5), mounts something inside, and the host's mount table does
// not show it.
TEST(Mounts, MountInsideDoesNotShowOnHost) {
  REQUIRE_CONTAINER_PRIVILEGES();
  if (!yes(row::mounts)) {
    // The "no": the container shares the host's mount table. Shown without mounting anything;
    // SharedRootHost shows it with a mount, in a namespace of the test's own.
    const Result r = shell(print_namespace("mnt"));
    ASSERT_EQ(r.status, 0) << r;
    expect_namespace(r, "mnt", false);
    return;
  }
  const TempDir dir;
  const std::string probe = unique_name();
  const Result r = shell(print_namespace("mnt") + "; cat /proc/self/status; " + mount_probe(probe, dir.path, "/tmp"));
  expect_namespace(r, "mnt", true);
  if (has_capability(r.out, CAP_SYS_ADMIN)) {
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_TRUE(has_line(r.out, "mounted")) << "the container could mount " << probe << r;
  }
  EXPECT_FALSE(mentions(read_file("/proc/self/mountinfo"), probe))
      << "the container's mount " << probe << " shows on the host" << r;
}

// The same on a host whose mounts have shared propagation, as systemd sets them: the runtime runs
// in a mount namespace of the test's own whose "/" is rshared, with a tmpfs on the rootfs's /mnt
// shared too (a submount, as systemd's /run). Nothing mounted in the container, by root in it
// (steps 2-4) or by the runtime setting it up (from step 5 on: its root, /proc, /dev...), may
// come back to that namespace: a container that makes only "/" private, not its submounts
// (MS_REC), leaks the mount on /mnt; one that makes nothing private leaks every mount, and
// pivot_root fails with EINVAL (step 3).
TEST(Mounts, SharedRootHost) {
  REQUIRE_ROOT();
  const std::string submount = rootfs() + "/mnt";  // at /mnt where the rootfs is `/`
  const std::string probe = unique_name();
  const Result r = shell("cat /proc/self/status; " + mount_probe(probe, submount, "/mnt"),
                         {.shared_root = true, .tmpfs_at = submount});
  const auto leaked = added(mount_table(r.mounts_before), mount_table(r.mounts_after));
  if (!yes(row::mounts)) {
    // The "no": the mount lands in the caller's mount table (here the test's own namespace).
    EXPECT_TRUE(mentions(r.mounts_after, probe)) << "step " << step() << " mounts into the caller's table" << r;
    return;
  }
  ASSERT_NE(field(r.out, "CapEff"), "") << "the container did not run" << r;
  if (has_capability(r.out, CAP_SYS_ADMIN)) {
    EXPECT_TRUE(has_line(r.out, "mounted")) << "the container could mount " << probe << r;
  }
  EXPECT_TRUE(leaked.empty()) << "mounts made in the container reached the shared host: "
                              << testing::PrintToString(leaked) << r;
  EXPECT_FALSE(mentions(r.mounts_after, probe)) << r;
}
