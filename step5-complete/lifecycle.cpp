// Step 5's lifecycle: the container starts and stops with its runtime. Signals sent to the
// runtime reach it (and a PID 1 that ignores them is killed after a grace period); it dies with
// the runtime, even one killed outright; and what such a runtime leaves, its cgroup, the next
// one removes.
#include "container.hpp"

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

namespace {

//! [grace]
// How long PID 1 may take to exit after a forwarded signal before it is SIGKILLed: enough for
// a program that handles SIGTERM to finish writing; short enough that whoever stops the runtime
// (kill, systemd, a Ctrl-C) is not kept waiting. (`docker stop` waits 10 s.)
constexpr auto grace = std::chrono::seconds(2);
//! [grace]

}  // namespace

//! [make_cgroup_sweeping]
// A runtime killed outright (SIGKILL) cannot remove its cgroup. So each runtime holds a lock
// (flock) on its cgroup's directories while it lives, which the kernel drops when it dies, however
// it dies, and each run first removes the cgroups named PROGRAM-* that nobody holds: their
// runtime is dead. (Not "is the PID in the name alive?": PIDs are reused, and a runtime in another
// PID namespace sees other processes under them.) A lock on /sys/fs/cgroup itself, meanwhile,
// keeps two runs from being at it at once: else one could sweep the other's new cgroup.
Cgroup make_cgroup_sweeping(const std::string& program, const Limits& limits) {
  const int all = static_cast<int>(must(open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open /sys/fs/cgroup"));
  must(flock(all, LOCK_EX), "lock /sys/fs/cgroup");
  glob_t stale{};  // v2: right below the root; v1: in each controller's hierarchy
  glob(("/sys/fs/cgroup/" + program + "-*").c_str(), 0, nullptr, &stale);
  glob(("/sys/fs/cgroup/{memory,pids,cpu}/" + program + "-*").c_str(), GLOB_APPEND | GLOB_BRACE, nullptr, &stale);
  for (size_t i = 0; i < stale.gl_pathc; ++i) {
    const int fd = open(stale.gl_pathv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1 && flock(fd, LOCK_EX | LOCK_NB) == 0)  // EBUSY: its last processes are exiting
      for (int attempt = 0; rmdir(stale.gl_pathv[i]) == -1 && errno == EBUSY && attempt < 100; ++attempt) usleep(1000);
    if (fd != -1) close(fd);
  }
  globfree(&stale);
  const Cgroup cgroup = make_cgroup(program + "-" + std::to_string(getpid()), limits);
  for (const auto& dir : cgroup.dirs)  // these file descriptors stay open, and locked, until we exit
    must(flock(static_cast<int>(must(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open " + dir)), LOCK_EX), "lock " + dir);
  close(all);
  return cgroup;
}
//! [make_cgroup_sweeping]

//! [block_signals]
// The signals supervise() takes, blocked before the clone so that none is lost in between: no
// handler runs, a signalfd reads them. (The child unblocks them: the mask survives execve.)
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGWINCH}) sigaddset(&signals, sig);
  must(sigprocmask(SIG_BLOCK, &signals, nullptr), "sigprocmask");
  return signals;
}
//! [block_signals]

//! [check_runtime_alive]
// PR_SET_PDEATHSIG kills the child when the runtime dies, but only once asked for: not if the
// runtime died before (right after the clone, or during the user switch, which clears it). The
// runtime never writes to the socket, and its end closes only when it exits: anything to read
// is end of file.
void check_runtime_alive() {
  pollfd runtime{.fd = runtime_fd, .events = POLLIN};
  if (poll(&runtime, 1, 0) != 0) std::exit(125);  // nobody is left to tell
}
//! [check_runtime_alive]

//! [supervise]
// Until the container exits: relays its terminal, if it has one (`terminal`, else -1); forwards
// SIGINT, SIGTERM and SIGHUP to its PID 1, and SIGKILLs it `grace` after the first (PID 1 ignores
// every signal it has no handler for); passes on the window size. Returns its exit status as
// docker does: COMMAND's, or 128+N when signal N killed it.
int supervise(pid_t pid, int terminal, const sigset_t& signals) {
  const int events = static_cast<int>(must(signalfd(-1, &signals, SFD_CLOEXEC), "signalfd"));
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  pollfd fds[] = {{events, POLLIN, 0}, {terminal, POLLIN, 0}, {terminal == -1 ? -1 : STDIN_FILENO, POLLIN, 0}};
  int status = 0;
  while (must(waitpid(pid, &status, WNOHANG), "waitpid") != pid || WIFSTOPPED(status)) {
    if (WIFSTOPPED(status)) {  // PID 1 asked to be traced (PTRACE_TRACEME), by us: let it go on
      ptrace(PTRACE_DETACH, pid, nullptr, WSTOPSIG(status));
      status = 0;
    }
    int wait = -1;  // milliseconds to the end of the grace period, when one runs
    if (kill_at) wait = std::max(0, static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*kill_at - std::chrono::steady_clock::now()).count()));
    if (must(poll(fds, 3, wait), "poll") == 0) {
      kill(pid, SIGKILL);  // the grace period is over
      kill_at.reset();
    }
    if (fds[1].revents && !relay(terminal, STDOUT_FILENO)) fds[1].fd = -1;  // the container's output
    if (fds[2].revents && !relay(STDIN_FILENO, terminal)) fds[2].fd = -1;   // what the caller types
    signalfd_siginfo signal{};
    if (!fds[0].revents || read(events, &signal, sizeof signal) != sizeof signal) continue;
    if (signal.ssi_signo == SIGWINCH && terminal != -1) copy_window_size(terminal);
    if (signal.ssi_signo == SIGINT || signal.ssi_signo == SIGTERM || signal.ssi_signo == SIGHUP) {
      kill(pid, static_cast<int>(signal.ssi_signo));
      if (!kill_at) kill_at = std::chrono::steady_clock::now() + grace;
    }
  }
  while (terminal != -1 && poll(&fds[1], 1, 0) == 1 && relay(terminal, STDOUT_FILENO)) {}  // its last words
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);  // docker's 128+N
}
//! [supervise]
