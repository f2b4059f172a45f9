// The oci tests: podman 4.3.1 runs the workshop's rootfs, imported as an image, through the OCI
// runtime under test (`podman --runtime PATH`). crun and runc pass them all: they are the
// reference a runtime of the workshop's is held to. Each case also checks, after it, that nothing
// is left behind (Oci::TearDown, podman.cpp): no container, process, cgroup, runtime state, mount.
#include "podman.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace workshop;
using namespace workshop::oci;

namespace {

// A shell doubling a string until the memory limit stops it.
const std::string memory_hog = "x=a; while :; do x=$x$x; done";

// Starts a pipeline of `stages` sleeps in a shell of its own, then prints how many processes the
// container holds: when a fork fails the forking shell gives up, the sleeps it started remain.
std::string fork_loop(int stages) {
  std::string pipeline = "sleep 5";
  for (int i = 1; i < stages; ++i) pipeline += " | sleep 5";
  return "sh -c '" + pipeline + "'; set -- /proc/[0-9]*; echo $#";
}

}  // namespace

// --- what the container is --------------------------------------------------------------------

TEST_F(Oci, HostnameOfItsOwnAndCommandIsPid1) {
  const Result r = run({"--hostname", "oci-box"}, {"sh", "-c", "hostname; echo $$"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "oci-box\n1\n") << r;
}

// `/` is the image: its marker is there, and a file of the host (the test's world) is not.
TEST_F(Oci, RootIsTheImage) {
  const TempDir host;
  const std::string host_file = host.path + "/host-file";
  std::ofstream(host_file) << "host\n";
  const Result r = run({}, {"sh", "-c", "grep ^ID= /etc/os-release; cat " + host_file});
  EXPECT_EQ(r.status, 1) << "cat finds no host file" << r;
  EXPECT_EQ(r.out, "ID=workshop\n") << r;
}

// podman's exit status is the command's; 127 and 126 when the runtime cannot start it (podman
// reads which from the runtime's error message). Killed by a signal: KillSendsSigkill.
TEST_F(Oci, ExitStatusIsTheCommands) {
  EXPECT_EQ(run({}, {"sh", "-c", "exit 3"}).status, 3);
  const Result missing = run({}, {"/no/such/program"});
  EXPECT_EQ(missing.status, 127) << missing;
  const Result not_executable = run({}, {"/etc/passwd"});
  EXPECT_EQ(not_executable.status, 126) << not_executable;
}

TEST_F(Oci, EnvironmentWorkdirAndUser) {
  const Result r = run({"-e", "GREETING=hello there", "-w", "/etc", "-u", "65534:65534"},
                       {"sh", "-c", "echo \"$GREETING\"; pwd; id -u; id -g"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "hello there\n/etc\n65534\n65534\n") << r;
}

// --- limits -----------------------------------------------------------------------------------

TEST_F(Oci, MemoryHogIsKilled) {
  const Result r = run({"--memory", "32m"}, {"sh", "-c", memory_hog});
  EXPECT_EQ(r.status, 137) << "OOM-killed: SIGKILL" << r;
}

// With --pids-limit 8: the container's shell, the forking shell and 6 sleeps, then a fork fails.
TEST_F(Oci, ForkLoopStopsAtPids) {
  const Result r = run({"--pids-limit", "8"}, {"sh", "-c", fork_loop(30)});
  EXPECT_EQ(r.status, 0) << r;
  const int processes = std::atoi(last_line(r.out).c_str());
  EXPECT_LE(processes, 8) << "never more than --pids-limit" << r;
  EXPECT_GE(processes, 6) << "the loop went on until the limit stopped it" << r;
  EXPECT_NE(r.err.find("fork"), std::string::npos) << "a fork failed" << r;
}

// The runtime makes the container's cgroup where podman asks (cgroupsPath), with the limits of
// the config, holding the container; `podman rm` leaves none (TearDown checks every hierarchy).
TEST_F(Oci, CgroupOfItsOwnWithTheLimits) {
  const std::string id = run_detached("limited", {"sleep", "1000"}, {"--memory", "48m", "--pids-limit", "20"});
  const std::string pid = inspect("limited", "{{.State.Pid}}");
  const auto dirs = container_cgroups(id);
  ASSERT_FALSE(dirs.empty()) << "no cgroup named libpod-" << id << " under " << cgroup_parent;
  int memory = 0, pids = 0;
  for (const auto& dir : dirs) {
    EXPECT_TRUE(has_line(read_file(dir + "/cgroup.procs"), pid)) << dir << " holds the container";
    for (const char* file : {"memory.limit_in_bytes", "memory.max"})
      if (std::filesystem::exists(dir + "/" + file)) {
        EXPECT_EQ(read_first_line(dir + "/" + file), "50331648") << dir;
        ++memory;
      }
    if (std::filesystem::exists(dir + "/pids.max")) {
      EXPECT_EQ(read_first_line(dir + "/pids.max"), "20") << dir;
      ++pids;
    }
  }
  EXPECT_EQ(memory, 1) << "one memory limit";
  EXPECT_EQ(pids, 1) << "one pids limit";
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "limited"}).status, 0);
  EXPECT_TRUE(container_cgroups(id).empty()) << "the runtime removed them at `delete`";
}

// --- the life of a detached container ---------------------------------------------------------

TEST_F(Oci, DetachedShowsInPsAndLogs) {
  run_detached("detached", {"sh", "-c", "echo started; exec sleep 1000"});
  const Result ps = podman({"ps", "--format", "{{.Names}} {{.Status}}"});
  EXPECT_TRUE(ps.out.starts_with("detached Up")) << ps;
  Result logs = podman({"logs", "detached"});
  for (int attempt = 0; attempt < 50 && logs.out.empty(); ++attempt) {  // conmon writes it soon
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    logs = podman({"logs", "detached"});
  }
  EXPECT_EQ(logs.out, "started\n") << logs;
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "detached"}).status, 0);
}

// `podman exec` runs a process in the container's namespaces, with its own user, workdir and
// environment; its exit status comes back.
TEST_F(Oci, ExecJoinsTheContainer) {
  run_detached("joined", {"sleep", "1000"}, {"--hostname", "joined-box"});
  const Result r = podman({"exec", "-u", "65534", "-w", "/tmp", "-e", "WHERE=inside", "joined", "sh", "-c",
                           "cat /proc/1/comm; hostname; id -u; pwd; echo $WHERE"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "sleep\njoined-box\n65534\n/tmp\ninside\n") << "PID 1 is the container's" << r;
  EXPECT_EQ(podman({"exec", "joined", "sh", "-c", "exit 7"}).status, 7);
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "joined"}).status, 0);
}

// With -t the runtime makes a pseudo-terminal and hands its master to conmon over the console
// socket (--console-socket): `tty` names it, and conmon's terminal turns "\n" into "\r\n".
TEST_F(Oci, TerminalForRunAndExec) {
  const Result r = run({"-t"}, {"tty"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(r.out.starts_with("/dev/pts/") && r.out.ends_with("\r\n")) << r;
  run_detached("terminal", {"sleep", "1000"});
  const Result e = podman({"exec", "-t", "terminal", "tty"});
  EXPECT_EQ(e.status, 0) << e;
  EXPECT_TRUE(e.out.starts_with("/dev/pts/") && e.out.ends_with("\r\n")) << e;
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "terminal"}).status, 0);
}

// PID 1 ignores SIGTERM (it has no handler): `podman stop -t 1` sends it (`kill ID 15`), waits a
// second, then sends SIGKILL (`kill ID 9`): exit code 137.
TEST_F(Oci, StopKillsAPid1ThatIgnoresSigterm) {
  run_detached("stubborn", {"sleep", "1000"});
  const Result r = podman({"stop", "--time", "1", "stubborn"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_NE(r.err.find("resorting to SIGKILL"), std::string::npos) << r;
  EXPECT_EQ(inspect("stubborn", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  EXPECT_EQ(podman({"rm", "stubborn"}).status, 0);
}

// A PID 1 with a SIGTERM handler gets the signal and exits on its own.
TEST_F(Oci, StopEndsAPid1ThatHandlesSigterm) {
  run_detached("polite", {"sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"});
  const Result r = podman({"stop", "--time", "10", "polite"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.err.find("SIGKILL"), std::string::npos) << "SIGTERM was enough" << r;
  EXPECT_EQ(inspect("polite", "{{.State.Status}} {{.State.ExitCode}}"), "exited 7");
  EXPECT_EQ(podman({"rm", "polite"}).status, 0);
}

TEST_F(Oci, KillSendsSigkill) {
  run_detached("killed", {"sleep", "1000"});
  EXPECT_EQ(podman({"kill", "killed"}).status, 0);
  EXPECT_EQ(podman({"wait", "killed"}).out, "137\n");
  EXPECT_EQ(podman({"rm", "killed"}).status, 0);
}

// `podman rm` of a running container: stop, then `delete --force`; the container is gone from
// podman, and its processes with it (the host guard and TearDown check the rest).
TEST_F(Oci, RmRemovesARunningContainer) {
  run_detached("removed", {"sleep", "1000"});
  const std::string pid = inspect("removed", "{{.State.Pid}}");
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "removed"}).status, 0);
  EXPECT_FALSE(is_alive(std::stoi(pid))) << "the container's PID 1 is gone";
  EXPECT_EQ(podman({"ps", "--all", "--quiet"}).out, "");
}
