// The bonus: step 5 as an OCI runtime, the program podman (through conmon) calls to run a
// container: `create --bundle DIR ID`, `start ID`, `state ID`, `kill ID SIGNAL`, `delete ID`,
// `exec ... ID`, as runc's command line has them. Step 5's lessons, one file each, now take their
// values from the bundle's config.json (bundle.cpp); state.cpp keeps what one command leaves the
// next; lifecycle.cpp has start, kill and delete; exec.cpp enters a running container. This file
// parses the command line and runs create (parent and child) and exec, each a list of named steps.
#include "container.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <linux/sched.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ranges>
#include <string_view>

namespace {

constexpr const char* program = "bonus-oci";

// `docker run`'s exit statuses for a failure before COMMAND runs: podman finds which from the
// words of our message. (The runtime's own, 1 as runc's, is fail()'s default: cgroup.hpp.)
constexpr int cannot_execute = 126, not_found = 127;

// --log FILE, opened before anything else (exec enters the container's mount namespace, where
// the path means another file); --log-format json: one JSON object a line, as runc writes.
int log_fd = -1;
bool log_json = false;

}  // namespace

// fail() and must() are the other files' too: outside the anonymous namespace (cgroup.hpp).
[[noreturn]] void fail(const std::string& message, int status) {
  std::fprintf(stderr, "%s: %s\n", program, message.c_str());
  const std::string line = log_json ? nlohmann::json{{"level", "error"}, {"msg", message}}.dump() : std::string(program) + ": " + message;
  if (log_fd != -1) (void)!write(log_fd, (line + "\n").data(), line.size() + 1);
  std::exit(status);
}

// The article's must(): a failed system call stops the program, saying which and why.
long must(long result, const std::string& what) {
  if (result == -1) fail(what + ": " + std::strerror(errno));
  return result;
}

namespace {

std::vector<char*> as_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

//! [clone_child]
// fork(), but with clone flags: the place where step 2 asks for new namespaces. And where
// a cgroup v2 child is born in its cgroup, `cgroup` (a directory's fd; -1: the parent's).
pid_t clone_child(unsigned long flags, int cgroup) {
  clone_args args{.flags = flags, .exit_signal = SIGCHLD, .cgroup = static_cast<__u64>(cgroup)};
  if (cgroup != -1) args.flags |= CLONE_INTO_CGROUP;  // kernel 5.7+: it never runs outside
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}
//! [clone_child]

// What the commands take, parsed once by CLI11 (main, at the end).
struct Command {
  std::string id, bundle = ".", pid_file, console_socket, process, signal = "SIGTERM";
  std::vector<std::string> args;  // `exec ID COMMAND...` without --process
  bool force = false;
};

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

//! [create]
// `create`: the container, up to the execve of its command, and its state. Then we exit, and the
// child, which waits at exec.fifo for `start`, lives on: conmon is its parent now (a subreaper).
int create(const Command& c) {
  const Config config = read_bundle(c.bundle);
  if (config.terminal != !c.console_socket.empty()) fail("process.terminal and --console-socket go together: give both or neither");
  make_state_dir(c.id);
  const int pid_file = open_pid_file(c.pid_file), console = config.terminal ? connect_console(c.console_socket) : -1;
  int sockets[2];  // ours, the child's: it hands its terminal over, and says when it is set up
  must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), "socketpair");
  // Before the child, so that it starts inside: no instruction of COMMAND runs unlimited.
  const Cgroup cgroup = make_cgroup(config.cgroup.empty() ? std::string(program) + "-" + c.id : config.cgroup.substr(config.cgroup.starts_with('/')), config.limits);

  pid_t pid = clone_child(config.namespaces & ~CLONE_NEWCGROUP, cgroup.fd);
  if (pid == -1) remove_cgroup(cgroup);  // must() below exits: nothing else would remove it
  must(pid, "clone");
  if (pid == 0) {
    join_cgroup(cgroup);
    must(dup2(sockets[1], runtime_fd), "dup2");     // where child() looks for it, and
    must(fcntl(runtime_fd, F_SETFD, 0), "fcntl");  // open across execv
    const std::string bundle = std::filesystem::absolute(c.bundle);
    execv("/proc/self/exe", as_argv({program, "--root", state_root, "child", "--bundle", bundle, c.id}).data());
    fail(std::string("exec /proc/self/exe: ") + std::strerror(errno));
  }
  close(sockets[1]);
  if (!started(pid, sockets[0], console, pid_file)) {
    remove_cgroup(cgroup);
    return 1;  // and the state directory goes at exit (state.cpp)
  }
  save_state({.id = c.id, .bundle = std::filesystem::absolute(c.bundle), .rootfs = config.rootfs, .pid = pid, .start_time = start_time_of(pid), .cgroup = cgroup.dirs});
  return 0;
}
//! [create]

//! [bring_up_loopback]
// A new network namespace has one interface, lo, and it is down. Up, it also gets 127.0.0.1.
void bring_up_loopback() {
  const int fd = static_cast<int>(must(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
  ifreq lo{};
  std::strcpy(lo.ifr_name, "lo");
  must(ioctl(fd, SIOCGIFFLAGS, &lo), "read the flags of lo");
  lo.ifr_flags |= IFF_UP;
  must(ioctl(fd, SIOCSIFFLAGS, &lo), "bring lo up");
  close(fd);
}
//! [bring_up_loopback]

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

//! [child]
// `child`: runs in the new namespaces, sets up the container, and becomes COMMAND once started.
[[noreturn]] void child(const Config& config, const std::string& id) {
  // create() starts `child` as PID 1 of a new PID namespace, with its socket at runtime_fd: a
  // caller who types `child` has neither, and would set up mounts in their own namespaces.
  if (struct stat fd {}; getpid() != 1 || fstat(runtime_fd, &fd) == -1 || !S_ISSOCK(fd.st_mode))
    fail("'child' is internal: use 'create'");
  must(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)");  // until execve: see exec.cpp
  must(syscall(SYS_close_range, runtime_fd + 1, ~0U, 0), "close_range");  // the caller's open files
  const int fifo = static_cast<int>(must(open((state_dir(id) + "/exec.fifo").c_str(), O_PATH | O_CLOEXEC), "open exec.fifo"));
  join_namespaces(config.join);
  // The cgroup namespace's root is the cgroup we are in when we make it: ours, by now.
  if (config.namespaces & CLONE_NEWCGROUP) must(unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)");
  // The new mount namespace starts as a copy of the host's, sharing its propagation:
  // on a systemd host ("/" shared) a mount made here would appear on the host too.
  must(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  umask(config.user.umask);
  const int workdir = setup_rootfs(config);
  if (!config.hostname.empty()) must(sethostname(config.hostname.data(), config.hostname.size()), "sethostname");
  if (config.namespaces & CLONE_NEWNET) bring_up_loopback();
  become_command(config, workdir, fifo);
}
//! [child]

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

}  // namespace

int main(int argc, char** argv) {
  Command c;
  std::string log_file, log_format = "text";
  bool systemd_cgroup = false;
  CLI::App app{"An OCI runtime: step 5 of the container workshop, as podman and conmon call runc", program};
  app.set_version_flag("--version", std::string(program) + " version 1.0 (the container workshop's bonus)\nspec: 1.0.2");
  app.add_option("--root", state_root, "Where the state of the containers is kept")->capture_default_str();
  app.add_option("--log", log_file, "Also write errors to FILE");
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--systemd-cgroup", systemd_cgroup, "Refused: cgroups are made on the cgroup file system");
  app.require_subcommand(1);
  CLI::App* create_command = app.add_subcommand("create", "Create a container, waiting for `start`");
  CLI::App* internal = app.add_subcommand("child")->group("");  // hidden from --help
  for (CLI::App* command : {create_command, internal}) command->add_option("-b,--bundle", c.bundle, "The bundle: config.json's directory")->capture_default_str();
  create_command->add_option("--pid-file", c.pid_file, "Write the container's PID to FILE");
  create_command->add_option("--console-socket", c.console_socket, "Send the terminal's master to this unix socket");
  CLI::App* start = app.add_subcommand("start", "Run the command of a created container");
  CLI::App* state = app.add_subcommand("state", "Print a container's state as JSON");
  CLI::App* kill = app.add_subcommand("kill", "Send a signal to a container's first process");
  CLI::App* remove = app.add_subcommand("delete", "Forget a container, and remove its cgroup");
  remove->add_flag("-f,--force", c.force, "Kill it first if it still runs");
  CLI::App* exec = app.add_subcommand("exec", "Run a process in a running container");
  exec->add_option("-p,--process", c.process, "The process, as config.json's `process`");
  exec->add_option("--pid-file", c.pid_file, "Write its PID to FILE");
  exec->add_option("--console-socket", c.console_socket, "Send the terminal's master to this unix socket");
  exec->add_flag("-d,--detach,-t,--tty");  // conmon's; we always detach, and process.terminal says
  for (CLI::App* command : {create_command, internal, start, state, kill, remove, exec}) command->add_option("id", c.id, "The container's ID")->required();
  kill->add_option("signal", c.signal, "A number or a name (15, TERM, SIGTERM)")->capture_default_str();
  exec->add_option("command", c.args, "COMMAND [ARGS...], without --process");
  exec->positionals_at_end();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fail(std::string(e.what()) + " (see '" + program + " --help')");
  }
  log_json = log_format == "json";
  if (!log_file.empty()) log_fd = static_cast<int>(must(open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), "open " + log_file));
  if (systemd_cgroup) fail("systemd cgroups are not supported: run podman with --cgroup-manager cgroupfs");
  if (*internal) child(read_bundle(c.bundle), c.id);
  if (*create_command) return create(c);
  if (*start) return start_container(c.id);
  if (*state) return print_state(c.id);
  if (*kill) return kill_container(c.id, c.signal);
  if (*remove) return delete_container(c.id, c.force);
  return exec_process(c);
}
