// The test harness: see harness.hpp.
#include "harness.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <linux/magic.h>
#include <map>
#include <poll.h>
#include <pty.h>
#include <regex>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utmp.h>

namespace fs = std::filesystem;

namespace workshop {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

[[noreturn]] void fail_errno(const std::string& call) {
  fail(call + ": " + std::strerror(errno));
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// The absolute form of the path in environment variable `name`, which must exist.
std::string existing_path_from_env(const char* name, const char* what) {
  std::string value = env_or_empty(name);
  if (value.empty())
    fail(std::string(name) + " is not set: it names " + what +
         " (ctest sets it; to run by hand: WORKSHOP_STEP=N WORKSHOP_BINARY=... "
         "WORKSHOP_ROOTFS=... workshop-tests)");
  std::error_code ec;
  fs::path absolute = fs::absolute(value, ec);
  if (ec || !fs::exists(absolute, ec))
    fail(std::string(name) + "='" + value + "' does not exist: it must name " + what);
  return absolute.lexically_normal().string();
}

std::string join(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) {
    if (!line.empty()) line += ' ';
    const bool plain = !word.empty() && word.find_first_of(" \t\n'\"\\$`*?;&|<>()") ==
                                            std::string::npos;
    line += plain ? word : "'" + word + "'";
  }
  return line;
}

// The command line of a process, arguments joined by single spaces ("" when it is gone).
std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  return raw;
}

struct ProcessInfo {
  pid_t ppid = 0, pgid = 0;
};

// Parent and process group of every process on the host, from /proc/PID/stat.
std::map<pid_t, ProcessInfo> processes() {
  std::map<pid_t, ProcessInfo> result;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto paren = stat.rfind(')');  // the command name may contain anything
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    char state = 0;
    ProcessInfo info;
    if (rest >> state >> info.ppid >> info.pgid) result[std::stoi(name)] = info;
  }
  return result;
}

// Live descendants of `root` (not `root` itself), seen from this PID namespace; with `group`,
// also the members of process group `root`.
std::vector<pid_t> descendants(pid_t root, bool group = false) {
  const auto all = processes();
  std::vector<pid_t> found;
  for (const auto& [pid, info] : all) {
    bool match = pid != root && group && info.pgid == root;
    for (pid_t up = info.ppid; !match && up > 0;) {
      match = up == root;
      auto next = all.find(up);
      up = next == all.end() ? 0 : next->second.ppid;
    }
    if (match) found.push_back(pid);
  }
  return found;
}

bool is_zombie_or_gone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || stat.find_first_not_of(' ', paren + 1) == std::string::npos ||
         stat[stat.find_first_not_of(' ', paren + 1)] == 'Z';
}

// Processes the harness started and waits for itself (runtimes, mount-namespace holders):
// reap_orphans() must not take their exit status.
std::set<pid_t>& owned() {
  static std::set<pid_t> pids;
  return pids;
}

// Reaps every exited child of this process that the harness does not wait for itself:
// with the subreaper bit set, orphans of a runtime become our children.
void reap_orphans() {
  for (pid_t pid : descendants(getpid()))
    if (!owned().count(pid)) waitpid(pid, nullptr, WNOHANG);
}

// What a runtime left behind: live processes of its process group or below it, and the processes
// of its container seen while it ran (`seen`) and below them: a container in a session of its
// own that outlives its runtime comes back to the test, the subreaper, out of both the group and
// the runtime's tree. Only descendants of this test process count: once the runtime is reaped
// its process group id, and a seen process's id, may be reused (pid_max can be as low as 32768)
// by a process that is none of ours.
std::vector<pid_t> strays(pid_t runtime, const std::set<pid_t>& seen) {
  reap_orphans();
  const auto ours = descendants(getpid());
  std::set<pid_t> candidates;
  for (pid_t pid : descendants(runtime, true)) candidates.insert(pid);
  for (pid_t pid : seen) {
    candidates.insert(pid);
    for (pid_t below : descendants(pid)) candidates.insert(below);
  }
  std::vector<pid_t> alive;
  for (pid_t pid : candidates)
    if (!owned().count(pid) && !is_zombie_or_gone(pid) &&
        std::find(ours.begin(), ours.end(), pid) != ours.end())
      alive.push_back(pid);
  return alive;
}

void become_subreaper() {
  static const bool done = [] {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::signal(SIGPIPE, SIG_IGN);  // a program that stops reading its stdin must not kill us
    return true;
  }();
  (void)done;
}

// A forked process in a mount namespace of its own, as Options ask for: "/" made rshared (a
// systemd-like host) with shared_root, a tmpfs on tmpfs_at holding a file `marker` that says
// "workshop-submount". It waits until killed. Returns its pid.
pid_t start_mount_namespace_holder(const Options& options) {
  const char* submount = options.tmpfs_at.empty() ? nullptr : options.tmpfs_at.c_str();
  const std::string marker_path = options.tmpfs_at + "/marker";
  const char* marker = marker_path.c_str();
  const bool shared = options.shared_root;
  const pid_t holder = spawn([&](int report) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNS) != 0) child_fail(report, "unshare(CLONE_NEWNS)");
    // Private first, so that nothing propagates to the host's mounts even when the host's "/"
    // is itself shared; then shared again, in peer groups of this namespace's own.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      child_fail(report, "mount(/, MS_REC|MS_PRIVATE)");
    if (shared && mount(nullptr, "/", nullptr, MS_REC | MS_SHARED, nullptr) != 0)
      child_fail(report, "mount(/, MS_REC|MS_SHARED)");
    if (submount && mount("workshop-submount", submount, "tmpfs", 0, "mode=755") != 0)
      child_fail(report, "mount(tmpfs)");
    if (submount && shared && mount(nullptr, submount, nullptr, MS_SHARED, nullptr) != 0)
      child_fail(report, "mount(tmpfs, MS_SHARED)");
    if (submount) {
      const int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 || write(fd, "workshop-submount\n", 18) != 18) child_fail(report, "write marker");
      close(fd);
    }
    close(report);
    for (;;) pause();
  });
  owned().insert(holder);
  return holder;
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return x.substr(0, x.find('=')) == key;
    });
    if (!overridden) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& words) {
  std::vector<char*> pointers;
  for (auto& word : words) pointers.push_back(word.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  return parts;
}

struct Hierarchy {
  fs::path mount_point;
  fs::path own;  // this process's cgroup in it ("" when unknown)
};

// Every mounted cgroup hierarchy (v1 and v2) and this process's cgroup in each.
std::vector<Hierarchy> hierarchies() {
  const auto own_path = cgroup_paths(read_file("/proc/self/cgroup"));
  std::vector<Hierarchy> found;
  for (const Mount& m : mounts_of(read_file("/proc/self/mountinfo"))) {
    if (m.type != "cgroup" && m.type != "cgroup2") continue;
    Hierarchy h{m.point, {}};
    for (const auto& [controllers, path] : own_path) {
      bool match = m.type == "cgroup2" ? controllers.empty() : !controllers.empty();
      if (m.type == "cgroup")
        for (const auto& c : split(controllers, ','))
          match = match && std::ranges::count(split(m.super, ','), c) > 0;
      if (match && path.rfind(m.root, 0) == 0)
        h.own = h.mount_point / fs::path(path.substr(m.root.size())).relative_path();
    }
    found.push_back(h);
  }
  return found;
}

}  // namespace

// --- starting processes -----------------------------------------------------------------------

[[noreturn]] void child_fail(int report, const char* call) {
  const int saved = errno;
  const char* text = strerrordesc_np(saved);
  if (!text) text = "unknown error";
  // One write so the parent reads the whole message at once.
  char message[512];
  size_t n = 0;
  for (const char* parts[] = {call, ": ", text}; const char* part : parts)
    for (; *part && n < sizeof message; ++part) message[n++] = *part;
  [[maybe_unused]] auto ignored = write(report, message, n);
  _exit(127);
}

[[noreturn]] void exec_with_stdio_only(int report, char* const argv[], char* const envp[],
                                       const std::map<int, int>& open_fds) {
  // The fds to leave open are first copied above every number they go to, and `report` with
  // them (close-on-exec, all), so that putting one in place never closes another.
  int copies[16], n = 0;
  const int above = open_fds.empty() ? 3 : open_fds.rbegin()->first + 1;
  for (const auto& [to, from] : open_fds)
    if (n == 16 || (copies[n++] = fcntl(from, F_DUPFD_CLOEXEC, above)) < 0) child_fail(report, "copy an fd to leave open");
  if (const int moved = open_fds.empty() ? report : fcntl(report, F_DUPFD_CLOEXEC, above); moved < 0)
    child_fail(report, "move the report pipe");
  else
    report = moved;
  for (int fd = 3; fd < 1024; ++fd)
    if (fd != report && std::find(copies, copies + n, fd) == copies + n) close(fd);
  syscall(SYS_close_range, 1024u, ~0u, 0u);
  n = 0;
  for (const auto& [to, from] : open_fds)
    if (dup2(copies[n++], to) < 0) child_fail(report, "dup2 an fd to leave open");  // not close-on-exec
  // `report` is close-on-exec: it closes at execve, which tells the parent the exec worked.
  execve(argv[0], argv, envp);
  child_fail(report, "execve");
}

pid_t spawn(const std::function<void(int report)>& body) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) fail_errno("pipe2");
  const pid_t pid = fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    close(report[0]);
    body(report[1]);
    _exit(0);
  }
  close(report[1]);
  char buffer[512];
  const ssize_t n = read(report[0], buffer, sizeof buffer);  // EOF once the child closed it
  close(report[0]);
  if (n > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    fail(std::string(buffer, n));
  }
  return pid;
}

// --- what is under test -----------------------------------------------------------------------

int step() {
  const std::string value = env_or_empty("WORKSHOP_STEP");
  if (value.size() != 1 || value[0] < '1' || value[0] > '5')
    fail("WORKSHOP_STEP='" + value + "' must be one of 1, 2, 3, 4, 5: the step the program "
         "under test implements");
  return value[0] - '0';
}

const std::string& binary() {
  static const std::string path = existing_path_from_env("WORKSHOP_BINARY", "the program under test");
  return path;
}

const std::string& rootfs() {
  static const std::string path = existing_path_from_env("WORKSHOP_ROOTFS", "the built rootfs");
  return path;
}

const std::string& source_dir() {
  static const std::string path =
      existing_path_from_env("WORKSHOP_SOURCE_DIR", "the workshop's source tree");
  return path;
}

std::string program() { return fs::path(binary()).filename().string(); }

bool in_ci() { return env_or_empty("CI") == "true"; }

bool is_root() { return geteuid() == 0; }

const std::string& namespaces_unavailable() {
  static const std::string reason = []() -> std::string {
    if (!is_root()) return "not root";
    try {
      waitpid(spawn([](int report) {
                if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID) != 0)
                  child_fail(report, "unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID)");
              }),
              nullptr, 0);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }();
  return reason;
}

bool yes(std::string_view id) {
  const Row* row = find_row(id);
  if (!row) fail("no row '" + std::string(id) + "' in tests/matrix.hpp");
  return step() >= row->from_step;
}

// --- running ----------------------------------------------------------------------------------

std::ostream& operator<<(std::ostream& os, const Result& r) {
  os << "\n  command: " << r.command << "\n  status:  " << r.status;
  if (r.signal) os << " (the runtime was killed by signal " << r.signal << ")";
  if (r.timed_out) os << " (timed out, killed)";
  os << "\n  stdout:  [" << r.out << "]\n  stderr:  [" << r.err << "]";
  for (const auto& left : r.leftovers) os << "\n  left behind: " << left;
  return os << "\n";
}

Running start(const std::vector<std::string>& args, const Options& options) {
  become_subreaper();
  std::vector<std::string> argv = options.wrapper;
  argv.push_back(binary());
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envp = merged_environment(options.env);

  Running r;
  r.options_ = options;
  r.trace_ = ContainerTrace(cgroup_dirs());
  r.result_.command = join(argv);
  int ns_fd = -1;
  if (options.shared_root || !options.tmpfs_at.empty()) {
    r.holder_ = start_mount_namespace_holder(options);
    r.result_.mounts_before = read_file("/proc/" + std::to_string(r.holder_) + "/mountinfo");
    ns_fd = open(("/proc/" + std::to_string(r.holder_) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) fail_errno("open /proc/" + std::to_string(r.holder_) + "/ns/mnt");
  }

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) fail_errno("pipe2");
  auto c_argv = c_strings(argv);
  auto c_envp = c_strings(envp);
  const uid_t uid = options.uid.value_or(0);
  const gid_t gid = options.gid.value_or(options.uid ? gid_t(*options.uid) : 0);
  const char* cwd = options.cwd.c_str();

  const auto close_ours = [&] {
    for (int fd : {in[0], out[1], err[1], ns_fd})
      if (fd >= 0) close(fd);
  };
  try {
    r.pid = spawn([&](int report) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);  // SIGPIPE was ignored
      if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) child_fail(report, "dup2");
      if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNS) != 0) child_fail(report, "setns(mnt)");
      if (chdir(cwd) != 0) child_fail(report, "chdir");
      if (options.uid) {
        if (setgroups(0, nullptr) != 0) child_fail(report, "setgroups");
        if (setresgid(gid, gid, gid) != 0) child_fail(report, "setresgid");
        if (setresuid(uid, uid, uid) != 0) child_fail(report, "setresuid");
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // a change of uid clears it
      }
      exec_with_stdio_only(report, c_argv.data(), c_envp.data(), options.open_fds);
    });
  } catch (const std::exception& e) {
    close_ours();
    for (int fd : {in[1], out[0], err[0]}) close(fd);
    fail("cannot start " + r.result_.command + ": " + e.what());
  }
  owned().insert(r.pid);
  setpgid(r.pid, r.pid);  // also here, so the group exists before we may signal it
  close_ours();
  r.in_ = in[1];
  r.out_ = out[0];
  r.err_ = err[0];
  set_nonblocking(r.in_);
  set_nonblocking(r.out_);
  set_nonblocking(r.err_);
  if (options.input.empty()) {
    close(r.in_);
    r.in_ = -1;
  }
  return r;
}

std::string Running::holder_root() const {
  return holder_ > 0 ? "/proc/" + std::to_string(holder_) + "/root" : "";
}

Sleeper::Sleeper(const std::vector<std::string>& options, const Options& how)
    : runtime(start(container_args({"sleep", "1000"}, options), how)), pid(runtime.find_process("sleep 1000")) {}

Result Sleeper::stop() {
  if (pid > 0) kill(pid, SIGKILL);
  return runtime.wait();
}

// --- on a terminal ----------------------------------------------------------------------------

Terminal::Terminal(const std::vector<std::string>& args, Start start) {
  std::vector<std::string> argv{binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto c_argv = c_strings(argv);
  int terminal = -1;
  if (openpty(&master_, &terminal, nullptr, nullptr, nullptr) != 0) fail_errno("openpty");
  fcntl(master_, F_SETFD, FD_CLOEXEC);
  // The shell's own: another open file than the runtime's, which must stay blocking.
  terminal_ = open(ptsname(master_), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (terminal_ < 0) fail_errno("open the terminal");
  started_with = settings();
  container_ = ContainerTrace(cgroup_dirs());
  pid = spawn([&](int report) {  // a session of its own, on the terminal, in its foreground group
    if (login_tty(terminal) != 0) child_fail(report, "login_tty");
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    int end_of_pipe[2];
    if (start == Start::stdin_from_pipe &&
        (pipe(end_of_pipe) != 0 || close(end_of_pipe[1]) != 0 || dup2(end_of_pipe[0], 0) < 0))
      child_fail(report, "a pipe for stdin");
    if (start != Start::background) exec_with_stdio_only(report, c_argv.data(), environ);
    const pid_t runtime = fork();
    if (runtime < 0) child_fail(report, "fork");
    if (runtime == 0) {
      setpgid(0, 0);  // not the terminal's foreground group
      exec_with_stdio_only(report, c_argv.data(), environ);
    }
    close(report);
    int status = 0;
    waitpid(runtime, &status, 0);
    _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
  });
  close(terminal);
}

Terminal::~Terminal() {
  if (pid > 0 && !exited_) {
    killpg(pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    container_.kill_all(pid);  // a runtime killed cannot tear its container down
    container_.remove_stale_cgroups();
  }
  for (int fd : {master_, terminal_})
    if (fd >= 0) close(fd);
}

bool Terminal::expect(const std::string& needle, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (true) {
    if (const auto at = output.find(needle, consumed_); at != std::string::npos) {
      consumed_ = at + needle.size();
      container_.see_below(pid);  // it runs: its container is there to see
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(int(left.count()))) return false;
  }
}

void Terminal::type(const std::string& keys) { [[maybe_unused]] auto n = write(master_, keys.data(), keys.size()); }

int Terminal::wait(int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    read_some(50);
  }
  exited_ = true;
  while (read_some(50)) {  // what it wrote last
  }
  if (WIFSIGNALED(status)) {  // killed: it could not tear its container down
    container_.kill_all(pid);
    container_.remove_stale_cgroups();
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

bool Terminal::alive() { return !exited_ && waitpid(pid, nullptr, WNOHANG) == 0; }

void Terminal::resize(unsigned short rows, unsigned short columns) {
  const winsize size{.ws_row = rows, .ws_col = columns};
  if (ioctl(master_, TIOCSWINSZ, &size) != 0) fail_errno("TIOCSWINSZ");
}

termios Terminal::settings() const {
  termios now{};
  if (tcgetattr(terminal_, &now) != 0) fail_errno("tcgetattr");
  return now;
}

std::string Terminal::unread_input() {
  std::string input;
  char buffer[4096];
  for (ssize_t n; (n = read(terminal_, buffer, sizeof buffer)) > 0;) input.append(buffer, n);
  return input;
}

// False once nothing more comes: a timeout after the runtime exited, or EIO.
bool Terminal::read_some(int timeout_ms) {
  pollfd fd{.fd = master_, .events = POLLIN};
  if (poll(&fd, 1, timeout_ms) <= 0) return !exited_;  // nothing yet
  char buffer[4096];
  const ssize_t n = read(master_, buffer, sizeof buffer);
  if (n <= 0) return false;
  output.append(buffer, n);
  return true;
}

bool Running::pump(int timeout_ms) {
  pollfd fds[3] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}, {in_, POLLOUT, 0}};
  if (out_ < 0 && err_ < 0) return false;
  if (poll(fds, 3, timeout_ms) < 0 && errno != EINTR) fail_errno("poll");
  std::string* sinks[2] = {&result_.out, &result_.err};
  int* sources[2] = {&out_, &err_};
  for (int i = 0; i < 2; ++i) {
    if (*sources[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buffer[65536];
    const ssize_t n = read(*sources[i], buffer, sizeof buffer);
    if (n > 0) {
      sinks[i]->append(buffer, n);
    } else if (n == 0 || errno != EAGAIN) {
      close(*sources[i]);
      *sources[i] = -1;
    }
  }
  if (in_ >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
    const std::string& input = options_.input;
    const ssize_t n = write(in_, input.data() + written_, input.size() - written_);
    if (n > 0) written_ += n;
    if ((n < 0 && errno != EAGAIN) || written_ == input.size()) {
      close(in_);  // all written, or the program closed its stdin (EPIPE)
      in_ = -1;
    }
  }
  return out_ >= 0 || err_ >= 0;
}

bool Running::wait_for_output(const std::string& needle, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (result_.out.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !pump(int(left.count()))) return false;
  }
  for (pid_t p : descendants(pid)) remember(p);
  return true;
}

pid_t Running::find_process(const std::string& cmdline, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  do {
    for (pid_t p : descendants(pid))
      if (cmdline_of(p) == cmdline && !is_zombie_or_gone(p)) {
        remember(p);
        return p;
      }
    // Exited (a zombie until wait()): it starts nothing more, and what it started is ours now.
    if (is_zombie_or_gone(pid)) break;
    if (!pump(50))  // keep the pipes drained while we look
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  return -1;
}

void Running::signal(int sig) {
  if (!done_ && kill(pid, sig) != 0) fail_errno("kill(" + std::to_string(pid) + ")");
}

void Running::signal_group(int sig) {
  if (!done_ && killpg(pid, sig) != 0 && errno != ESRCH)
    fail_errno("killpg(" + std::to_string(pid) + ")");
}

Result Running::wait(int timeout_seconds) {
  using clock = std::chrono::steady_clock;
  if (done_) return result_;
  const auto deadline = clock::now() + std::chrono::seconds(timeout_seconds);
  std::optional<clock::time_point> exited_at;
  int status = 0;
  while (true) {
    if (!exited_at && waitpid(pid, &status, WNOHANG) == pid) exited_at = clock::now();
    const bool open = out_ >= 0 || err_ >= 0;
    if (exited_at && !open) break;
    // Exited, but something it left behind still holds stdout or stderr: finish() kills it.
    if (exited_at && clock::now() - *exited_at > std::chrono::milliseconds(500)) break;
    if (clock::now() >= deadline) {
      result_.timed_out = true;
      break;
    }
    if (open)
      pump(100);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (result_.timed_out) {
    ADD_FAILURE() << "timed out after " << timeout_seconds << " s; killed the process group"
                  << result_;
    killpg(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  } else if (WIFEXITED(status)) {
    result_.status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result_.signal = WTERMSIG(status);
    result_.status = 128 + result_.signal;
  }
  finish();
  return result_;
}

// After the runtime is gone: collect and kill processes it left behind, read the rest of the
// output and the shared namespace's mounts, close everything.
void Running::finish() {
  owned().erase(pid);
  done_ = true;
  // A container being torn down may take a moment; whatever is alive after a second is left over.
  auto alive = trace_.alive(pid);
  for (int i = 0; i < 20 && !alive.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    alive = trace_.alive(pid);
  }
  for (pid_t p : alive) result_.leftovers.push_back(std::to_string(p) + " " + cmdline_of(p));
  trace_.kill_all(pid);
  if (!result_.leftovers.empty() && !options_.expect_leftovers)
    ADD_FAILURE() << "processes outlived the runtime (killed now)" << result_;
  // A runtime killed, or gone before its container, could not remove the container's cgroups.
  if ((result_.signal || result_.timed_out || !alive.empty()) && !options_.keep_stale_cgroups) remove_stale_cgroups();
  for (int round = 0; round < 20 && pump(100); ++round) {
  }
  for (int* fd : {&in_, &out_, &err_})
    if (*fd >= 0) close(std::exchange(*fd, -1));
  if (holder_ > 0) {
    result_.mounts_after = read_file("/proc/" + std::to_string(holder_) + "/mountinfo");
    kill(holder_, SIGKILL);
    waitpid(holder_, nullptr, 0);
    owned().erase(holder_);
    holder_ = -1;
  }
}

void Running::remember(pid_t p) { trace_.see(p); }

// What a runtime killed by a signal (or by the harness, when it timed out), or gone before its
// container, could not remove: its container's cgroups, removed now and listed as leftovers.
void Running::remove_stale_cgroups() {
  for (const auto& dir : trace_.remove_stale_cgroups()) result_.leftovers.push_back("cgroup " + dir);
}

// Orphans of the runtime must come back to us to be found: the test process is a subreaper.
ContainerTrace::ContainerTrace(std::set<std::string> before) : cgroups_before_(std::move(before)) {
  become_subreaper();
}

void ContainerTrace::see(pid_t process) {
  seen_.insert(process);
  for (const auto& [controller, dir] : cgroup_dirs_of(std::to_string(process))) cgroups_.insert(dir);
}

void ContainerTrace::see_below(pid_t runtime) {
  for (pid_t p : descendants(runtime)) see(p);
}

std::vector<pid_t> ContainerTrace::alive(pid_t runtime) const { return strays(runtime, seen_); }

void ContainerTrace::kill_all(pid_t runtime) {
  auto left = alive(runtime);
  for (pid_t p : left) see(p);
  for (int round = 0; round < 100 && !left.empty(); ++round) {
    for (pid_t p : left) kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    left = alive(runtime);
  }
}

// The container's processes are gone by now, but rmdir may fail with EBUSY for a moment after
// the last one left.
std::vector<std::string> ContainerTrace::remove_stale_cgroups() {
  reap_orphans();  // a zombie of ours may still hold its cgroup
  std::vector<std::string> removed;
  for (const auto& dir : cgroups_) {
    if (cgroups_before_.count(dir) || !std::filesystem::exists(dir)) continue;
    for (int attempt = 0; attempt < 40 && rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    removed.push_back(dir);
  }
  return removed;
}

// For a Running destroyed without wait(): the test is over or failing, just clean up.
void Running::kill_everything() {
  if (pid <= 0 && holder_ > 0) {  // start() failed between the holder and the fork
    kill(holder_, SIGKILL);
    waitpid(holder_, nullptr, 0);
    owned().erase(std::exchange(holder_, -1));
  }
  if (pid <= 0 || done_) return;
  killpg(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  options_.expect_leftovers = true;
  result_.signal = SIGKILL;
  finish();
}

Running::Running(Running&& other) noexcept { *this = std::move(other); }

Running& Running::operator=(Running&& other) noexcept {
  if (this != &other) {
    kill_everything();
    pid = std::exchange(other.pid, -1);
    options_ = std::move(other.options_);
    result_ = std::move(other.result_);
    in_ = std::exchange(other.in_, -1);
    out_ = std::exchange(other.out_, -1);
    err_ = std::exchange(other.err_, -1);
    written_ = other.written_;
    holder_ = std::exchange(other.holder_, -1);
    trace_ = std::move(other.trace_);
    done_ = std::exchange(other.done_, true);
  }
  return *this;
}

Running::~Running() {
  try {
    kill_everything();
  } catch (...) {
  }
}

Result run(const std::vector<std::string>& args, const Options& options) {
  return start(args, options).wait(options.timeout_seconds);
}

std::vector<std::string> container_args(const std::vector<std::string>& command,
                                        const std::vector<std::string>& options) {
  std::vector<std::string> args{"run"};
  args.insert(args.end(), options.begin(), options.end());
  // No --rootfs: from step 3 on the program's default is the workshop's rootfs (docs/contract.md,
  // "The command line"), so a step-2 program graded as step 3 fails exactly the rootfs rows.
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

Result container(const std::vector<std::string>& command, const Options& options,
                 const std::vector<std::string>& runtime_options) {
  return run(container_args(command, runtime_options), options);
}

Result shell(const std::string& script, const Options& options,
             const std::vector<std::string>& runtime_options) {
  return container({"sh", "-c", script}, options, runtime_options);
}

// --- helpers for assertions -------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path + ": " + std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string own_namespace(const std::string& kind) {
  std::error_code ec;
  const auto target = fs::read_symlink("/proc/self/ns/" + kind, ec);
  if (ec) fail("readlink /proc/self/ns/" + kind + ": " + ec.message());
  return target.string();
}

std::vector<Mount> mounts_of(const std::string& mountinfo) {
  // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
  std::vector<Mount> found;
  for (const auto& line : lines(mountinfo)) {
    std::istringstream words(line);
    std::vector<std::string> f;
    for (std::string w; words >> w;) f.push_back(w);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || f.end() - dash < 4) continue;
    found.push_back({f[2], f[3], f[4], f[5], *(dash + 1), *(dash + 2), *(dash + 3)});
  }
  return found;
}

const Mount* mount_at(const std::vector<Mount>& mounts, const std::string& point) {
  const Mount* last = nullptr;
  for (const auto& m : mounts)
    if (m.point == point) last = &m;
  return last;
}

bool read_only(const Mount* m) { return m && ("," + m->options + ",").find(",ro,") != std::string::npos; }

std::multiset<std::string> mount_table(const std::string& mountinfo) {
  std::multiset<std::string> table;
  for (const Mount& m : mounts_of(mountinfo)) table.insert(m.point + " " + m.type + " " + m.source);
  return table;
}

std::vector<std::string> added(const std::multiset<std::string>& before,
                               const std::multiset<std::string>& after) {
  std::vector<std::string> extra;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(extra));
  return extra;
}

bool is_alive(pid_t pid) { return !is_zombie_or_gone(pid); }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) result.push_back(line);
  return result;
}

std::string field(const std::string& text, const std::string& name) {
  for (const auto& line : lines(text))
    if (line.starts_with(name + ":")) {
      const auto value = line.find_first_not_of(" \t", name.size() + 1);
      return value == std::string::npos ? "" : line.substr(value);
    }
  return "";
}

bool has_capability(const std::string& status, int cap) {
  const std::string effective = field(status, "CapEff");
  return !effective.empty() && (std::stoull(effective, nullptr, 16) >> cap & 1);
}

std::string last_line(const std::string& text) {
  const auto all = lines(text);
  return all.empty() ? "" : all.back();
}

bool has_line(const std::string& text, const std::string& line) {
  return std::ranges::count(lines(text), line) > 0;
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

TempDir::TempDir() {
  std::string pattern = "/tmp/" + unique_name() + "-XXXXXX";
  if (!mkdtemp(pattern.data())) fail_errno("mkdtemp " + pattern);
  chmod(pattern.c_str(), 0755);
  path = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void copy_rootfs(const std::string& to) {
  for (const auto& entry : fs::directory_iterator(rootfs()))
    if (entry.path().filename() != ".pivot_root")
      fs::copy(entry.path(), fs::path(to) / entry.path().filename(),
               fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

const std::string& probe_program() {
  static const std::string path = [] {
    const fs::path probe = fs::read_symlink("/proc/self/exe").parent_path() / "workshop-probe";
    if (!fs::exists(probe)) fail(probe.string() + " is missing: build it (cmake --build build --target workshop-probe)");
    return probe.string();
  }();
  return path;
}

ProbeRootfs::ProbeRootfs() : inside(dir.path), on_host(dir.path) {
  if (yes(row::rootfs_option)) {
    const std::string copy = dir.path + "/rootfs";
    fs::create_directory(copy);
    copy_rootfs(copy);
    inside = "/probe";
    on_host = copy + inside;
    options = {"--rootfs", copy};
    fs::create_directory(on_host);
  }
  fs::copy_file(probe_program(), on_host + "/workshop-probe");
}

std::string error_rule_violation(const Result& r, int status) {
  std::ostringstream why;
  if (r.status != status) why << "exit status " << r.status << ", expected " << status << "; ";
  if (!r.out.empty()) why << "wrote to stdout; ";
  const auto lines = std::count(r.err.begin(), r.err.end(), '\n');
  if (lines != 1 || r.err.back() != '\n')
    why << "stderr is " << lines << " line(s), expected exactly one ending in a newline; ";
  const std::string prefix = program() + ": ";
  if (r.err.rfind(prefix, 0) != 0) why << "stderr does not start with '" << prefix << "'; ";
  for (const char* crash : {"terminate called", "what()", "Aborted", "core dumped", "std::"})
    if (r.err.find(crash) != std::string::npos) why << "stderr shows a crash ('" << crash << "'); ";
  // A bare errno number: "errno", "error 13", "code -2", or a line ending in ": 2".
  static const std::regex bare_errno(R"((\berrno\b)|(\b(error|code|returned)\s*[:=]?\s*-?\d+\b)|(:\s*-?\d+\s*$))",
                                     std::regex::icase);
  const std::string line = r.err.substr(0, r.err.find('\n'));
  if (std::regex_search(line, bare_errno)) why << "stderr shows a bare errno number; ";
  if (r.signal) why << "the runtime was killed by signal " << r.signal << "; ";
  std::string text = why.str();
  if (!text.empty()) text += "result:" + ([&] {
                              std::ostringstream os;
                              os << r;
                              return os.str();
                            })();
  return text;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Directories where a runtime would leave a cgroup: the top two levels of every hierarchy,
// everything under this process's own cgroup, and any directory named like the workshop.
std::set<std::string> cgroup_dirs() {
  std::set<std::string> dirs;
  for (const auto& h : hierarchies()) {
    std::error_code ec;
    fs::recursive_directory_iterator it(h.mount_point, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
      const std::string path = it->path().string();
      const bool inside_own =
          !h.own.empty() && path.rfind(h.own.string() + "/", 0) == 0;
      if (it.depth() < 2 || inside_own || path.find("workshop") != std::string::npos)
        dirs.insert(path);
      if (it.depth() >= 8) it.disable_recursion_pending();
    }
  }
  return dirs;
}

bool cgroup_v2() {
  struct statfs st {};
  return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

std::map<std::string, std::string> cgroup_paths(const std::string& proc_pid_cgroup) {
  std::map<std::string, std::string> paths;
  for (const auto& line : lines(proc_pid_cgroup)) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (second != std::string::npos) paths[line.substr(first + 1, second - first - 1)] = line.substr(second + 1);
  }
  return paths;
}

std::map<std::string, std::string> cgroup_dirs_of(const std::string& pid) {
  std::map<std::string, std::string> dirs;
  std::ifstream in("/proc/" + pid + "/cgroup");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const bool v2 = cgroup_v2();
  for (auto [names, path] : cgroup_paths(text)) {
    if (path == "/") path.clear();
    for (const std::string controller : {"memory", "pids", "cpu"}) {
      if (v2 && names.empty()) dirs[controller] = "/sys/fs/cgroup" + path;
      if (!v2 && ("," + names + ",").find("," + controller + ",") != std::string::npos)
        dirs[controller] = "/sys/fs/cgroup/" + controller + path;
    }
  }
  return dirs;
}

std::string only_in_namespaces() {
  return "[ $$ = 1 ] && [ \"$(readlink /proc/self/ns/mnt)\" != '" + own_namespace("mnt") +
         "' ] && [ \"$(readlink /proc/self/ns/uts)\" != '" + own_namespace("uts") + "' ] || exit 99; ";
}

bool holds_processes(const std::string& cgroup_dir) {
  return !read_first_line(cgroup_dir + "/cgroup.procs").empty();
}

}  // namespace workshop
