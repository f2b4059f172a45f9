// The bonus's exec: `podman exec` runs a new process in a running container. Nothing is made: the
// container's namespaces are joined, through their files in /proc/PID/ns (setns), and its cgroup;
// then exec_process() forks, and the new process takes the same last steps as the container's
// first one (process.cpp). The danger is the runtime itself, inside.
#include "container.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterator>

namespace {

//! [namespaces]
// The order matters for two. The mount namespace last: after it, /proc/PID/ns is the container's
// /proc, where PID means another process or none. The PID namespace holds for our children only:
// we stay where we are, and the process we fork is born in the container's.
constexpr std::pair<const char*, int> namespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID},
    {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS}};
//! [namespaces]

}  // namespace

//! [enter_container]
// runc's CVE-2019-5736: `runc exec` re-executed runc inside the container, where a process of the
// container, as root, opened /proc/PID/exe of it, a link to the runtime's binary on the host, and
// wrote into that binary once runc had exited: the next runc, run as root on the host, was the
// attacker's. /proc/PID/exe (like /proc/PID/mem and the rest) opens only for whom ptrace(2) could
// trace PID; a process that is not "dumpable" can be traced only with CAP_SYS_PTRACE, which the
// container's root lacks. So we make ourselves non-dumpable before anything of the container's is
// ours, and our children stay so until their execve of the container's program. (runc now also
// runs from a sealed copy of its binary in memory.)
void enter_container(const State& state) {
  must(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)");
  int fds[std::size(namespaces)];
  for (size_t i = 0; i < std::size(namespaces); ++i) {
    const std::string path = "/proc/" + std::to_string(state.pid) + "/ns/" + namespaces[i].first;
    fds[i] = static_cast<int>(must(open(path.c_str(), O_RDONLY | O_CLOEXEC), "open " + path));
  }
  // Opened, they are the namespaces of the process whose start time we saved, or of another that
  // got its PID: checked after, so that nothing can change in between.
  if (start_time_of(state.pid) != state.start_time) fail("container " + state.id + " is not running", 255);
  enter_cgroup({state.cgroup});  // from the host's /sys/fs/cgroup: before the mount namespace
  for (size_t i = 0; i < std::size(namespaces); ++i) {
    must(setns(fds[i], namespaces[i].second), std::string("setns ") + namespaces[i].first);
    close(fds[i]);
  }
}
//! [enter_container]

//! [join_namespaces]
// For `create`: the namespaces config.json gives a path for, which the engine made (podman's
// network namespace, /run/netns/netns-UUID, with the container's network in it) are joined, not made.
void join_namespaces(const std::vector<std::pair<int, std::string>>& join) {
  for (const auto& [type, path] : join) {
    const int fd = static_cast<int>(must(open(path.c_str(), O_RDONLY | O_CLOEXEC), "open " + path));
    must(setns(fd, type), "setns " + path);
    close(fd);
  }
}
//! [join_namespaces]

//! [exec_process]
// `exec`: a process in a running container. We enter it (exec.cpp), then fork: the child is born
// in its PID namespace, and takes the last steps of child(). It outlives us, as create's does.
int exec_process(const Command& c) {
  const std::optional<State> state = load_state(c.id);
  if (!state || status_of(*state) != Status::running) fail("container " + c.id + " does not exist or is not running", 255);
  Config config = c.process.empty() ? read_bundle(state->bundle) : read_process_file(c.process);
  if (c.process.empty() && c.args.empty()) fail("exec: give --process FILE or a COMMAND to run in " + c.id);
  if (c.process.empty()) config.command = c.args;
  if (config.terminal != !c.console_socket.empty()) fail("process.terminal and --console-socket go together: give both or neither");
  const int pid_file = open_pid_file(c.pid_file), console = config.terminal ? connect_console(c.console_socket) : -1;
  enter_container(*state);
  int sockets[2];
  must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), "socketpair");
  const pid_t pid = static_cast<pid_t>(must(clone_child(0, -1), "clone"));
  if (pid == 0) {
    must(dup2(sockets[1], runtime_fd), "dup2");
    must(syscall(SYS_close_range, runtime_fd + 1, ~0U, 0), "close_range");  // the caller's open files
    umask(config.user.umask);
    become_command(config, static_cast<int>(must(open(config.workdir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open " + config.workdir)), -1);
  }
  close(sockets[1]);
  return started(pid, sockets[0], console, pid_file) ? 0 : 1;
}
//! [exec_process]
