// Attacks on step 5 from inside the container that need step 5 itself, or its options (suites
// named Step5...: step 5 and later). Each tries the attack for real, most with the probe
// (tests/probe/probe.cpp); it passes only when the attack fails. The attacks that can show the
// "no" of earlier steps without harm run at every step: step5_rows.cpp, step5_crossing.cpp.
// docs/pitfalls.md, "Attacks from inside, and the protections that stop them", says which CVE
// each one answers.
#include "harness.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

using namespace workshop;
namespace fs = std::filesystem;

namespace {

// The content and the time of the last change of a file: equal, it was not written to (a write
// of the same bytes changes the time).
std::string content_and_time(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(std::hash<std::string>{}(read_file(path))) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

// A host process is neither listed (in the container's /proc, or in the host's through the old
// root, as in step 4) nor signalled.
TEST(Step5Attacks, HostProcessesAreInvisibleAndUnkillable) {
  REQUIRE_ROOT();
  const pid_t host = fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    for (;;) pause();
  }
  const std::string pid = std::to_string(host);
  const Result r = shell(only_in_namespaces() + "for p in /proc/" + pid + " /.pivot_root/proc/" + pid +
                         "; do [ -e $p ] && echo seen; done; kill -0 " + pid +
                         " && echo reached; kill -9 " + pid + " && echo killed; true");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(is_alive(host)) << "the host process died" << r;
  for (const char* broken : {"seen", "reached", "killed"}) EXPECT_FALSE(has_line(r.out, broken)) << broken << r;
  kill(host, SIGKILL);
  waitpid(host, nullptr, 0);
}

// The container cannot change its own limits: no cgroup file system to write to, none to mount.
// Read from the host side, pids.max and the memory limit are still what --pids and --memory said.
TEST(Step5Attacks, CgroupLimitsHoldAgainstTheContainer) {
  REQUIRE_ROOT();
  const std::string attack = only_in_namespaces() +
      "mount -t cgroup2 none /mnt && echo mounted2; mount -t cgroup -o pids none /mnt && echo mounted1; "
      "for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max; do echo max > $f && echo wrote; done; "
      "echo 1 > /sys/fs/cgroup/cgroup.procs && echo moved; echo attempted; exec sleep 1000";
  Running runtime = start(container_args({"sh", "-c", attack}, {"--pids", "32", "--memory", "64m"}));
  ASSERT_TRUE(runtime.wait_for_output("attempted")) << "the container did not start";
  const pid_t sleeper = runtime.find_process("sleep 1000");
  ASSERT_GT(sleeper, 0);
  // The host's view of the container's cgroup.
  const auto dirs = cgroup_dirs_of(std::to_string(sleeper));
  const std::string pids_max = read_file(dirs.at("pids") + "/pids.max");
  const std::string memory_max = read_file(dirs.at("memory") + (cgroup_v2() ? "/memory.max" : "/memory.limit_in_bytes"));
  kill(sleeper, SIGKILL);
  const Result r = runtime.wait();
  for (const char* broken : {"mounted2", "mounted1", "wrote", "moved"}) EXPECT_FALSE(has_line(r.out, broken)) << broken << r;
  EXPECT_EQ(pids_max, "32\n") << r;
  EXPECT_EQ(memory_max, "67108864\n") << r;
}

// docker's default seccomp profile, call by call: what it refuses fails with EPERM (clone3 with
// ENOSYS, so that libc falls back to clone, whose flags the filter reads), a call through the x32
// ABI kills the caller, and ordinary calls still work. The probe makes each call so that it
// would harm nothing if it worked; most would work without the filter, even for a root whose
// capabilities are cut (a user namespace, keyctl, userfaultfd, io_uring, AF_VSOCK, open_tree).
TEST(Step5Attacks, SeccompRefusesWhatDockerRefuses) {
  REQUIRE_ROOT();
  const ProbeRootfs probe;
  const Result r = shell(only_in_namespaces() + probe.probe() + " calls", {}, probe.options);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out,
            "unshare-newuser EPERM\nsetns-newuser EPERM\nclone-newuser EPERM\nclone3 ENOSYS\nkeyctl EPERM\n"
            "add_key EPERM\nrequest_key EPERM\nbpf EPERM\nperf_event_open EPERM\nuserfaultfd EPERM\n"
            "io_uring_setup EPERM\nkexec_load EPERM\ninit_module EPERM\nopen_by_handle_at EPERM\nmount EPERM\n"
            "open_tree EPERM\npersonality-read-implies-exec EPERM\nsocket-vsock EPERM\nsocket-alg EPERM\n"
            "x32-getpid SIGSYS\nfork OK\nsocket-inet OK\npersonality-query OK\n")
      << r;
}

// A volume's target in the rootfs is a symlink through /proc/self/fd/N: resolved by the runtime
// as a host path, with all its privileges, it leads to a directory the runtime holds open, and
// up from there to the host's /, where the runtime would make /etc/NEWDIR and mount onto it.
// Resolved inside the root without magic links, it is refused (125), whichever N.
TEST(Step5Attacks, VolumeTargetThroughAMagicLinkIsRefused) {
  REQUIRE_ROOT();
  const TempDir copy, data;
  copy_rootfs(copy.path);
  const std::string name = unique_name("made-by-the-runtime");
  for (int fd = 3; fd <= 8; ++fd) {
    const std::string link = "/d" + std::to_string(fd);
    fs::create_directory_symlink("/proc/self/fd/" + std::to_string(fd) + "/../../..", copy.path + link);
    const Result r = container({"true"}, {}, {"--rootfs", copy.path, "-v", data.path + ":" + link + "/etc/" + name});
    EXPECT_RUNTIME_ERROR(r, 125);
  }
  for (const std::string& dir : {std::string("/etc/"), std::string("/"), std::string("/tmp/etc/"), data.path + "/etc/",
                                  copy.path + "/etc/"}) {
    std::error_code ec;
    EXPECT_FALSE(fs::exists(dir + name)) << "the runtime made " << dir + name;
    fs::remove(dir + name, ec);
  }
}

// Writing past --tmpfs-size, in `/` (the overlay's upper layer) and in /tmp, stops there with
// "No space left on device"; nothing is OOM-killed and the container carries on. Without
// --tmpfs-size, a quarter of --memory (64m: 16 MiB) holds the same way.
TEST(Step5Attacks, WritableLayerAndTmpAreBounded) {
  REQUIRE_ROOT();
  for (const auto& [options, mebibytes] : {std::pair{std::vector<std::string>{"--tmpfs-size", "8m"}, 8},
                                           std::pair{std::vector<std::string>{"--memory", "64m"}, 16}}) {
    const std::string count = std::to_string(mebibytes + 8);
    const Result r = shell(only_in_namespaces() + "for f in /big /tmp/big; do dd if=/dev/zero of=$f bs=1M count=" + count +
                               " 2>&1 | grep -o 'No space left on device'; echo $f $(( $(stat -c %s $f) / 1048576 )); done",
                           {}, options);
    EXPECT_EQ(r.status, 0) << "the container carries on" << r;
    EXPECT_EQ(r.err, "") << "nothing was OOM-killed" << r;
    const auto out = lines(r.out);
    ASSERT_EQ(out.size(), 4u) << r;
    for (size_t i : {0u, 2u}) EXPECT_EQ(out[i], "No space left on device") << r;
    for (const auto& [i, file] : {std::pair{1u, "/big "}, std::pair{3u, "/tmp/big "}}) {
      ASSERT_TRUE(out[i].starts_with(file)) << r;
      EXPECT_LE(std::stoi(out[i].substr(out[i].find(' ') + 1)), mebibytes) << file << "MiB written" << r;
    }
  }
}

// PID 1 asks to be traced by its parent, the runtime (PTRACE_TRACEME): each signal it gets then
// stops it and is reported to the runtime's waitpid as a stop, not an exit. A runtime fooled by
// it reports a wrong exit status, or removes the cgroup of a container that still runs. Here PID
// 1 gets SIGCHLD (its child exits), then SIGTERM forwarded by the runtime: it exits with 42.
TEST(Step5Attacks, Pid1ThatTracesItselfDoesNotFoolTheRuntime) {
  REQUIRE_ROOT();
  const ProbeRootfs probe;
  Running runtime = start(container_args({probe.probe(), "traceme"}, probe.options));
  ASSERT_TRUE(runtime.wait_for_output("ready")) << "the probe did not start";
  const pid_t pid1 = runtime.find_process(probe.probe() + " traceme");
  const auto cgroups = cgroup_dirs_of(std::to_string(pid1));
  runtime.signal(SIGTERM);
  const Result r = runtime.wait(10);
  ASSERT_TRUE(has_line(r.out, "traceme OK")) << "PID 1 could not ask to be traced: nothing was tried" << r;
  EXPECT_EQ(r.status, 42) << "COMMAND's exit status" << r;
  EXPECT_EQ(r.err, "") << r;
  EXPECT_FALSE(cgroups.empty()) << r;
  for (const auto& [controller, dir] : cgroups) EXPECT_FALSE(fs::exists(dir)) << "the cgroup is left: " << dir << r;
}

// `child` typed by hand would set up mounts in the caller's own namespaces and pivot its root.
// The runtime starts it as PID 1 of a new PID namespace, with its socket on fd 3: a caller who
// sets step 1-4's marker, or brings a socket, or runs it as PID 1, has not both, and is refused.
// (Run in a mount namespace of the test's own, whose mount table must not change.)
TEST(Step5Attacks, ChildByHandIsRefused) {
  REQUIRE_ROOT();
  int socket[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socket), 0);
  const std::vector<std::string> child{"child", "sh", "-c", "echo ran"};
  const Options callers[] = {
      {.env = {"WORKSHOP_CHILD=1"}, .shared_root = true},
      {.env = {"WORKSHOP_CHILD=1"}, .shared_root = true, .open_fds = {{3, socket[1]}}},
      {.shared_root = true, .wrapper = {"/usr/bin/unshare", "--pid", "--fork"}},
  };
  for (const Options& caller : callers) {
    const Result r = run(child, caller);
    EXPECT_RUNTIME_ERROR(r, 125);  // which also says: "ran" was not printed
    EXPECT_EQ(mount_table(r.mounts_after), mount_table(r.mounts_before)) << "the caller's mounts changed" << r;
  }
  close(socket[0]);
  close(socket[1]);
}

// runc's CVE-2019-5736: a container wrote through /proc/PID/exe of a runc process that had
// entered it, and so replaced runc on the host. Step 5's runtime never enters the container, and
// its processes are in another PID namespace: every /proc/PID/exe the container sees is a file of
// its own. (Were the runtime's visible, the kernel would still refuse to open it: /proc/PID/exe
// opens only for a process that may ptrace PID, and the container lacks the runtime's
// capabilities.) The probe holds each one and writes to it, also after that program exits; the
// runtime's file on the host is unchanged, not even written with its own bytes.
TEST(Step5Attacks, RuntimeBinaryCannotBeOverwritten) {
  REQUIRE_ROOT();
  const ProbeRootfs probe;
  const std::string before = content_and_time(binary());
  const Result r = shell(only_in_namespaces() + probe.probe() + " exe; exit", {}, probe.options);  // sh stays PID 1
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(r.out.starts_with("holding ") && !r.out.starts_with("holding 0\n")) << "no /proc/PID/exe was tried" << r;
  EXPECT_EQ(r.out.find("wrote"), std::string::npos) << r;
  EXPECT_EQ(content_and_time(binary()), before) << "the runtime's file was written" << r;
}
