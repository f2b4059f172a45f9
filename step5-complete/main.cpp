// Step 5, the complete container: step 4 plus the world a real runtime sets up before COMMAND
// runs, and the privileges it takes away. One file per lesson, in the chapter's order:
// rootfs.cpp (a throwaway root with /dev, /proc, /sys, /tmp and volumes; the old root gone),
// privileges.cpp (keyring, limits, capabilities, user, environment), seccomp.cpp (the system
// calls COMMAND may make), terminal.cpp (a terminal of its own), lifecycle.cpp (signals, death
// with the runtime, stale cgroups). This file parses the options and runs the two halves,
// parent() and child(), each a list of named steps.
#include "container.hpp"

#include <CLI/CLI.hpp>

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
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr const char* program = "step5-complete";

//! [clone_flags]
// New UTS (hostname), PID, mount and IPC namespaces; parent() adds a network namespace unless
// --net host. The cgroup namespace comes later (see child()).
constexpr unsigned long clone_flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC;
//! [clone_flags]

// `docker run`'s exit statuses for a failure before COMMAND runs. (The runtime's own, 125, is
// fail()'s default: cgroup.hpp.)
constexpr int cannot_execute = 126, not_found = 127;

}  // namespace

// fail() and must() are the other files' too: outside the anonymous namespace (cgroup.hpp).
[[noreturn]] void fail(const std::string& message, int status) {
  std::fprintf(stderr, "%s: %s\n", program, message.c_str());
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

//! [parent]
// `run`: re-execute this program as `child` with the same arguments, in new namespaces and a
// cgroup of its own; then relay its terminal, forward signals to it, and wait.
int parent(const Config& config, int argc, char** argv) {
  if (struct stat st {}; stat((config.rootfs + "/proc").c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    fail("rootfs '" + config.rootfs + "' is not a root filesystem: it has no /proc (build one with "
         "'cmake --build build --target rootfs' or pass --rootfs DIR)");
  std::vector<std::string> args{program, "child"};
  const bool terminal = on_a_terminal();  // then the container gets a terminal of its own
  if (terminal) args.push_back("--terminal");
  args.insert(args.end(), argv + 2, argv + argc);  // everything after `run`
  int sockets[2];  // ours, the child's: it hands its terminal over, and tells us apart from a caller
  must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), "socketpair");
  const sigset_t signals = block_signals();  // before the child: none is lost in between
  // Before the child, so that it starts inside: no instruction of COMMAND runs unlimited.
  const Cgroup cgroup = make_cgroup_sweeping(program, config.limits);

  pid_t pid = clone_child(clone_flags | (config.host_network ? 0 : CLONE_NEWNET), cgroup.fd);
  if (pid == -1) remove_cgroup(cgroup);  // must() below exits: nothing else would remove it
  must(pid, "clone");
  if (pid == 0) {
    join_cgroup(cgroup);
    must(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl");  // our death, even by SIGKILL, is the child's
    must(dup2(sockets[1], runtime_fd), "dup2");        // where child() looks for it, and
    must(fcntl(runtime_fd, F_SETFD, 0), "fcntl");     // open across execv
    execv("/proc/self/exe", as_argv(args).data());
    fail(std::string("exec /proc/self/exe: ") + std::strerror(errno));
  }
  close(sockets[1]);
  const int status = supervise(pid, terminal ? receive_terminal(sockets[0]) : -1, signals);
  if (oom_killed(cgroup)) std::fprintf(stderr, "%s: the container reached its memory limit: the kernel killed a process in it\n", program);
  remove_cgroup(cgroup);
  return status;
}
//! [parent]

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
// `child`: runs in the new namespaces, sets up the container, and becomes COMMAND. Each step is
// a function named for what it does; the chapter says why each comes where it does.
[[noreturn]] void child(const Config& config) {
  // parent() starts `child` as PID 1 of a new PID namespace, with its socket at runtime_fd: a
  // caller who types `child` has neither, and would set up mounts in their own namespaces.
  if (struct stat fd {}; getpid() != 1 || fstat(runtime_fd, &fd) == -1 || !S_ISSOCK(fd.st_mode))
    fail("'child' is internal: use 'run COMMAND'");
  must(syscall(SYS_close_range, runtime_fd + 1, ~0U, 0), "close_range");  // the caller's open files
  check_runtime_alive();
  // The cgroup namespace's root is the cgroup we are in when we make it: ours, by now.
  must(unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)");
  // The new mount namespace starts as a copy of the host's, sharing its propagation:
  // on a systemd host ("/" shared) a mount made here would appear on the host too.
  must(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  umask(0);  // every mode setup_rootfs() gives is its own: the caller's 077 would shut -u users out
  const int workdir = setup_rootfs(config);
  umask(022);  // docker's, for COMMAND
  must(sethostname(config.hostname.data(), config.hostname.size()), "sethostname");
  if (!config.host_network) bring_up_loopback();
  attach_terminal(config.terminal);
  join_session_keyring();
  limit_open_files();
  drop_capabilities();
  switch_user(config.user);
  check_runtime_alive();
  must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");  // setuid bits and file capabilities stop working
  const std::vector<std::string> env = container_environment(config);
  std::vector<char*> envp = as_argv(env);
  environ = envp.data();  // execvp searches this PATH and passes it all on
  must(fchdir(workdir), "chdir " + config.workdir);
  sigset_t none;  // parent() blocked signals, and the mask survives execve
  sigemptyset(&none);
  must(sigprocmask(SIG_SETMASK, &none, nullptr), "sigprocmask");
  must(syscall(SYS_close_range, runtime_fd, ~0U, 0), "close_range");  // our own: COMMAND gets 0, 1, 2
  apply_seccomp_filter();  // last: from here on it judges our own system calls too
  execvp(config.command[0].c_str(), as_argv(config.command).data());
  if (errno == ENOENT) fail("'" + config.command[0] + "' not found (is it in PATH?)", not_found);
  fail("cannot execute '" + config.command[0] + "': " + std::strerror(errno), cannot_execute);
}
//! [child]

//! [between]
// A limit's value is a number from `least` to `most`, checked here and rewritten plain for CLI11
// to store: CLI11's own Range lets through nan, numbers too large for the type (it stores the
// largest) and 010 (it reads octal).
template <typename Number>
CLI::Validator between(Number least, Number most) {
  return {[=](std::string& text) {
            Number value{};
            const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            const bool valid = error == std::errc{} && end == text.data() + text.size() && value >= least && value <= most;
            if (valid) text = std::to_string(value);
            return valid ? "" : "'" + text + "' is not a number from " + CLI::detail::to_string(least) + " to " + CLI::detail::to_string(most);
          }, ""};
}
//! [between]

//! [checks]
// RFC 1123: labels of letters, digits and '-', joined by '.'; a label neither empty nor starting
// or ending with '-'. So: no '-' or '.' next to a '.' or an end.
std::string valid_hostname(const std::string& name) {
  bool valid = !name.empty() && name.size() <= 64;
  for (size_t i = 0; valid && i < name.size(); ++i) {
    const char before = i == 0 ? '.' : name[i - 1], after = i + 1 == name.size() ? '.' : name[i + 1];
    valid = std::isalnum(static_cast<unsigned char>(name[i])) || ((name[i] == '-' || name[i] == '.') && before != '.' && after != '.');
  }
  return valid ? "" : "'" + name + "' is not a valid hostname: use at most 64 letters, digits, '-' and '.'";
}
//! [checks]

// `run` and `child` take the same options: parent() passes its own on.
void add_options(CLI::App& command, Config& config) {
  command.add_option("command", config.command, "COMMAND [ARGS...], passed untouched")->required();
  command.add_option("--rootfs", config.rootfs, "Root filesystem for the container")->capture_default_str();
  //! [limit_options]
  // --memory 64m: CLI11's AsSizeValue turns a number with a unit (k, m, g; any case) into bytes.
  command.add_option("--memory", config.limits.memory, "Memory limit, swap included: bytes, or with k, m, g (64m)")->type_name("SIZE")->transform(CLI::AsSizeValue(false) & between(1LL, LLONG_MAX));
  command.add_option("--pids", config.limits.pids, "Most processes (and threads) at once")->type_name("N")->transform(between(1LL, LLONG_MAX));
  // The kernel refuses a quota under 1 ms per 100 ms period: 0.01 CPU is the least.
  command.add_option("--cpus", config.limits.cpus, "Share of one CPU's time (0.5: half; 2: two CPUs)")->type_name("X")->transform(between<double>(0.01, sysconf(_SC_NPROCESSORS_ONLN)));
  //! [limit_options]
  //! [world_options]
  command.add_option("--tmpfs-size", config.tmpfs_size, "Room for writes in the writable layer, and in /tmp (default: a quarter of --memory, else 256m)")->type_name("SIZE")->transform(CLI::AsSizeValue(false) & between(1LL, LLONG_MAX));
  command.add_option("--hostname", config.hostname, "Hostname inside the container")->capture_default_str()->check(valid_hostname);
  // allow_extra_args(false): CLI11's vector options are greedy (`-e A=b sh` would eat sh).
  command.add_option("-e,--env", config.env, "Set KEY=VALUE in the container's environment")->allow_extra_args(false)->check([](const std::string& entry) { return entry.find('=') != std::string::npos && entry.front() != '=' ? "" : "'" + entry + "' is not KEY=VALUE: write -e " + entry + "=value"; });
  command.add_option("-w,--workdir", config.workdir, "Working directory, created if missing")->capture_default_str()->check([](const std::string& dir) { return dir.starts_with('/') ? "" : "'" + dir + "' is not an absolute path: write -w /" + dir; });
  // parse_user() and parse_volume() throw CLI::ValidationError, which CLI11 reports.
  command.add_option("-u,--user", "Run as UID[:GID] (numbers)")->type_name("UID[:GID]")->default_str("0:0")->take_last()->each([&](const std::string& text) { config.user = parse_user(text); });
  command.add_option("-v,--volume", "Bind HOSTDIR at DIR, read-only with :ro")->type_name("HOSTDIR:DIR[:ro]")->take_all()->allow_extra_args(false)->each([&](const std::string& text) { config.volumes.push_back(parse_volume(text)); });
  command.add_option("--net", "none: only lo, up; host: the host's network")->default_str("none")->check(CLI::IsMember({"none", "host"}))->each([&](const std::string& net) { config.host_network = net == "host"; });
  //! [world_options]
  command.positionals_at_end();  // options stop at COMMAND: `run ls -la` keeps -la for ls
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"Run a command in a child process (workshop step 5)", program};
  app.require_subcommand(1);
  add_options(*app.add_subcommand("run", "Run COMMAND in a container"), config);
  CLI::App* internal = app.add_subcommand("child")->group("");  // hidden from --help
  add_options(*internal, config);
  internal->add_flag("--terminal", config.terminal);  // parent() says so

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fail(std::string(e.what()) + " (see '" + program + " --help')");
  }
  if (*internal) child(config);
  return parent(config, argc, argv);
}
