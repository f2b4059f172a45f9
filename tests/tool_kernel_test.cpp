// Facts of the kernel that the chapters and docs/pitfalls.md rely on, each checked on the kernel
// the tests run on (label `tools`: cgroup v1 on the CI host; the ToolKernel.Cgroup* cases also in
// the cgroup v2 VM, tests/vm). The page that makes a claim names the case that checks it. No
// step's program runs here: each case makes the system calls itself, in a child process, inside
// namespaces of its own where it mounts, so that the host is left as it was.
#include "harness.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

using namespace workshop;

namespace {

// --- in the child: system calls only, results written to `out` as lines ------------------------

void say(int out, const char* text) {
  [[maybe_unused]] auto ignored = write(out, text, strlen(text));
  ignored = write(out, "\n", 1);
}

// "ok" when a call returned 0 (or more), else the name of its errno: "EINVAL".
const char* outcome(long result) {
  const char* name = result >= 0 ? "ok" : strerrorname_np(errno);
  return name ? name : "unknown errno";
}

void say_result(int out, long result) { say(out, outcome(result)); }

void say_number(int out, unsigned long n) {
  char digits[24];
  int i = sizeof digits;
  digits[--i] = '\0';
  do digits[--i] = static_cast<char>('0' + n % 10); while ((n /= 10) && i > 0);
  say(out, digits + i);
}

// A file's text (its first KiB), without its last newline.
void say_file(int out, const char* path) {
  char text[1024];
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  const ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  if (n < 0) return say(out, "(unreadable)");
  text[n > 0 && text[n - 1] == '\n' ? n - 1 : n] = '\0';
  say(out, text);
}

long write_text(const char* path, const char* text) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const long n = write(fd, text, strlen(text));
  const int saved = errno;
  close(fd);
  errno = saved;
  return n;
}

// Creates an empty file: "ok", or the errno's name.
void say_created(int out, const char* path) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  say_result(out, fd);
  if (fd >= 0) close(fd);
}

long pivot_root(const char* new_root, const char* put_old) { return syscall(SYS_pivot_root, new_root, put_old); }

// --- in the test ---------------------------------------------------------------------------------

// Runs `body` in a forked child (fd 1 is the test's), and returns the lines it wrote to `out`
// once it exited. A body that dies of a signal is a failure of the case.
std::vector<std::string> in_child(const std::function<void(int out)>& body) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2: " + std::string(strerror(errno)));
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    body(pipe_fds[1]);
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status) << " after writing:\n" << text;
  return lines(text);
}

// A cgroup made for the case, removed at scope exit (rmdir is retried while the kernel still
// counts a process that has just left it: docs/pitfalls.md, "Removing a cgroup").
struct CgroupDir {
  std::string path;
  explicit CgroupDir(std::string at) : path(std::move(at)) {
    if (mkdir(path.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + path + ": " + strerror(errno));
  }
  ~CgroupDir() {
    for (int attempt = 0; rmdir(path.c_str()) != 0 && errno == EBUSY && attempt < 100; ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CgroupDir(const CgroupDir&) = delete;
  CgroupDir& operator=(const CgroupDir&) = delete;
};

// The cgroup path of the first line of a /proc/PID/cgroup text for `controllers` ("" on v2).
std::string path_for(const std::vector<std::string>& proc_pid_cgroup, const std::string& controllers) {
  std::string text;
  for (const auto& line : proc_pid_cgroup) text += line + "\n";
  const auto paths = cgroup_paths(text);
  return paths.count(controllers) ? paths.at(controllers) : "(no line for '" + controllers + "')";
}

}  // namespace

// pivot_root(2)'s rules, which step 3 meets with its bind mount and step 2's MS_PRIVATE
// (step3-rootfs/README.md, docs/pitfalls.md): a new root on the mount of the current root is
// EBUSY; one that is not a mount point, EINVAL; one whose parent mount is shared, EINVAL; bound
// onto itself under a private parent, it works. In a mount namespace of the child's own, on a
// tmpfs it chroots into, so that "the current root" is a mount the case controls.
TEST(ToolKernel, PivotRootWantsAMountPointWithAPrivateParent) {
  REQUIRE_ROOT();
  const TempDir dir;
  const char* top = dir.path.c_str();
  const auto results = in_child([&](int out) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", top, "tmpfs", 0, nullptr) != 0 || chroot(top) != 0 || chdir("/") != 0)
      return say(out, "set-up failed");
    mkdir("/a", 0755);
    mkdir("/a/put", 0755);
    say_result(out, pivot_root("/a", "/a/put"));  // on the root's own mount
    mkdir("/b", 0755);
    mount("tmpfs", "/b", "tmpfs", 0, nullptr);
    mkdir("/b/root", 0755);
    mkdir("/b/root/put", 0755);
    say_result(out, pivot_root("/b/root", "/b/root/put"));  // on another mount, not a mount point
    mount("/b/root", "/b/root", nullptr, MS_BIND | MS_REC, nullptr);
    mount(nullptr, "/b", nullptr, MS_SHARED, nullptr);
    say_result(out, pivot_root("/b/root", "/b/root/put"));  // a mount point, its parent shared
    mount(nullptr, "/b", nullptr, MS_PRIVATE, nullptr);
    say_result(out, pivot_root("/b/root", "/b/root/put"));  // a mount point, its parent private
  });
  EXPECT_EQ(results, (std::vector<std::string>{"EBUSY", "EINVAL", "EINVAL", "ok"}));
}

// MS_RDONLY is ignored when a bind mount is made: the new mount is writable until it is
// remounted read-only (docs/pitfalls.md, "A read-only bind mount is writable").
TEST(ToolKernel, BindMountIsReadOnlyOnlyAfterARemount) {
  REQUIRE_ROOT();
  const TempDir dir;
  const std::string top = dir.path;
  const std::string src = top + "/src", dst = top + "/dst", first = dst + "/first", second = dst + "/second";
  const auto results = in_child([&](int out) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", top.c_str(), "tmpfs", 0, nullptr) != 0 || mkdir(src.c_str(), 0755) != 0 ||
        mkdir(dst.c_str(), 0755) != 0)
      return say(out, "set-up failed");
    say_result(out, mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_RDONLY, nullptr));
    say_created(out, first.c_str());
    say_result(out, mount(nullptr, dst.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr));
    say_created(out, second.c_str());
  });
  EXPECT_EQ(results, (std::vector<std::string>{"ok", "ok", "ok", "EROFS"}));
}

// PR_SET_PDEATHSIG is cleared by a change of group or user IDs, and in a new PID namespace
// getppid() is 0 (docs/pitfalls.md, "The parent-death signal is cleared by the user switch").
TEST(ToolKernel, ParentDeathSignalIsClearedByTheUserSwitch) {
  REQUIRE_ROOT();
  const auto results = in_child([](int out) {
    int signal = -1;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_GET_PDEATHSIG, &signal);
    say_number(out, signal);
    if (setresgid(65534, 65534, 65534) != 0) return say(out, "setresgid failed");
    prctl(PR_GET_PDEATHSIG, &signal);
    say_number(out, signal);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (setresuid(65534, 65534, 65534) != 0) return say(out, "setresuid failed");
    prctl(PR_GET_PDEATHSIG, &signal);
    say_number(out, signal);
  });
  EXPECT_EQ(results, (std::vector<std::string>{std::to_string(SIGKILL), "0", "0"}))
      << "PR_GET_PDEATHSIG: once set, after setresgid, after setresuid";
  const auto in_new_namespace = in_child([](int out) {
    clone_args args{.flags = CLONE_NEWPID, .exit_signal = SIGCHLD};
    const long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
      say_number(out, getpid());
      say_number(out, getppid());
      _exit(0);
    }
    if (pid < 0) return say_result(out, pid);
    waitpid(static_cast<pid_t>(pid), nullptr, 0);
  });
  EXPECT_EQ(in_new_namespace, (std::vector<std::string>{"1", "0"})) << "getpid(), getppid() of PID 1";
}

// The blocked-signal mask and ignored signals survive execve; handlers do not: they are reset to
// the default (docs/pitfalls.md, "A blocked signal mask survives exec"). /proc/self/status of
// the program exec'd shows them.
TEST(ToolKernel, BlockedAndIgnoredSignalsSurviveExec) {
  const auto status = in_child([](int out) {
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGUSR1, [](int) {});
    dup2(out, 1);
    const char* argv[] = {"cat", "/proc/self/status", nullptr};
    execv("/bin/cat", const_cast<char**>(argv));
    say(out, "exec /bin/cat failed");
  });
  std::string text;
  for (const auto& line : status) text += line + "\n";
  const auto mask = [&](const std::string& name) { return std::stoull(field(text, name).empty() ? "0" : field(text, name), nullptr, 16); };
  const auto bit = [](int signal) { return 1ull << (signal - 1); };
  EXPECT_EQ(mask("SigBlk"), bit(SIGINT) | bit(SIGTERM)) << "blocked before exec, blocked after" << text;
  EXPECT_TRUE(mask("SigIgn") & bit(SIGHUP)) << "ignored before exec, ignored after" << text;
  EXPECT_FALSE(mask("SigCgt") & bit(SIGUSR1)) << "a handler does not survive exec" << text;
}

// A cgroup namespace is rooted at the cgroup its process is in when it is made (docs/pitfalls.md,
// "The cgroup namespace shows the wrong root"). Made by the clone before the child joins its
// cgroup, it shows the child below its root; made after the join (unshare), at "/". On cgroup v2,
// clone3 with CLONE_INTO_CGROUP and CLONE_NEWCGROUP together: born in the cgroup and in the
// namespace at once, at "/". Here and in the cgroup v2 VM.
TEST(ToolKernel, CgroupNamespaceIsRootedWhereItIsMade) {
  REQUIRE_ROOT();
  const bool v2 = cgroup_v2();
  const std::string controllers = v2 ? "" : "memory";
  const CgroupDir cgroup(cgroup_dirs_of("self").at("memory") + "/" + unique_name());
  const std::string join_file = cgroup.path + (v2 ? "/cgroup.procs" : "/tasks");
  const char* join = join_file.c_str();
  const std::string name = cgroup.path.substr(cgroup.path.rfind('/'));

  const auto view_of = [](unsigned long flags, int into, bool join_then_unshare, const char* join) {
    return in_child([&](int out) {
      clone_args args{.flags = flags, .exit_signal = SIGCHLD, .cgroup = static_cast<__u64>(into)};
      if (into >= 0) args.flags |= CLONE_INTO_CGROUP;
      const long pid = syscall(SYS_clone3, &args, sizeof args);
      if (pid < 0) return say_result(out, pid);
      if (pid > 0) {
        waitpid(static_cast<pid_t>(pid), nullptr, 0);
        return;
      }
      if (into < 0 && write_text(join, "0") < 0) say(out, "join failed");
      if (join_then_unshare && unshare(CLONE_NEWCGROUP) != 0) say(out, "unshare failed");
      say_file(out, "/proc/self/cgroup");
      _exit(0);
    });
  };
  EXPECT_EQ(path_for(view_of(CLONE_NEWCGROUP, -1, false, join), controllers), name)
      << "made by the clone, then joined: the namespace's root is the cgroup the child left";
  EXPECT_EQ(path_for(view_of(0, -1, true, join), controllers), "/") << "joined, then made: at its root";
  if (v2) {
    const int fd = open(cgroup.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << cgroup.path;
    EXPECT_EQ(path_for(view_of(CLONE_NEWCGROUP, fd, false, join), controllers), "/")
        << "clone3(CLONE_INTO_CGROUP | CLONE_NEWCGROUP): born in both at once";
    close(fd);
  }
}

// Cgroup v2's "no internal processes" rule (docs/pitfalls.md, "cgroup v2: Device or resource busy
// when enabling controllers"): a cgroup other than the root that holds a process cannot enable
// memory (or io) for its children: EBUSY; pids and cpu, which also work per thread, it can. Once
// empty, it can enable memory too. A controller its own cgroup.controllers does not list cannot
// be enabled at all: ENOENT. Only cgroup v2 has these rules: on a v1 host this case checks
// nothing, and the cgroup v2 VM runs it (ctest -L cgroup-v2).
TEST(ToolKernel, CgroupV2EnablesMemoryOnlyWithoutProcesses) {
  REQUIRE_ROOT();
  // ctest runs it in the cgroup v2 VM only (tests/vm); the host's registration leaves it out.
  if (!cgroup_v2()) WORKSHOP_SKIP_OR_FAIL_("needs a cgroup v2 host: ctest -L cgroup-v2 runs it in a VM");
  const CgroupDir parent("/sys/fs/cgroup/" + unique_name());  // below the root, which enables memory and pids
  const std::string control = parent.path + "/cgroup.subtree_control";
  const pid_t sleeper = fork();
  if (sleeper == 0) {
    pause();
    _exit(0);
  }
  const std::string moved = outcome(write_text((parent.path + "/cgroup.procs").c_str(), std::to_string(sleeper).c_str()));
  const std::string memory_while_busy = outcome(write_text(control.c_str(), "+memory"));
  const std::string pids_while_busy = outcome(write_text(control.c_str(), "+pids"));
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  ASSERT_EQ(moved, "ok") << "a process moved into " << parent.path;
  EXPECT_EQ(memory_while_busy, "EBUSY") << "+memory, with a process in " << parent.path;
  EXPECT_EQ(pids_while_busy, "ok") << "+pids, with a process in " << parent.path;
  long memory = -1;
  for (int attempt = 0; attempt < 100 && (memory = write_text(control.c_str(), "+memory")) < 0 && errno == EBUSY; ++attempt)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // until the kernel has taken the killed process out
  EXPECT_STREQ(outcome(memory), "ok") << "+memory, once " << parent.path << " is empty";
  const CgroupDir child(parent.path + "/child");
  EXPECT_EQ(read_first_line(child.path + "/cgroup.controllers"), "memory pids");
  EXPECT_STREQ(outcome(write_text((child.path + "/cgroup.subtree_control").c_str(), "+cpu")), "ENOENT")
      << "+cpu, which " << child.path << "/cgroup.controllers does not list";
}
