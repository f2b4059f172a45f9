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

// --- the runtime's own command line -------------------------------------------------------------

// What every runtime answers to a command it cannot carry out: one line on stderr and runc's exit
// status, 1. podman reads the line ("does not exist": the container is gone). `delete --force` of
// an unknown ID is no error: podman calls it after a create that failed, whatever is left.
TEST_F(Oci, RuntimeRefusesUnknownIdsAndBadBundles) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"state", "nope"}, {"start", "nope"}, {"kill", "nope", "9"}, {"delete", "nope"}}) {
    const Result r = call_runtime(args);
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_EQ(lines(r.err).size(), 1u) << r;
  }
  const Result forced = call_runtime({"delete", "--force", "nope"});
  EXPECT_EQ(forced.status, 0) << forced;
  EXPECT_EQ(forced.err, "") << forced;

  const TempDir empty;  // a bundle without config.json
  for (const std::string& bundle : {std::string("/no/such/bundle"), empty.path}) {
    const Result r = call_runtime({"create", "--bundle", bundle, "--pid-file", empty.path + "/pid", "bad-bundle"});
    EXPECT_EQ(r.status, 1) << r;
    EXPECT_EQ(lines(r.err).size(), 1u) << r;
  }
}

// A second `create` of an ID: podman's own bundle for a container it has created (`podman init`:
// the runtime's `create`, its process waiting for `start`), created again by hand.
TEST_F(Oci, SecondCreateOfAnIdIsRefused) {
  std::vector<std::string> args = run_args({"--name", "taken"}, {"sleep", "1000"});
  args[0] = "create";
  ASSERT_EQ(podman(args).status, 0);
  ASSERT_EQ(podman({"init", "taken"}).status, 0);
  const std::string id = inspect("taken", "{{.Id}}"), bundle = inspect("taken", "{{.StaticDir}}");
  const TempDir scratch;
  const Result r = call_runtime({"create", "--bundle", bundle, "--pid-file", scratch.path + "/pid", id});
  EXPECT_EQ(r.status, 1) << r;
  EXPECT_EQ(lines(r.err).size(), 1u) << r;
  EXPECT_EQ(call_runtime({"state", id}).status, 0) << "the first container is still there";
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "taken"}).status, 0);
}

// runc's CVE-2019-5736: for `exec`, runc ran itself inside the container, and the container's root
// opened /proc/PID/exe of that process, the runtime's binary on the host, then wrote into it once
// runc had exited: the next runc to run, as root on the host, was the attacker's. Here PID 1 makes
// that attack on every process of the runtime it sees while `podman exec` runs. The runtime is a
// copy made for the case, so that an attack that works changes the copy, not the build.
TEST_F(Oci, ExecHandsTheContainerNoWayToTheRuntimesBinary) {
  const std::string name = std::filesystem::path(runtime()).filename();
  const TempDir dir;
  runtime_ = dir.path + "/" + name;  // the same name: podman decides some things by it
  std::filesystem::copy_file(runtime(), runtime_);
  const std::string before = read_file(runtime_);
  // Each process named like the runtime: open its exe; if that works, try to write through it
  // for a while (it fails while any process runs the binary: ETXTBSY).
  const std::string attack =
      "while :; do for p in /proc/[0-9]*; do read -r comm < $p/comm 2>/dev/null || continue; "
      "case $comm in " + name.substr(0, 4) + "*) ;; *) continue ;; esac; echo seen; "
      "if command exec 3< $p/exe 2>/dev/null; then echo opened; i=0; while [ $i -lt 3000 ]; do "
      "if echo '#!/bin/sh' 2>/dev/null >/proc/self/fd/3; then echo written; break; fi; i=$((i+1)); done; "
      "exec 3<&-; fi; done; done";
  run_detached("attacker", {"sh", "-c", attack});
  // The workshop's runtime must be caught, or the case proves nothing: its process lives inside
  // long enough (seen within a few calls here). crun's reaches execve before a shell loop finds it.
  const bool must_be_seen = name == "bonus-oci";
  std::string log;
  for (int attempt = 0; attempt < (must_be_seen ? 40 : 10) && !has_line(log, "seen"); ++attempt) {
    EXPECT_EQ(podman({"exec", "attacker", "true"}).status, 0);
    log = podman({"logs", "attacker"}).out;
  }
  EXPECT_TRUE(!must_be_seen || has_line(log, "seen")) << "the attack never caught a process of the runtime: it proved nothing";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a write under way, if any
  log = podman({"logs", "attacker"}).out;
  EXPECT_FALSE(has_line(log, "written")) << log;
  EXPECT_TRUE(read_file(runtime_) == before) << "the runtime's binary was changed from inside the container";
  EXPECT_EQ(podman({"rm", "--force", "--time", "0", "attacker"}).status, 0);
  runtime_ = runtime();
}
