// Step 5's options and the attacks that need them (suites named Step5...: step 5 and later).
//   Step5Options     --hostname, -e, -w, -u, -v, --net do what docs/contract.md says
//   Step5BadOptions  every bad value: 125, one line, nothing made (no cgroup)
//   Step5Attacks     host processes, cgroup limits, host devices, from inside
//   Step5Overlay     parallel containers share the rootfs, not their writes
//   Step5Load        10 containers at once and 50 in a row leave nothing behind
//   Step5Terminal    on a terminal the container has it, as with `docker run -it`
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <fcntl.h>
#include <pty.h>
#include <utmp.h>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace workshop;
namespace fs = std::filesystem;

namespace {


// Cgroup directories, in any hierarchy, whose name starts with `prefix`.
std::set<std::string> cgroups_starting(const std::string& prefix) {
  std::set<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it.depth() > 6) it.disable_recursion_pending();
    if (it->path().filename().string().starts_with(prefix)) found.insert(it->path().string());
  }
  return found;
}

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.insert(entry.path().filename().string());
  return names;
}

// The runtime started on a pseudo-terminal of its own, as from a terminal window: the test
// types into it and reads what a user would see.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& args) {
    std::vector<std::string> argv{binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (auto& arg : argv) c_argv.push_back(arg.data());
    c_argv.push_back(nullptr);
    int terminal = -1;
    if (openpty(&master_, &terminal, nullptr, nullptr, nullptr) != 0) throw std::runtime_error("openpty failed");
    fcntl(master_, F_SETFD, FD_CLOEXEC);
    container_ = ContainerTrace(cgroup_dirs());
    pid = spawn([&](int report) {  // a session of its own, the terminal's foreground process group
      if (login_tty(terminal) != 0) child_fail(report, "login_tty");
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
      exec_with_stdio_only(report, c_argv.data(), environ);
    });
    close(terminal);
  }
  ~Terminal() {
    if (pid > 0 && !exited_) {
      killpg(pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      container_.kill_all(pid);  // a runtime killed cannot tear its container down
      container_.remove_stale_cgroups();
    }
    if (master_ >= 0) close(master_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Reads until `needle` shows up after what earlier calls consumed; false on timeout.
  bool expect(const std::string& needle, int seconds = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (true) {
      if (const auto at = output.find(needle, consumed_); at != std::string::npos) {
        consumed_ = at + needle.size();
        container_.see_below(pid);  // it runs: its container is there to see
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(int(left.count()))) return false;
    }
  }
  void type(const std::string& keys) { [[maybe_unused]] auto n = write(master_, keys.data(), keys.size()); }
  // Waits for the runtime: its exit status (128+N if a signal killed it), -1 on timeout.
  int wait(int seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) != pid) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      read_some(50);
    }
    exited_ = true;
    if (WIFSIGNALED(status)) {  // killed: it could not tear its container down
      container_.kill_all(pid);
      container_.remove_stale_cgroups();
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  // Not exited yet (asked without reaping it: wait() still gets its status).
  bool alive() {
    siginfo_t info{};
    return !exited_ && waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
  }

  pid_t pid = -1;
  std::string output;

 private:
  bool read_some(int timeout_ms) {
    pollfd fd{.fd = master_, .events = POLLIN};
    if (poll(&fd, 1, timeout_ms) <= 0) return true;  // nothing yet
    char buffer[4096];
    const ssize_t n = read(master_, buffer, sizeof buffer);
    if (n <= 0) return false;  // EIO: every process left the terminal
    output.append(buffer, n);
    return true;
  }
  int master_ = -1;
  size_t consumed_ = 0;
  bool exited_ = false;
  ContainerTrace container_;
};

}  // namespace

// --- the options ------------------------------------------------------------------------------

TEST(Step5Options, HostnameIsSet) {
  REQUIRE_ROOT();
  const Result r = shell("hostname; echo $HOSTNAME", {}, {"--hostname", "web-1.example"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "web-1.example\nweb-1.example\n") << r;
}

// -e adds, replaces a default, and the last of two wins; `=` may be in the value. The option
// takes one value each time: `env` after it is COMMAND, not one more -e value.
TEST(Step5Options, EnvAddsAndReplaces) {
  REQUIRE_ROOT();
  const Result r = container({"env"}, {.env = {"TERM=workshop-term", "WORKSHOP_LEAK=1"}},
                             {"-e", "A=1", "-e", "B=x=y", "--env", "PATH=/usr/bin:/bin", "-e", "A=2", "-e", "EMPTY="});
  ASSERT_EQ(r.status, 0) << r;
  const auto env = lines(r.out);
  EXPECT_EQ(std::set<std::string>(env.begin(), env.end()),
            (std::set<std::string>{"PATH=/usr/bin:/bin", "HOME=/root", "HOSTNAME=container", "TERM=workshop-term", "A=2",
                                   "B=x=y", "EMPTY="}))
      << r;
}

// A missing workdir is made, as docker does, in the throwaway layer: not in the rootfs on disk.
TEST(Step5Options, WorkdirIsMadeInTheThrowawayLayer) {
  REQUIRE_ROOT();
  const std::string dir = unique_name("/workdir") + "/a/b";  // not "/" + ...: GCC 12 -Wrestrict false positive in Release
  const Result r = container({"pwd"}, {}, {"-w", dir});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, dir + "\n") << r;
  const std::string on_disk = rootfs() + dir.substr(0, dir.find('/', 1));
  EXPECT_FALSE(fs::exists(on_disk)) << "made in the rootfs on disk";
  fs::remove_all(on_disk);
  const Result existing = container({"pwd"}, {}, {"--workdir", "/etc"});
  EXPECT_EQ(existing.out, "/etc\n") << existing;
}

// -u UID:GID: that user and group, no supplementary groups, no capabilities left (the bounding
// set stays docker's), HOME=/; root's files are out of reach.
TEST(Step5Options, UserSwitchDropsGroupsAndCapabilities) {
  REQUIRE_ROOT();
  const std::string host = read_file("/proc/self/status");
  const Result r = shell(only_in_namespaces() + "id -u; id -g; echo $HOME; cat /proc/self/status; touch /etc/x 2>&1 || echo refused",
                         {}, {"-u", "1000:1001"});
  ASSERT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_GE(out.size(), 3u) << r;
  EXPECT_EQ(out[0], "1000") << r;
  EXPECT_EQ(out[1], "1001") << r;
  EXPECT_EQ(out[2], "/") << r;
  EXPECT_EQ(field(r.out, "Groups"), "") << "supplementary groups cleared" << r;
  EXPECT_EQ(field(r.out, "CapEff"), "0000000000000000") << r;
  EXPECT_EQ(field(r.out, "CapPrm"), "0000000000000000") << r;
  EXPECT_EQ(std::stoull(field(r.out, "CapBnd"), nullptr, 16), docker_capabilities_without_mknod & std::stoull(field(host, "CapBnd"), nullptr, 16)) << r;
  EXPECT_EQ(field(r.out, "NoNewPrivs"), "1") << r;
  EXPECT_TRUE(has_line(r.out, "refused")) << r;
}

TEST(Step5Options, UserWithoutGidIsInGroupZero) {
  REQUIRE_ROOT();
  const Result r = shell("id -u; id -g", {}, {"--user", "1000"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "1000\n0\n") << "docker's choice for a uid without a passwd entry" << r;
}

// -v HOSTDIR:DIR: the container reads and writes the host directory; nothing of the mount
// shows on the host (the host guard checks the mount table after every case).
TEST(Step5Options, VolumeIsTheHostDirectory) {
  REQUIRE_ROOT();
  const TempDir dir;
  std::ofstream(dir.path + "/from-host") << "hello from the host\n";
  const Result r = shell("cat /data/from-host && echo written > /data/from-container && ls /data",
                         {}, {"-v", dir.path + ":/data/"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_TRUE(has_line(r.out, "hello from the host")) << r;
  EXPECT_EQ(read_file(dir.path + "/from-container"), "written\n");
}

// :ro really is read-only: writing fails, remounting it read-write fails, the host directory is
// as it was.
TEST(Step5Options, ReadOnlyVolumeCannotBeWritten) {
  REQUIRE_ROOT();
  const TempDir dir;
  std::ofstream(dir.path + "/file") << "original\n";
  const Result r = shell("echo x > /data/file && echo wrote; touch /data/new && echo made; "
                         "mount -o remount,rw /data && echo remounted; rm -f /data/file; cat /data/file",
                         {}, {"-v", dir.path + ":/data:ro"});
  for (const char* broken : {"wrote", "made", "remounted"}) EXPECT_FALSE(has_line(r.out, broken)) << broken << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
  EXPECT_EQ(read_file(dir.path + "/file"), "original\n");
  EXPECT_EQ(listing(dir.path), std::set<std::string>{"file"});
}

// Read-only all the way down: a file system mounted below HOSTDIR (a tmpfs at HOSTDIR/below, in a
// mount namespace of the test's own) is left out of the volume, or read-only in it too; either
// way nothing under a :ro volume can be written. (A bind mount made with MS_REC brings the
// submounts along, and the read-only remount after it is not recursive.)
TEST(Step5Options, ReadOnlyVolumeIsReadOnlyBelowToo) {
  REQUIRE_ROOT();
  const TempDir dir;
  fs::create_directory(dir.path + "/below");
  const Result r = shell("touch /data/below/new && echo wrote; true", {.tmpfs_at = dir.path + "/below"},
                         {"-v", dir.path + ":/data:ro"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_FALSE(has_line(r.out, "wrote")) << "the submount below the volume is writable" << r;
  EXPECT_NE(r.err.find("Read-only file system"), std::string::npos) << r;
}

// DIR is resolved as the container sees it. A symlink in the container's tree (here brought in
// by a first volume, in an image it would be part of the rootfs) to an absolute path leads to
// that path inside the container, never on the host, where the runtime would make directories
// and mount over them.
TEST(Step5Options, VolumePathIsResolvedInsideTheContainer) {
  REQUIRE_ROOT();
  const TempDir with_link, data;
  fs::create_directory_symlink("/tmp", with_link.path + "/link");
  std::ofstream(data.path + "/file") << "data\n";
  const std::string name = unique_name("through-link");
  const Result r = shell("cat /a/link/" + name + "/file /tmp/" + name + "/file", {},
                         {"-v", with_link.path + ":/a", "-v", data.path + ":/a/link/" + name});
  const bool on_host = fs::exists("/tmp/" + name);
  if (on_host) fs::remove("/tmp/" + name);
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "data\ndata\n") << "the volume is at the container's /tmp/" << name << r;
  EXPECT_FALSE(on_host) << "the runtime made /tmp/" << name << " on the host" << r;
}

// The caller's umask (here 077) shapes nothing in the container: `/` and a workdir the runtime
// makes stay open to a -u user, and COMMAND starts with docker's umask, 022.
TEST(Step5Options, CallersUmaskShapesNothingInside) {
  REQUIRE_ROOT();
  struct CallersUmask {
    mode_t saved = umask(077);
    ~CallersUmask() { umask(saved); }
  } caller;
  const Result r = shell("umask; stat -c %a / /made; ls / > /dev/null && echo listed", {}, {"-u", "1000", "-w", "/made"});
  EXPECT_EQ(r.status, 0) << r;
  EXPECT_EQ(r.out, "0022\n755\n755\nlisted\n") << r;
}

TEST(Step5Options, NetHostSharesTheHostsNetwork) {
  REQUIRE_ROOT();
  const Result r = shell("readlink /proc/self/ns/net; ls /sys/class/net", {}, {"--net", "host"});
  ASSERT_EQ(r.status, 0) << r;
  const auto out = lines(r.out);
  ASSERT_FALSE(out.empty()) << r;
  EXPECT_EQ(out[0], own_namespace("net")) << r;
  std::set<std::string> inside(out.begin() + 1, out.end());
  EXPECT_EQ(inside, listing("/sys/class/net")) << r;
}

// --- bad values -------------------------------------------------------------------------------

// Every bad value of every step-5 option: exit 125, one line naming the value, and nothing made
// (options are checked before the cgroup exists).
TEST(Step5BadOptions, EveryBadValueIs125OneLineAndLeavesNothing) {
  REQUIRE_ROOT();
  const TempDir dir;
  const std::string missing = "/nonexistent/" + unique_name("volume");
  const std::vector<std::vector<std::string>> cases{
      {"--hostname", "has_underscore"}, {"--hostname", std::string(65, 'a')}, {"--hostname", ""},
      {"--hostname", "-dash"},          {"--hostname", "a b"},                {"-e", "NO_EQUALS"},
      {"-e", "=value"},                 {"-w", "relative/dir"},               {"-u", "root"},
      {"-u", "1000:"},                  {"-u", "-1"},                         {"-u", "4294967295"},
      {"-u", "1:2:3"},                  {"-v", missing + ":/data"},           {"-v", dir.path + ":relative"},
      {"-v", dir.path + ":/"},          {"-v", dir.path + ":/data:rx"},      {"-v", dir.path},
      {"-v", ":/data"},                 {"--net", "bridge"},                  {"--net", ""}};
  const std::set<std::string> cgroups_before = cgroups_starting(program() + "-");
  for (const auto& option : cases) {
    const Result r = container({"true"}, {}, option);
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find(option[0]), std::string::npos) << "the error names the option" << r;
  }
  EXPECT_EQ(cgroups_starting(program() + "-"), cgroups_before) << "a cgroup was made (or left)";
  // The same options with good values run (a runtime that knows none of them refuses all).
  const Result good = container({"true"}, {}, {"--hostname", "a-1.b", "-e", "A=", "-w", "/x", "-u", "1:2", "-v",
                                               dir.path + ":/d:ro", "-v", dir.path + ":/e:rw", "--net", "host"});
  EXPECT_EQ(good.status, 0) << good;
}

// --- attacks that need an option --------------------------------------------------------------

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

// --- overlay: shared rootfs, private writes ---------------------------------------------------

TEST(Step5Overlay, ParallelContainersDoNotSeeEachOthersWrites) {
  REQUIRE_ROOT();
  // Not writing unless `/` is a layer of its own: it would damage the shared rootfs.
  const Result root = shell("grep ' / / ' /proc/self/mountinfo");
  ASSERT_NE(root.out.find(" - overlay "), std::string::npos) << "`/` is not an overlay" << root;
  Running writer = start(container_args({"sh", "-c", only_in_namespaces() + "echo first > /etc/os-release; echo ready; exec sleep 1000"}));
  ASSERT_TRUE(writer.wait_for_output("ready"));
  const Result reader = container({"cat", "/etc/os-release"});
  EXPECT_TRUE(has_line(reader.out, "ID=workshop")) << "the second container sees the first's write" << reader;
  const pid_t sleeper = writer.find_process("sleep 1000");
  ASSERT_GT(sleeper, 0);
  kill(sleeper, SIGKILL);
  EXPECT_EQ(writer.wait().status, 137);
}

// --- load -------------------------------------------------------------------------------------

// 10 containers at once, then 50 in a row: all succeed, and the host has the same mounts, the
// same cgroups, no new file beside the rootfs or in /tmp (no scratch directory), and no process
// left over (the harness fails a case that leaves one).
TEST(Step5Load, TenAtOnceAndFiftyInARow) {
  REQUIRE_ROOT();
  const auto mounts_before = mount_table(read_file("/proc/self/mountinfo"));
  const auto cgroups_before = cgroups_starting(program() + "-");
  const std::string rootfs_parent = fs::path(rootfs()).parent_path().string();
  const auto beside_before = listing(rootfs_parent), tmp_before = listing("/tmp"), rootfs_before = listing(rootfs());
  std::vector<Running> parallel;
  for (int i = 0; i < 10; ++i)
    parallel.push_back(start(container_args({"sh", "-c", "hostname && sleep 0.2"})));
  for (auto& runtime : parallel) {
    const Result r = runtime.wait(60);
    EXPECT_EQ(r.status, 0) << r;
    EXPECT_EQ(r.out, "container\n") << r;
  }
  for (int i = 0; i < 50; ++i) {
    const Result r = container({"true"});
    ASSERT_EQ(r.status, 0) << "run " << i << r;
  }
  EXPECT_EQ(added(mounts_before, mount_table(read_file("/proc/self/mountinfo"))), std::vector<std::string>{});
  EXPECT_EQ(cgroups_starting(program() + "-"), cgroups_before);
  EXPECT_EQ(listing(rootfs_parent), beside_before);
  EXPECT_EQ(listing(rootfs()), rootfs_before);
  // Others may use /tmp meanwhile: a scratch directory would be a new one named for the program
  // or holding overlayfs's upper and work directories.
  for (const auto& name : listing("/tmp")) {
    if (tmp_before.count(name)) continue;
    const std::string path = "/tmp/" + name;
    EXPECT_FALSE(name.find(program()) != std::string::npos || fs::exists(path + "/upper") || fs::exists(path + "/work"))
        << "a scratch directory was left: " << path;
  }
}

// --- on a terminal ----------------------------------------------------------------------------

// Ctrl-C at an interactive shell's prompt does not end the container (the shell ignores it, as
// in `docker run -it`), however long one waits; SIGTERM sent to the runtime does, after the
// grace period (an interactive shell ignores SIGTERM too).
TEST(Step5Terminal, InteractiveShellOutlivesCtrlCNotTerm) {
  REQUIRE_ROOT();
  Terminal terminal(container_args({"sh"}));
  ASSERT_TRUE(terminal.expect("# ")) << terminal.output;
  terminal.type("echo ready-$((20+1))\n");
  ASSERT_TRUE(terminal.expect("ready-21")) << terminal.output;
  terminal.type("\x03");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // longer than the grace period
  terminal.type("echo alive-$((40+2))\n");
  EXPECT_TRUE(terminal.expect("alive-42")) << terminal.output;
  kill(terminal.pid, SIGTERM);
  EXPECT_EQ(terminal.wait(10), 137) << terminal.output;
}

// On a terminal, Ctrl-C goes to the container's processes (the terminal's foreground process
// group), not to the runtime: a PID 1 that handles SIGINT (a REPL, an editor) keeps running,
// and decides itself when to end. A runtime left in the foreground group dies of it.
TEST(Step5Terminal, CtrlCGoesToTheContainerNotTheRuntime) {
  REQUIRE_ROOT();
  Terminal terminal(container_args(
      {"sh", "-c", "n=0; trap 'n=$((n+1)); echo caught-$n; [ $n = 2 ] && exit 5' INT; echo ready; while :; do sleep 1; done"}));
  ASSERT_TRUE(terminal.expect("ready")) << terminal.output;
  terminal.type("\x03");
  EXPECT_TRUE(terminal.expect("caught-1")) << terminal.output;
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_TRUE(terminal.alive()) << "Ctrl-C stopped the runtime" << terminal.output;
  terminal.type("\x03");
  EXPECT_TRUE(terminal.expect("caught-2")) << terminal.output;
  EXPECT_EQ(terminal.wait(10), 5) << "the container's exit status" << terminal.output;
}
