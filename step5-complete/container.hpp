// Step 5's files, as main.cpp uses them: each file is one lesson of the chapter, one part of it.
// cgroup.hpp is step 4's, unchanged; it also declares main.cpp's fail().
#pragma once

#include "cgroup.hpp"

#include <signal.h>
#include <sys/types.h>

#include <optional>

// -u UID[:GID]. Without GID, the rootfs's /etc/passwd gives the user's group (privileges.cpp).
struct User { uid_t uid = 0; std::optional<gid_t> gid; };

// -v HOSTDIR:DIR[:ro]: the host's HOSTDIR, at DIR in the container.
struct Volume { std::string host, dir; bool read_only = false; };

// The options of `run` (and `child`), parsed once into what they mean.
struct Config {
  std::vector<std::string> command;
  std::string rootfs = WORKSHOP_ROOTFS;  // the workshop's built rootfs, set by CMake
  Limits limits;                         // for the container's cgroup (cgroup.hpp)
  long long tmpfs_size = 0;              // of the writable layer and of /tmp; 0: the default
  std::string hostname = "container";
  std::vector<std::string> env;          // -e KEY=VALUE, in order
  std::string workdir = "/";
  User user;
  std::vector<Volume> volumes;
  bool host_network = false;             // --net host (else none: a network of its own)
  bool terminal = false;                 // `child` only: parent() gives the container a pty
};

// main.cpp's must(): a failed system call stops the program, saying which and why.
long must(long result, const std::string& what);

// The child's end of its socket to the runtime (lifecycle.cpp, terminal.cpp) is this fd.
constexpr int runtime_fd = 3;

// rootfs.cpp: the container's root and its mounts; returns the workdir, open.
Volume parse_volume(const std::string& text);
int setup_rootfs(const Config& config);

// privileges.cpp: what root in the container may do, and as whom COMMAND runs.
User parse_user(const std::string& text);
void join_session_keyring();
void limit_open_files();
void drop_capabilities();
void switch_user(const User& user);
std::vector<std::string> container_environment(const Config& config);

// seccomp.cpp: the system calls COMMAND may make. The last step before execve.
void apply_seccomp_filter();

// terminal.cpp: a terminal of the container's own, or none.
bool on_a_terminal();
void attach_terminal(bool terminal);
int receive_terminal(int socket);
bool relay(int from, int to);
void copy_window_size(int terminal);

// lifecycle.cpp: the container starts and stops with its runtime, and never outlives it.
Cgroup make_cgroup_sweeping(const std::string& program, const Limits& limits);
sigset_t block_signals();
void check_runtime_alive();
int supervise(pid_t pid, int socket, const sigset_t& signals);
