// The bonus's exec: `podman exec` runs a new process in a running container. Nothing is made: the
// container's namespaces are joined, through their files in /proc/PID/ns (setns), and its cgroup;
// then main.cpp's exec_process() forks, and the new process takes the same last steps as the
// container's first one (become_command()). The danger is the runtime itself, inside.
#include "container.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
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
