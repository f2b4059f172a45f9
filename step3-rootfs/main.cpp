// Step 3, a root filesystem: step 2 plus --rootfs. The child bind-mounts the
// rootfs onto itself, pivot_roots into it and mounts a /proc of its own, so `/`
// is the rootfs and `ps` sees only the container. The old root stays reachable
// at /.pivot_root, as in the article; step 5 removes it.
#include <CLI/CLI.hpp>

#include <linux/sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* program = "step3-rootfs";

//! [clone_flags]
// New UTS (hostname), PID and mount namespaces for the child: the article's one line.
constexpr unsigned long clone_flags = CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS;
//! [clone_flags]

// `docker run`'s exit statuses for a failure before COMMAND runs.
constexpr int runtime_failed = 125, cannot_execute = 126, not_found = 127;

// parent() sets this in the child's environment, so `child` typed by hand is refused.
constexpr const char* child_marker = "WORKSHOP_CHILD";

struct Config {
  std::vector<std::string> command;
  std::string rootfs = WORKSHOP_ROOTFS;  // the workshop's built rootfs, set by CMake
};

[[noreturn]] void fail(const std::string& message, int status = runtime_failed) {
  std::fprintf(stderr, "%s: %s\n", program, message.c_str());
  std::exit(status);
}

// The article's must(): a failed system call stops the program, saying which and why.
long must(long result, const std::string& what) {
  if (result == -1) fail(what + ": " + std::strerror(errno));
  return result;
}

std::vector<char*> as_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

//! [clone_child]
// fork(), but with clone flags: the place where step 2 asks for new namespaces.
pid_t clone_child(unsigned long flags) {
  clone_args args{.flags = flags, .exit_signal = SIGCHLD};
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}
//! [clone_child]

//! [parent]
// `run`: re-execute this program as `child` with the same arguments, and wait.
int parent(const Config& config, int argc, char** argv) {
  if (struct stat st {}; stat((config.rootfs + "/proc").c_str(), &st) == -1 || !S_ISDIR(st.st_mode))
    fail("rootfs '" + config.rootfs + "' is not a root filesystem: it has no /proc (build one with "
         "'cmake --build build --target rootfs' or pass --rootfs DIR)");
  std::vector<std::string> args{program, "child"};
  args.insert(args.end(), argv + 2, argv + argc);  // everything after `run`
  must(setenv(child_marker, "1", 1), "setenv");

  pid_t pid = clone_child(clone_flags);
  if (pid == -1 && errno == EPERM) fail("creating namespaces needs root: run with sudo");
  must(pid, "clone");
  if (pid == 0) {
    execv("/proc/self/exe", as_argv(args).data());
    fail(std::string("exec /proc/self/exe: ") + std::strerror(errno));
  }
  int status = 0;
  must(waitpid(pid, &status, 0), "waitpid");
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);  // docker's 128+N
}
//! [parent]

//! [setup_rootfs]
void setup_rootfs(const std::string& rootfs) {
  // pivot_root wants the new root to be a mount point: bind-mount the rootfs onto itself.
  must(mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind mount " + rootfs);
  const std::string old_root = rootfs + "/.pivot_root";
  if (mkdir(old_root.c_str(), 0700) == -1 && errno != EEXIST) must(-1, "mkdir " + old_root);  // parallel runs share it
  must(syscall(SYS_pivot_root, rootfs.c_str(), old_root.c_str()), "pivot_root to " + rootfs);
  must(chdir("/"), "chdir /");
  // The PID namespace is new, but /proc still shows the host's: mount the container's own.
  must(mount("proc", "/proc", "proc", 0, nullptr), "mount /proc");
}
//! [setup_rootfs]

//! [child]
// `child`: runs in the new process; the next steps set up the container here.
[[noreturn]] void child(const Config& config) {
  if (std::getenv(child_marker) == nullptr) fail("'child' is internal: use 'run COMMAND'");
  must(unsetenv(child_marker), "unsetenv");
  // The new mount namespace starts as a copy of the host's, sharing its propagation:
  // on a systemd host ("/" shared) a mount made here would appear on the host too.
  must(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make mounts private");
  setup_rootfs(config.rootfs);
  execvp(config.command[0].c_str(), as_argv(config.command).data());
  if (errno == ENOENT) fail("'" + config.command[0] + "' not found (is it in PATH?)", not_found);
  fail("cannot execute '" + config.command[0] + "': " + std::strerror(errno), cannot_execute);
}
//! [child]

// `run` and `child` take the same options: parent() passes its own on.
void add_options(CLI::App& command, Config& config) {
  command.add_option("command", config.command, "COMMAND [ARGS...], passed untouched")->required();
  command.add_option("--rootfs", config.rootfs, "Root filesystem for the container")->capture_default_str();
  command.positionals_at_end();  // options stop at COMMAND: `run ls -la` keeps -la for ls
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"Run a command in a child process (workshop step 3)", program};
  app.require_subcommand(1);
  add_options(*app.add_subcommand("run", "Run COMMAND in a container"), config);
  CLI::App* internal = app.add_subcommand("child")->group("");  // hidden from --help
  add_options(*internal, config);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    fail(std::string(e.what()) + " (see '" + program + " --help')");
  }
  if (*internal) child(config);
  return parent(config, argc, argv);
}
