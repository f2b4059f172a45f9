// The bonus's process: what becomes COMMAND, the container's first process (main.cpp's child())
// and each `exec`'s alike. Step 5's last steps, from the terminal to execve, with one step more:
// the runtime learns that the process is set up, and may exit, before COMMAND runs. `create`
// writes the pid file then; conmon reads it, and waits for that process from then on.
#include "container.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ranges>
#include <string_view>

namespace {

// `docker run`'s exit statuses for a failure before COMMAND runs: podman finds which from the
// words of our message. (The runtime's own, 1 as runc's, is fail()'s default: cgroup.hpp.)
constexpr int cannot_execute = 126, not_found = 127;

//! [find_executable]
// COMMAND as execvp would find it in the container's PATH, looked for before `create` ends: a
// missing program is create's error, which podman reads: "not found" is 127, "permission" 126.
std::string find_executable(const std::string& command) {
  std::vector<std::string> candidates;
  if (command.find('/') != std::string::npos) candidates.push_back(command);
  else if (const char* path = std::getenv("PATH"))
    for (const auto dir : std::views::split(std::string_view(path), ':')) candidates.push_back(std::string(dir.begin(), dir.end()) + "/" + command);
  for (const auto& file : candidates)
    if (struct stat st {}; stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(file.c_str(), X_OK) == 0) return file;
      fail("cannot execute '" + command + "': permission denied", cannot_execute);
    }
  fail("'" + command + "': executable file not found in $PATH: no such file or directory", not_found);
}
//! [find_executable]

}  // namespace

std::vector<char*> as_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// The pid file names the host PID of the process that will run COMMAND; conmon reads it once we
// have exited, and waits for that process. Opened first: `exec` leaves the host's files behind.
int open_pid_file(const std::string& path) {
  return path.empty() ? -1 : static_cast<int>(must(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open " + path));
}

//! [started]
// Until the child is set up: it sends its terminal, if it makes one (passed on to the console
// socket), then one byte. End of file instead: it failed, and said why on our stderr.
bool started(pid_t pid, int socket, int console, int pid_file) {
  if (console != -1) send_terminal(console, receive_terminal(socket));
  char byte = 0;
  if (read(socket, &byte, 1) != 1) {
    waitpid(pid, nullptr, 0);
    return false;
  }
  const std::string text = std::to_string(pid);
  if (pid_file != -1) must(write(pid_file, text.data(), text.size()), "write the pid file");
  return true;
}
//! [started]

//! [become_command]
// The last steps of a container's process, the first one's (child()) and each `exec`'s alike:
// from the terminal on, as step 5's child(), then ready, then (the first one only) `start`.
[[noreturn]] void become_command(const Config& config, int workdir, int fifo) {
  attach_terminal(config.terminal);
  join_session_keyring();
  set_rlimits(config.rlimits);
  drop_capabilities(config.capabilities);
  switch_user(config.user);
  set_capabilities(config.capabilities);
  must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");  // setuid bits and file capabilities stop working
  std::vector<char*> envp = as_argv(config.env);
  environ = envp.data();  // find_executable() searches this PATH, and execv passes it all on
  must(fchdir(workdir), "chdir " + config.workdir);
  const std::string executable = find_executable(config.command[0]);
  must(write(runtime_fd, "r", 1), "tell the runtime");  // set up: it may exit now
  if (fifo != -1) wait_for_start(fifo);
  must(syscall(SYS_close_range, runtime_fd, ~0U, 0), "close_range");  // our own: COMMAND gets 0, 1, 2
  apply_seccomp_filter();  // last: from here on it judges our own system calls too
  execv(executable.c_str(), as_argv(config.command).data());
  fail("cannot execute '" + config.command[0] + "': " + std::strerror(errno), errno == ENOENT ? not_found : cannot_execute);
}
//! [become_command]
