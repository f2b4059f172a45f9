// Step 5's options, its load and its terminal (suites named Step5...: step 5 and later). The
// attacks that need step 5's options are in step5_attacks.cpp.
//   Step5Options     --hostname, -e, -w, -u, -v, --net do what docs/contract.md says
//   Step5BadOptions  every bad value (--tmpfs-size's too): 125, one line, nothing made (no cgroup)
//   Step5Overlay     parallel containers share the rootfs, not their writes
//   Step5Load        10 containers at once and 50 in a row leave nothing behind
//   Step5Terminal    on a terminal the container has it, as with `docker run -it`
#include "harness.hpp"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
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

// -u UID without a GID: the group /etc/passwd in the rootfs gives that user (nobody, 65534, has
// the group 65534 there), else 0, as docker does. Never the host's /etc/passwd.
TEST(Step5Options, UserWithoutGidTakesThePasswdGroup) {
  REQUIRE_ROOT();
  const Result nobody = shell("id -u; id -g", {}, {"--user", "65534"});
  EXPECT_EQ(nobody.status, 0) << nobody;
  EXPECT_EQ(nobody.out, "65534\n65534\n") << "the group of nobody in the rootfs's /etc/passwd" << nobody;
  const Result unknown = shell("id -u; id -g", {}, {"--user", "1000"});
  EXPECT_EQ(unknown.status, 0) << unknown;
  EXPECT_EQ(unknown.out, "1000\n0\n") << "docker's choice for a uid without a passwd entry" << unknown;
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
      {"-v", ":/data"},                 {"--net", "bridge"},                  {"--net", ""},
      {"--tmpfs-size", "0"},            {"--tmpfs-size", "lots"},             {"--tmpfs-size", "-1m"}};
  const std::set<std::string> cgroups_before = cgroups_starting(program() + "-");
  for (const auto& option : cases) {
    const Result r = container({"true"}, {}, option);
    EXPECT_RUNTIME_ERROR(r, 125);
    EXPECT_NE(r.err.find(option[0]), std::string::npos) << "the error names the option" << r;
  }
  EXPECT_EQ(cgroups_starting(program() + "-"), cgroups_before) << "a cgroup was made (or left)";
  // The same options with good values run (a runtime that knows none of them refuses all).
  const Result good = container({"true"}, {}, {"--hostname", "a-1.b", "-e", "A=", "-w", "/x", "-u", "1:2", "-v",
                                               dir.path + ":/d:ro", "-v", dir.path + ":/e:rw", "--net", "host",
                                               "--tmpfs-size", "16M"});
  EXPECT_EQ(good.status, 0) << good;
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

// The container's terminal is its own: /dev/pts/0 in a devpts of its own (the caller's terminal
// is not in it), of the caller's window size, and the size follows when the window changes
// (SIGWINCH to the runtime, which passes it on).
TEST(Step5Terminal, OwnTerminalFollowsTheWindowSize) {
  REQUIRE_ROOT();
  Terminal terminal(container_args({"sh"}));
  terminal.resize(24, 80);
  ASSERT_TRUE(terminal.expect("# ")) << terminal.output;
  terminal.type("tty; echo pts: $(ls /dev/pts); echo size $(stty size)\n");
  EXPECT_TRUE(terminal.expect("/dev/pts/0\r\npts: 0 ptmx\r\nsize 24 80")) << terminal.output;
  terminal.resize(41, 123);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the runtime gets SIGWINCH
  terminal.type("echo size $(stty size)\n");
  EXPECT_TRUE(terminal.expect("size 41 123")) << "the new window size" << terminal.output;
  terminal.type("exit 4\n");
  EXPECT_EQ(terminal.wait(10), 4) << terminal.output;
}

// The runtime puts the caller's terminal in raw mode while it relays, and back as it found it
// when it exits: the caller's shell gets its echo and line editing back.
TEST(Step5Terminal, CallersTerminalIsRestoredAtExit) {
  REQUIRE_ROOT();
  Terminal terminal(container_args({"sh", "-c", "echo ready; read line; exit 3"}));
  const termios before = terminal.started_with;
  ASSERT_TRUE(terminal.expect("ready")) << terminal.output;
  const termios during = terminal.settings();
  EXPECT_FALSE(during.c_lflag & (ECHO | ICANON)) << "raw while the container runs: its terminal echoes";
  terminal.type("line\r");
  EXPECT_EQ(terminal.wait(10), 3) << terminal.output;
  const termios after = terminal.settings();
  EXPECT_EQ(after.c_lflag, before.c_lflag) << terminal.output;
  EXPECT_EQ(after.c_iflag, before.c_iflag) << terminal.output;
  EXPECT_EQ(after.c_oflag, before.c_oflag) << terminal.output;
  EXPECT_EQ(after.c_cflag, before.c_cflag) << terminal.output;
}
