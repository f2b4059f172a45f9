// The test harness shared by every step's tests.
//
// The program under test and its step come from the environment, so a learner can grade an
// implementation of their own:
//   WORKSHOP_STEP=3 WORKSHOP_BINARY=/path/to/my-step3 WORKSHOP_ROOTFS=build/rootfs ./workshop-tests
// ctest sets these for every registered case (see tests/CMakeLists.txt).
//
// Every program is started with fork/exec in a process group of its own, with a timeout after
// which the whole group (and anything it left behind) is SIGKILLed. The test process is a child
// subreaper, so processes a runtime orphans come back to it and can be found and killed: no case
// leaves a process behind.
#pragma once

#include "matrix.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <sys/types.h>
#include <termios.h>
#include <vector>

namespace workshop {

// --- what is under test -----------------------------------------------------------------------
// These throw std::runtime_error with a clear message when the variable is unset or invalid;
// gtest reports that as the case's failure.
int step();                          // WORKSHOP_STEP, 1..5
const std::string& binary();         // WORKSHOP_BINARY, made absolute
const std::string& rootfs();         // WORKSHOP_ROOTFS, made absolute (needed from step 3 on)
const std::string& source_dir();     // WORKSHOP_SOURCE_DIR: the workshop's source tree
std::string program();               // basename of binary(), e.g. "step3-rootfs"
bool in_ci();                        // CI=true
bool is_root();                      // effective uid 0
// Empty when this process can create mount, UTS and PID namespaces, else why not.
const std::string& namespaces_unavailable();

// --- running the program ----------------------------------------------------------------------
struct Options {
  std::string input;                 // written to the program's stdin, then closed
  std::vector<std::string> env;      // extra KEY=VALUE for the runtime's environment
  int timeout_seconds = 30;          // then the whole process group is SIGKILLed and the case fails
  std::string cwd = "/";             // the runtime's working directory
  bool shared_root = false;          // run inside a mount namespace of the test's own whose "/"
                                     // is made rshared first (a systemd-like host)
  std::string tmpfs_at;              // run inside a mount namespace of the test's own where a
                                     // tmpfs is mounted on this existing directory, shared with
                                     // that namespace's "/" when shared_root (as systemd's /run);
                                     // write into it through Result::holder_root
  std::optional<uid_t> uid;          // run the runtime as this uid (setresuid after fork)
  std::optional<gid_t> gid;          // and gid (default: the same number as uid)
  bool expect_leftovers = false;     // processes still alive after the runtime exited are
                                     // killed and listed in Result::leftovers; unless this is
                                     // true, each one is also a test failure
  bool keep_stale_cgroups = false;   // a runtime killed by a signal (or at the timeout), or
                                     // gone before its container, cannot remove its container's
                                     // cgroups: unless this is true, the harness removes those
                                     // left empty (where it saw the container's processes) and
                                     // lists them in leftovers as "cgroup DIR"
  std::map<int, int> open_fds;       // the runtime starts with these open, as a careless caller
                                     // leaves them: its fd -> the test's fd it is a copy of
                                     // (otherwise it gets only 0, 1 and 2)
  std::vector<std::string> wrapper;  // run the runtime through this command, e.g.
                                     // {"/usr/bin/unshare", "--pid", "--fork"}
};

struct Result {
  std::string command;               // the command line, for messages
  int status = -1;                   // exit code, or 128+N when the runtime was killed by N;
                                     // -1 when it timed out or could not be started
  int signal = 0;                    // N when the runtime itself was killed by signal N
  bool timed_out = false;
  std::string out, err;
  std::string mounts_before;         // with shared_root: mountinfo of the test's shared mount
  std::string mounts_after;          // namespace before the runtime started, and after it exited
  std::vector<std::string> leftovers;  // "pid cmdline" of processes that outlived the runtime
                                       // (and "cgroup DIR", see Options::keep_stale_cgroups)
};
std::ostream& operator<<(std::ostream&, const Result&);  // everything, for failure messages

// binary() + args, waited for.
Result run(const std::vector<std::string>& args, const Options& = {});
// binary() run [options] command... (no --rootfs: steps 3+ default to the workshop's rootfs)
Result container(const std::vector<std::string>& command, const Options& = {},
                 const std::vector<std::string>& options = {});
// container({"sh", "-c", script}): most cases ask a shell inside the container a question.
Result shell(const std::string& script, const Options& = {},
             const std::vector<std::string>& options = {});
// The argument list container() would run, for start().
std::vector<std::string> container_args(const std::vector<std::string>& command,
                                        const std::vector<std::string>& options = {});

// What a runtime's container may leave when the runtime dies without tearing it down (killed,
// or it never does): processes, and cgroups. see() its processes while it runs; once the runtime
// is gone, kill_all() kills what is alive of them (and of the runtime's process group), and
// remove_stale_cgroups() removes the cgroups they were in that did not exist before (`before`:
// cgroup_dirs() when the runtime started) and are still there, and returns them.
class ContainerTrace {
 public:
  ContainerTrace() = default;
  explicit ContainerTrace(std::set<std::string> before);
  void see(pid_t process);
  void see_below(pid_t runtime);     // every process below the runtime, now
  std::vector<pid_t> alive(pid_t runtime) const;
  void kill_all(pid_t runtime);
  std::vector<std::string> remove_stale_cgroups();

 private:
  std::set<pid_t> seen_;
  std::set<std::string> cgroups_before_, cgroups_;
};

// A program started without waiting, for signal and timing tests. Destroying a Running that
// was not waited for kills its process group and everything it left behind.
class Running {
 public:
  pid_t pid = -1;                    // the runtime; also its process group id

  Result wait(int timeout_seconds = 30);
  void signal(int sig);              // to the runtime only
  void signal_group(int sig);        // to its whole process group
  // Reads output until `needle` appears in stdout (true) or the timeout passes / the program
  // exits (false). What was read stays in the Result that wait() returns.
  bool wait_for_output(const std::string& needle, int timeout_seconds = 10);
  // A descendant of the runtime (seen from the host, any PID namespace) whose command line,
  // arguments joined by single spaces, is `cmdline`; waits for it up to the timeout, or until the
  // runtime has exited. -1 if none.
  pid_t find_process(const std::string& cmdline, int timeout_seconds = 10);
  // With Options::tmpfs_at or shared_root: the root of the runtime's mount namespace as the
  // test reaches it ("/proc/PID/root" of the namespace's holder), "" without.
  std::string holder_root() const;

  Running() = default;
  Running(Running&&) noexcept;
  Running& operator=(Running&&) noexcept;
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  ~Running();

 private:
  friend Running start(const std::vector<std::string>&, const Options&);
  bool pump(int timeout_ms);         // one poll round; false once stdout and stderr are closed
  void finish();
  void kill_everything();
  void remember(pid_t);              // a process of its container
  void remove_stale_cgroups();

  Options options_;
  Result result_;
  int in_ = -1, out_ = -1, err_ = -1;
  size_t written_ = 0;
  pid_t holder_ = -1;                // keeps the shared_root mount namespace alive
  ContainerTrace trace_;             // its container's processes seen by find_process and
                                     // wait_for_output, and their cgroups
  bool done_ = false;
};
Running start(const std::vector<std::string>& args, const Options& = {});

// A container running `sleep 1000` (container_args with these options), and the host PID of
// that sleep (-1 when it did not show up).
struct Sleeper {
  Running runtime;
  pid_t pid = -1;
  explicit Sleeper(const std::vector<std::string>& options = {}, const Options& how = {});
  Result stop();  // SIGKILL to the sleep (PID 1 from step 2 on): the container ends with 137
};

// Forks a child that runs `body`, which ends in execve or _exit, or closes `report` and goes on;
// a call that fails in it reports itself with child_fail(report, "call"). Waits until the report
// pipe closes and returns the child's pid; throws with the report when the child failed (and
// reaps it). In the child only async-signal-safe calls: the test process may have threads.
pid_t spawn(const std::function<void(int report)>& body);
// In a spawned child: reports `call` failing with errno, and _exits.
[[noreturn]] void child_fail(int report, const char* call);
// In a spawned child: execve(argv, envp) with every fd but 0, 1 and 2 closed, so that nothing
// of the test process reaches the program; but for `open_fds` (Options::open_fds).
[[noreturn]] void exec_with_stdio_only(int report, char* const argv[], char* const envp[],
                                       const std::map<int, int>& open_fds = {});

// The runtime started on a pseudo-terminal of the test's own, as from a terminal window: the
// test types into it, reads what a user would see, and what is left in its input queue, which
// the user's shell would read next. The test holds the terminal open all along, as that shell.
class Terminal {
 public:
  enum class Start {
    foreground,       // as `run ...` typed at a shell: the terminal's foreground process group
    background,       // as `run ... &`: started by the session's leader, in a group of its own
    stdin_from_pipe,  // as `... | run ...`: in the foreground, but stdin is a pipe (at its end)
  };
  explicit Terminal(const std::vector<std::string>& args, Start start = Start::foreground);
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Reads until `needle` shows up after what earlier calls consumed; false on timeout.
  bool expect(const std::string& needle, int seconds = 10);
  void type(const std::string& keys);
  // Waits for the runtime: its exit status (128+N if a signal killed it), -1 on timeout.
  int wait(int seconds);
  bool alive();
  // The window changes size: the kernel sends SIGWINCH to the terminal's foreground group.
  void resize(unsigned short rows, unsigned short columns);
  // The terminal's settings now (termios: echo, canonical mode, ...).
  termios settings() const;
  // What waits, unread, in the terminal's input queue (complete lines): what its shell would
  // read and run next.
  std::string unread_input();

  pid_t pid = -1;                    // the runtime; in the background, the session's leader
                                     // that started it and exits with its status
  std::string output;
  termios started_with{};            // its settings before the runtime started

 private:
  bool read_some(int timeout_ms);
  int master_ = -1;
  int terminal_ = -1;                // the test's own descriptor of the terminal (the shell's)
  size_t consumed_ = 0;
  bool exited_ = false;
  ContainerTrace container_;         // what a killed runtime leaves, removed after it
};

// A script prefix for cases that attack: the script stops at once (exit 99) unless it runs as
// PID 1 of a PID namespace, in mount and UTS namespaces other than the test's. Run against a
// runtime without them (step 1, or a broken step 5), an attack would otherwise hit the host.
std::string only_in_namespaces();

// --- the host's state ---------------------------------------------------------------------------
std::string read_first_line(const std::string& path);  // "" when it cannot be read
// Cgroup directories where a runtime would leave one, in every mounted hierarchy (v1 and v2):
// the top two levels, everything under this process's own cgroup, any path naming "workshop".
std::set<std::string> cgroup_dirs();
bool holds_processes(const std::string& cgroup_dir);

// Cgroup v2 only (statfs of /sys/fs/cgroup): else v1, or the hybrid of v1 and an empty v2.
bool cgroup_v2();
// The lines of a /proc/PID/cgroup text, "ID:CONTROLLERS:PATH": CONTROLLERS ("" for v2) -> PATH.
std::map<std::string, std::string> cgroup_paths(const std::string& proc_pid_cgroup);
// The cgroup directories of process `pid` ("self" for the test) for memory, pids and cpu, seen
// from the host: on v2 the same directory for all three, on v1 one per hierarchy. Empty when
// the process is gone.
std::map<std::string, std::string> cgroup_dirs_of(const std::string& pid);

// --- helpers for assertions -------------------------------------------------------------------
std::string read_file(const std::string& path);       // throws when it cannot be read
std::string own_namespace(const std::string& kind);   // readlink /proc/self/ns/<kind>
// One line of a mountinfo text: the fields the cases look at.
struct Mount {
  std::string device;                // "major:minor"
  std::string root;                  // the directory of the file system mounted here
  std::string point;                 // where it is mounted
  std::string options;               // per-mount options: "ro,nosuid,..."
  std::string type, source, super;   // file system type, source, super-block options
};
std::vector<Mount> mounts_of(const std::string& mountinfo);
// The mount seen at `point` (the last one mounted there), nullptr when there is none.
const Mount* mount_at(const std::vector<Mount>& mounts, const std::string& point);
const Mount* mount_at(std::vector<Mount>&&, const std::string&) = delete;  // would dangle
bool read_only(const Mount* m);      // false for nullptr
// "mount point, fs type, source" of every line of a mountinfo text (a multiset: order ignored).
std::multiset<std::string> mount_table(const std::string& mountinfo);
// Entries of `after` that are not in `before` (counted as multisets).
std::vector<std::string> added(const std::multiset<std::string>& before,
                               const std::multiset<std::string>& after);
// The process exists and is not a zombie.
bool is_alive(pid_t pid);
// The lines of a text, without their newlines.
std::vector<std::string> lines(const std::string& text);
bool has_line(const std::string& text, const std::string& line);
std::string last_line(const std::string& text);  // "" when there is none
// "Name:\tvalue" lines, as in /proc/PID/status: the value of `name`, "" when absent.
std::string field(const std::string& text, const std::string& name);
// The process whose /proc/PID/status is `status` has capability `cap` (CAP_SYS_ADMIN...) in its
// effective set.
bool has_capability(const std::string& status, int cap);
// docker's default capabilities less CAP_MKNOD (bit 27): CHOWN DAC_OVERRIDE FOWNER FSETID KILL
// SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT AUDIT_WRITE SETFCAP (step 5 keeps these).
constexpr uint64_t docker_capabilities_without_mknod = 0xa00425fb;
// A name unique to this test process and call, e.g. "workshop-probe-1234-7".
std::string unique_name(const std::string& prefix = "workshop-probe");
// A directory made on the host for the duration of a test, removed (if empty) at scope exit.
struct TempDir {
  std::string path;
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};
// A copy of the workshop's rootfs at `to` (an existing, empty directory), as built: without the
// directory steps 3 and 4 make in it.
void copy_rootfs(const std::string& to);

// The probe program (tests/probe/probe.cpp: the attacks busybox cannot make), on the host: next
// to the test program, where the build puts it.
const std::string& probe_program();

// The probe where the container of the step under test finds it, in a directory the case may
// add files to (device nodes, links), as the container sees them. Steps 1-2 see the host's files:
// the directory is one on the host. From step 3 on the container runs on a copy of the rootfs
// (`options`: --rootfs COPY), and the directory is /probe in it.
struct ProbeRootfs {
  TempDir dir;
  std::string inside;                // the directory, as the container sees it
  std::string on_host;               // the same directory, as the test reaches it
  std::vector<std::string> options;  // for the runtime: {"--rootfs", COPY} from step 3 on
  std::string probe() const { return inside + "/workshop-probe"; }
  ProbeRootfs();
};
// Non-empty description of how `r` breaks the error rule (docs/contract.md, "Exit status and
// errors"): exactly
// one line on stderr starting with "<program>: ", nothing on stdout, no C++ exception text, no
// bare errno number, exit status `status`. Empty when it keeps the rule.
std::string error_rule_violation(const Result& r, int status);

// The host guard (host_guard.cpp): a gtest Environment that snapshots the host's mounts,
// hostname, cgroup directories and the processes of the binary under test before the first
// test and reports every difference after the last. main.cpp installs it.
testing::Environment* new_host_guard();

}  // namespace workshop

// The error rule, as an assertion: EXPECT_RUNTIME_ERROR(result, 125);
#define EXPECT_RUNTIME_ERROR(result, status) \
  EXPECT_EQ(::workshop::error_rule_violation((result), (status)), "")

// Cases that need root call this first: outside CI it skips with the reason; under CI=true a
// skip would hide a missing check, so it fails instead.
#define WORKSHOP_SKIP_OR_FAIL_(reason)                                          \
  do {                                                                           \
    if (::workshop::in_ci()) GTEST_FAIL() << (reason) << " (CI=true: not skipped)"; \
    GTEST_SKIP() << (reason);                                                    \
  } while (0)

#define REQUIRE_ROOT()                                                                        \
  do {                                                                                        \
    if (!::workshop::is_root())                                                               \
      WORKSHOP_SKIP_OR_FAIL_("needs root (run the tests as root, e.g. sudo ctest ...)");     \
    if (!::workshop::namespaces_unavailable().empty())                                        \
      WORKSHOP_SKIP_OR_FAIL_("cannot create namespaces here: " +                              \
                             ::workshop::namespaces_unavailable());                           \
  } while (0)

// Running any container: step 1 needs no privileges, every later step needs root.
#define REQUIRE_CONTAINER_PRIVILEGES()        \
  do {                                        \
    if (::workshop::step() >= 2) REQUIRE_ROOT(); \
  } while (0)
