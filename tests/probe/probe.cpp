// workshop-probe: what the tests run inside a container when busybox cannot make the attack.
// Built by the suite, statically linked (it runs on any rootfs); a case copies it into the
// container's reach (tests/harness.hpp, ProbeRootfs). Each subcommand tries one attack and
// prints what happened, one line per attempt; the case decides what must hold.
//
//   workshop-probe fds                 the descriptors it was started with
//   workshop-probe tiocsti TEXT        pushes TEXT and a newline into every terminal it has
//   workshop-probe calls [NAME...]     the system calls docker's profile refuses, and a few it
//                                      allows: "NAME OK", "NAME EPERM", "NAME SIGSYS" (killed)
//   workshop-probe key DESCRIPTION     looks for a "user" key in the session and user keyrings,
//                                      and reads it
//   workshop-probe open PATH...        opens each for reading: "PATH OK" or "PATH EACCES"
//   workshop-probe traceme             PTRACE_TRACEME, a child that exits, then waits for
//                                      SIGTERM and exits with 42
//   workshop-probe exe                 writes through every /proc/PID/exe it sees, also after
//                                      that program exits (runc's CVE-2019-5736)
//
// Every call is one that would harm nothing if it worked, even as root on the host: a namespace
// of a child that exits at once, a key in a keyring that dies with it, a mount on a path that
// does not exist, invalid arguments to kexec_load and init_module. Each runs in a child process
// of its own: a call that works changes only that child (a mount would change its namespace).
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

const char* error_name(int error) {
  const char* name = strerrorname_np(error);
  return name ? name : "unknown-errno";
}

// --- calls ------------------------------------------------------------------------------------

long clone_newuser() {
  const long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid;
}

long clone3_newuser() {
  clone_args args{.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, 0);
  return pid;
}

long setns_own_user_namespace() {  // joining the namespace it is in: EINVAL where setns is allowed
  const int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  return fd < 0 ? fd : syscall(SYS_setns, fd, CLONE_NEWUSER);
}

long perf_event_on_self() {
  perf_event_attr attr{.type = PERF_TYPE_SOFTWARE, .size = sizeof attr, .config = PERF_COUNT_SW_CPU_CLOCK};
  attr.disabled = attr.exclude_kernel = attr.exclude_hv = 1;
  return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

long bpf_map_create() {
  bpf_attr attr{};  // no map type: EINVAL where bpf is allowed
  return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
}

long io_uring() {
  io_uring_params params{};
  return syscall(SYS_io_uring_setup, 1, &params);
}

long open_by_a_made_up_handle() {
  struct {
    file_handle handle;
    unsigned char bytes[8];
  } made_up{{.handle_bytes = 8, .handle_type = 1}, {}};
  return syscall(SYS_open_by_handle_at, AT_FDCWD, &made_up.handle, O_RDONLY);
}

long x32_getpid() { return syscall(0x40000000 | SYS_getpid); }  // __X32_SYSCALL_BIT

struct Call {
  const char* name;
  long (*attempt)();
};

// The list SeccompRefusesWhatDockerRefuses expects, in its order.
constexpr Call calls[] = {
    {"unshare-newuser", [] { return long(unshare(CLONE_NEWUSER)); }},
    {"setns-newuser", setns_own_user_namespace},
    {"clone-newuser", clone_newuser},
    {"clone3", clone3_newuser},
    {"keyctl", [] { return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }},
    {"add_key", [] { return syscall(SYS_add_key, "user", "workshop-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING); }},
    {"request_key", [] { return syscall(SYS_request_key, "user", "workshop-probe-missing", nullptr, 0); }},
    {"bpf", bpf_map_create},
    {"perf_event_open", perf_event_on_self},
    {"userfaultfd", [] { return syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY); }},
    {"io_uring_setup", io_uring},
    {"kexec_load", [] { return syscall(SYS_kexec_load, 0, 0, nullptr, 0x8000); }},  // no such flag: EINVAL
    {"init_module", [] { return syscall(SYS_init_module, nullptr, 0, ""); }},         // no module: ENOEXEC
    {"open_by_handle_at", open_by_a_made_up_handle},
    {"mount", [] { return long(mount("none", "/nonexistent-workshop-probe", "tmpfs", 0, nullptr)); }},  // ENOENT
    {"open_tree", [] { return syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLOEXEC); }},
    {"personality-read-implies-exec", [] { return long(personality(READ_IMPLIES_EXEC)); }},
    {"socket-vsock", [] { return long(socket(AF_VSOCK, SOCK_STREAM, 0)); }},
    {"socket-alg", [] { return long(socket(AF_ALG, SOCK_SEQPACKET, 0)); }},
    {"x32-getpid", x32_getpid},
    {"fork", [] {
       const pid_t pid = fork();
       if (pid == 0) _exit(0);
       if (pid > 0) waitpid(pid, nullptr, 0);
       return long(pid);
     }},
    {"socket-inet", [] { return long(socket(AF_INET, SOCK_DGRAM, 0)); }},
    {"personality-query", [] { return long(personality(0xffffffff)); }},
};

// Runs `call` in a child of its own: "NAME OK", "NAME ERRNO", or "NAME SIGNAL" when it was killed.
void try_call(const Call& call) {
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    const rlimit no_core{0, 0};  // a kill by seccomp would dump core
    setrlimit(RLIMIT_CORE, &no_core);
    errno = 0;
    _exit(call.attempt() == -1 ? errno : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) {
    std::printf("%s probe-failed\n", call.name);
    return;
  }
  if (WIFSIGNALED(status))
    std::printf("%s SIG%s\n", call.name, sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "NAL");
  else
    std::printf("%s %s\n", call.name, WEXITSTATUS(status) == 0 ? "OK" : error_name(WEXITSTATUS(status)));
}

int run_calls(int argc, char** argv) {
  for (const Call& call : calls) {
    bool wanted = argc == 0;
    for (int i = 0; i < argc; ++i) wanted = wanted || call.name == std::string_view(argv[i]);
    if (wanted) try_call(call);
  }
  return 0;
}

// --- descriptors and terminals ----------------------------------------------------------------

// Every open descriptor but the one reading /proc/self/fd.
template <typename Each>
void each_fd(Each each) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    std::printf("opendir /proc/self/fd: %s\n", error_name(errno));
    return;
  }
  for (dirent* entry; (entry = readdir(dir)) != nullptr;)
    if (entry->d_name[0] != '.' && std::atoi(entry->d_name) != dirfd(dir)) each(std::atoi(entry->d_name));
  closedir(dir);
}

int list_fds() {
  each_fd([](int fd) { std::printf("%d\n", fd); });
  return 0;
}

// TIOCSTI: the byte goes into the terminal's input queue, as if typed at it.
const char* push(int fd, std::string_view text) {
  for (const char c : text)
    if (ioctl(fd, TIOCSTI, &c) != 0) return error_name(errno);
  return ioctl(fd, TIOCSTI, "\n") == 0 ? "pushed" : error_name(errno);
}

int push_into_terminals(std::string_view text) {
  each_fd([&](int fd) {
    if (isatty(fd)) std::printf("fd %d: %s\n", fd, push(fd, text));
  });
  const int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);  // the controlling terminal
  std::printf("/dev/tty: %s\n", tty < 0 ? error_name(errno) : push(tty, text));
  return 0;
}

// --- keys, devices ----------------------------------------------------------------------------

// The user's keyring is linked into the session keyring first, as a login session has it: keys
// read by their number must be reachable from the caller's own keyrings.
int find_key(const char* description) {
  syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING);
  for (const auto& [name, keyring] : {std::pair{"session", KEY_SPEC_SESSION_KEYRING}, std::pair{"user", KEY_SPEC_USER_KEYRING}}) {
    const long key = syscall(SYS_keyctl, KEYCTL_SEARCH, keyring, "user", description, 0);
    char payload[256] = {};
    const long size = key < 0 ? -1 : syscall(SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload - 1);
    std::printf("%s: %s\n", name, size >= 0 ? payload : error_name(errno));
  }
  return 0;
}

int open_each(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    const int fd = open(argv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    std::printf("%s %s\n", argv[i], fd >= 0 ? "OK" : error_name(errno));
    if (fd >= 0) close(fd);
  }
  return 0;
}

// --- PID 1 that traces itself -----------------------------------------------------------------

int trace_itself() {
  std::printf("traceme %s\n", ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) == 0 ? "OK" : error_name(errno));
  std::signal(SIGTERM, [](int) { _exit(42); });
  const pid_t child = fork();  // its exit sends us SIGCHLD: a signal-delivery stop, as a tracee
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::printf("ready\n");
  std::fflush(stdout);
  for (int i = 0; i < 300; ++i) usleep(100000);  // SIGTERM ends this, else 30 s
  return 1;
}

// --- /proc/PID/exe ----------------------------------------------------------------------------

// Writes back the first bytes of the file behind `fd`, through /proc/self/fd: proof of write
// access that changes no byte (the case compares the time of the last change too).
bool write_through(int fd) {
  char path[64], first[4];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const int writable = open(path, O_RDWR | O_CLOEXEC);
  const bool wrote = writable >= 0 && pread(writable, first, sizeof first, 0) == sizeof first &&
                     pwrite(writable, first, sizeof first, 0) == sizeof first;
  if (writable >= 0) close(writable);
  return wrote;
}

int overwrite_exes() {
  int held[256], n = 0;
  char names[256][32];
  DIR* proc = opendir("/proc");
  for (dirent* entry; proc && (entry = readdir(proc)) != nullptr && n < 256;) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::snprintf(names[n], sizeof names[n], "/proc/%d/exe", pid);
    if ((held[n] = open(names[n], O_PATH | O_CLOEXEC)) >= 0) ++n;  // the file itself, held
  }
  if (proc) closedir(proc);
  std::printf("holding %d\n", n);
  std::fflush(stdout);
  // While a program runs, the kernel refuses to write to its file (ETXTBSY): try again for 2 s
  // from a process of its own, once they may have exited, as the CVE's exploit did.
  if (fork() != 0) return 0;
  setsid();
  for (int round = 0; round < 100 && n > 0; ++round, usleep(20000))
    for (int i = 0; i < n; ++i)
      if (held[i] >= 0 && write_through(held[i])) {
        std::printf("wrote %s\n", names[i]);
        std::fflush(stdout);
        held[i] = -1;
      }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view command = argc > 1 ? argv[1] : "";
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (command == "fds") return list_fds();
  if (command == "tiocsti" && argc == 3) return push_into_terminals(argv[2]);
  if (command == "calls") return run_calls(argc - 2, argv + 2);
  if (command == "key" && argc == 3) return find_key(argv[2]);
  if (command == "open") return open_each(argc - 2, argv + 2);
  if (command == "traceme") return trace_itself();
  if (command == "exe") return overwrite_exes();
  std::fprintf(stderr, "usage: workshop-probe fds | tiocsti TEXT | calls [NAME...] | key DESCRIPTION | open PATH... | traceme | exe\n");
  return 2;
}
