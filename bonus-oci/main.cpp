// The bonus: step 5 as an OCI runtime, the program podman (through conmon) calls to run a
// container: `create --bundle DIR ID`, `start ID`, `state ID`, `kill ID SIGNAL`, `delete ID`,
// `exec ... ID`, as runc's command line has them. Step 5's lessons, one file each, now take their
// values from the bundle's config.json (bundle.cpp); state.cpp keeps what one command leaves the
// next; process.cpp is what becomes COMMAND; lifecycle.cpp has start, kill and delete; exec.cpp
// enters a running container. This file parses the command line and runs `create`: the parent
// and the child, each a list of named steps.
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
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace {

constexpr const char* program = "bonus-oci";

// --log FILE, opened before anything else (exec enters the container's mount namespace, where
// the path means another file); --log-format json: one JSON object a line, as runc writes.
int log_fd = -1;
bool log_json = false;

}  // namespace

// fail(), must() and clone_child() are the other files' too: outside the anonymous namespace.
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

//! [clone_child]
// fork(), but with clone flags: the place where step 2 asks for new namespaces. And where
// a cgroup v2 child is born in its cgroup, `cgroup` (a directory's fd; -1: the parent's).
pid_t clone_child(unsigned long flags, int cgroup) {
  clone_args args{.flags = flags, .exit_signal = SIGCHLD, .cgroup = static_cast<__u64>(cgroup)};
  if (cgroup != -1) args.flags |= CLONE_INTO_CGROUP;  // kernel 5.7+: it never runs outside
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}
//! [clone_child]

namespace {

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
