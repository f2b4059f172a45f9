// The bonus's lifecycle. In step 5 the runtime was the container's parent: it forwarded signals,
// waited, and cleaned up. Under podman the runtime exits after `create`, and the container's
// parent is conmon, which waits for it. What is left to the runtime are three commands, each a
// process of its own: `start` (let the waiting process run), `kill` (a signal to it), `delete`
// (what step 5 did after waitpid: kill what is left, remove the cgroup, and forget it).
#include "container.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace {

//! [open_process]
// A pidfd: a file descriptor for the process itself, not for its number. Checked against the
// saved start time once open, it names the container's process for good: a signal sent through
// it cannot reach another process that got the same PID later (pidfd_send_signal).
int open_process(const State& state) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, state.pid, 0));
  if (pidfd == -1 || start_time_of(state.pid) != state.start_time) return -1;
  return pidfd;
}
//! [open_process]

// "9", "KILL" or "SIGKILL": podman sends numbers, a person names.
int parse_signal(const std::string& text) {
  int number = 0;
  if (const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      error == std::errc{} && end == text.data() + text.size() && number > 0 && number < NSIG)
    return number;
  const std::string_view name = std::string_view(text).substr(text.starts_with("SIG") ? 3 : 0);
  for (int sig = 1; sig < NSIG; ++sig)
    if (const char* abbrev = sigabbrev_np(sig); abbrev && name == abbrev) return sig;
  fail("'" + text + "' is not a signal: give a number or a name, e.g. 15, TERM or SIGKILL");
}

}  // namespace

//! [wait_for_start]
// In the container, at the end of its set-up: open exec.fifo for writing, which blocks until
// `start` opens it for reading, and tell `start` so with a byte. `fifo` was opened (O_PATH) before
// pivot_root; /proc/self/fd reopens it, now from inside the container.
void wait_for_start(int fifo) {
  const int fd = static_cast<int>(must(open(("/proc/self/fd/" + std::to_string(fifo)).c_str(), O_WRONLY | O_CLOEXEC), "open exec.fifo"));
  must(write(fd, "0", 1), "write to exec.fifo");
  close(fd);
}
//! [wait_for_start]

//! [start_container]
// `start ID`: only once, and only while the process waits. O_NONBLOCK: the open does not wait for
// a writer (a process killed while it waited would never come); the byte, within 10 s, says that
// the process got past the fifo. Then the fifo goes: the container is running.
int start_container(const std::string& id) {
  const State state = existing_state(id);
  if (const Status status = status_of(state); status != Status::created)
    fail("cannot start container " + id + ": it is " + name_of(status));
  const std::string path = state_dir(id) + "/exec.fifo";
  pollfd fifo{.fd = static_cast<int>(must(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open " + path)), .events = POLLIN};
  char byte = 0;
  if (must(poll(&fifo, 1, 10000), "poll " + path) == 0 || read(fifo.fd, &byte, 1) != 1)
    fail("container " + id + " did not start: its process is gone, or stuck in its set-up");
  must(unlink(path.c_str()), "remove " + path);
  return 0;
}
//! [start_container]

//! [kill_container]
// `kill ID [SIGNAL]`: to the container's first process (PID 1 inside), created or running. A
// PID 1 ignores what it has no handler for: `podman stop` sends 15, waits, then sends 9.
int kill_container(const std::string& id, const std::string& signal) {
  const int sig = parse_signal(signal);
  const State state = existing_state(id);
  const int pidfd = open_process(state);
  if (pidfd == -1) fail("container " + id + " is not running");
  must(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0), "kill container " + id);
  return 0;
}
//! [kill_container]

//! [delete_container]
// `delete [--force] ID`: a stopped container's cgroup and state go; a live one's only with
// --force, after SIGKILL to PID 1. The kernel then kills every other process of its PID namespace
// before PID 1 is gone, so that when the pidfd turns readable, the cgroup is empty. An unknown ID
// with --force is no error: podman deletes after a failed create, whatever is left.
int delete_container(const std::string& id, bool force) {
  const std::optional<State> state = load_state(id);
  if (!state && force) {
    remove_state(id);  // a create that died before it saved its state
    return 0;
  }
  if (!state) fail("container " + id + " does not exist");
  if (const Status status = status_of(*state); status != Status::stopped) {
    if (!force) fail("cannot delete container " + id + ": it is " + name_of(status) + " (kill it first, or use --force)");
    if (pollfd process{.fd = open_process(*state), .events = POLLIN}; process.fd != -1) {
      must(syscall(SYS_pidfd_send_signal, process.fd, SIGKILL, nullptr, 0), "kill container " + id);
      if (must(poll(&process, 1, 10000), "wait for container " + id) == 0) fail("container " + id + " did not die within 10 s of SIGKILL");
    }
  }
  remove_cgroup({state->cgroup});
  remove_state(id);
  return 0;
}
//! [delete_container]
