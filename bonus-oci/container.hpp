// The bonus's files, as main.cpp uses them: step 5's lessons, each file one part of the chapter,
// plus the OCI's: bundle.cpp (config.json), state.cpp (the state on disk), exec.cpp (entering a
// container). cgroup.hpp is step 5's; it also declares main.cpp's fail().
#pragma once

#include "cgroup.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>

// process.user: as whom COMMAND runs. podman looks the names up in the image's /etc/passwd.
struct User { uid_t uid = 0; gid_t gid = 0; std::vector<gid_t> additional_gids; mode_t umask = 022; };

// One mount, as an OCI config.json lists them. `type` is a file system's, or "bind" (`source`
// bound at `target`; no source: `target` onto itself), or "mask" (`target` hidden).
struct Mount {
  std::string source, target, type;
  unsigned long flags = 0;
  std::string data;  // the file system's options
};

// process.capabilities: a bit for each capability, in each of the sets the spec names.
struct Capabilities { uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0; };

// process.rlimits: RLIMIT_NOFILE and the rest, each with its soft and hard value.
struct Rlimit { std::string name; int resource; rlim_t soft, hard; };

// The bundle's config.json (bundle.cpp), read once into what it means: step 5's options, now
// fields of the spec. `exec` reads a `process` object alone into the same fields.
struct Config {
  std::vector<std::string> command;      // process.args
  std::string rootfs;                    // root.path: podman's overlay, mounted
  bool read_only_root = false;           // root.readonly
  Limits limits;                         // linux.resources, for the container's cgroup (cgroup.hpp)
  std::string cgroup;                    // linux.cgroupsPath, below /sys/fs/cgroup[/CONTROLLER]
  std::string hostname;                  // empty: the UTS namespace's, as it is
  std::vector<std::string> env;          // process.env, complete: nothing else is added
  std::string workdir = "/";             // process.cwd
  User user;
  Capabilities capabilities;
  std::vector<Rlimit> rlimits;
  std::vector<Mount> mounts;             // mounts, in order
  std::vector<std::string> masked_paths, read_only_paths;  // linux.maskedPaths, readonlyPaths
  std::vector<std::pair<std::string, std::string>> sysctl;  // linux.sysctl
  unsigned long namespaces = 0;          // linux.namespaces to make: CLONE_NEWPID and the rest
  std::vector<std::pair<int, std::string>> join;  // and to join: a type, a path (podman's network)
  bool terminal = false;                 // process.terminal: a pty, sent to --console-socket
};

// What the commands take, parsed once by CLI11 (main.cpp's main()).
struct Command {
  std::string id, bundle = ".", pid_file, console_socket, process, signal = "SIGTERM";
  std::vector<std::string> args;  // `exec ID COMMAND...` without --process
  bool force = false;
};

// main.cpp's must(): a failed system call stops the program, saying which and why; and clone3.
long must(long result, const std::string& what);
pid_t clone_child(unsigned long flags, int cgroup);

// The child's end of its socket to the runtime (main.cpp, terminal.cpp) is this fd.
constexpr int runtime_fd = 3;

// bundle.cpp: an OCI bundle's config.json, and `exec`'s process.json.
Config read_bundle(const std::string& bundle);
Config read_process_file(const std::string& path);

// state.cpp: what the runtime remembers of a container between two commands.
struct State {
  std::string id, bundle, rootfs, created;
  pid_t pid = 0;
  unsigned long long start_time = 0;     // of `pid`: field 22 of /proc/PID/stat
  std::vector<std::string> cgroup;       // its directories
};
enum class Status { created, running, stopped };
extern std::string state_root;           // --root
std::string state_dir(const std::string& id);
State existing_state(const std::string& id);
int print_state(const std::string& id);
void make_state_dir(const std::string& id);
void save_state(const State& state);
std::optional<State> load_state(const std::string& id);
void remove_state(const std::string& id);
unsigned long long start_time_of(pid_t pid);
Status status_of(const State& state);
const char* name_of(Status status);

// process.cpp: what becomes COMMAND, for `create` and `exec` alike.
std::vector<char*> as_argv(const std::vector<std::string>& args);
int open_pid_file(const std::string& path);
bool started(pid_t pid, int socket, int console, int pid_file);
[[noreturn]] void become_command(const Config& config, int workdir, int fifo);

// rootfs.cpp: the container's root and its mounts; returns the workdir, open.
int setup_rootfs(const Config& config);

// privileges.cpp: what root in the container may do, and as whom COMMAND runs.
void join_session_keyring();
void set_rlimits(const std::vector<Rlimit>& rlimits);
void drop_capabilities(const Capabilities& capabilities);
void switch_user(const User& user);
void set_capabilities(const Capabilities& capabilities);

// seccomp.cpp: the system calls COMMAND may make. The last step before execve.
void apply_seccomp_filter();

// terminal.cpp: a terminal of the container's own, or none; its master goes to the console socket.
int connect_console(const std::string& path);
void attach_terminal(bool terminal);
int receive_terminal(int socket);
void send_terminal(int console, int terminal);

// lifecycle.cpp: after `create`, the container's life is conmon's: these commands are asked of us.
void wait_for_start(int fifo);
int start_container(const std::string& id);
int kill_container(const std::string& id, const std::string& signal);
int delete_container(const std::string& id, bool force);

// exec.cpp: a new process in a running container's namespaces and cgroup; the engine's namespaces.
void enter_container(const State& state);
int exec_process(const Command& c);
void join_namespaces(const std::vector<std::pair<int, std::string>>& join);
