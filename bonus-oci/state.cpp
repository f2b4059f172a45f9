// The bonus's state on disk. The runtime exits after every command, and the next command is
// another process: what it must know of a container is kept in ROOT/ID/ (ROOT: --root, by
// default /run/bonus-oci, as runc keeps /run/runc): state.json, and exec.fifo from `create` to
// `start`. The status is not kept: each command works it out from the saved PID.
#include "container.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using json = nlohmann::json;

std::string state_root = "/run/bonus-oci";

namespace {

// The state directory this `create` made, and the process that made it: removed if it fails.
std::string made_by_us;
pid_t maker = 0;

//! [valid_id]
// The ID names a directory under ROOT: letters, digits and _+-. only, as runc allows, so that
// `create --bundle B ../../etc` cannot make or remove anything outside it.
void check_id(const std::string& id) {
  const bool valid = !id.empty() && id != "." && id != ".." && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.';
  });
  if (!valid) fail("'" + id + "' is not a valid container ID: use letters, digits, '_', '+', '-' and '.'");
}
//! [valid_id]

// At exit, after a failed `create`: its state goes, so that the ID can be used again. (Only in
// the process that made it: not in a child that exits early.)
void remove_if_failed() {
  if (!made_by_us.empty() && getpid() == maker) std::filesystem::remove_all(made_by_us);
}

// The time, as the spec's `created` has it (RFC 3339, UTC).
std::string now() {
  const std::time_t time = std::time(nullptr);
  std::tm utc{};
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&time, &utc));
  return text;
}

}  // namespace

std::string state_dir(const std::string& id) {
  check_id(id);
  return state_root + "/" + id;
}

//! [make_state_dir]
// `create` first: the directory is the claim on the ID (mkdir fails if it is taken), locked until
// `create` exits so that a `delete` cannot remove it half made. exec.fifo: see lifecycle.cpp.
void make_state_dir(const std::string& id) {
  const std::string dir = state_dir(id);
  std::filesystem::create_directories(state_root);
  if (mkdir(dir.c_str(), 0700) == -1) {
    if (errno == EEXIST) fail("container " + id + " already exists");
    must(-1, "mkdir " + dir);
  }
  made_by_us = dir;
  maker = getpid();
  if (std::atexit(remove_if_failed) != 0) fail("atexit failed");
  must(flock(static_cast<int>(must(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open " + dir)), LOCK_EX), "lock " + dir);
  // Any user may write: the container's process, as process.user, opens it at the end (lifecycle.cpp).
  must(mkfifo((dir + "/exec.fifo").c_str(), 0622), "mkfifo " + dir + "/exec.fifo");
  must(chmod((dir + "/exec.fifo").c_str(), 0622), "chmod " + dir + "/exec.fifo");  // the umask took some
}
//! [make_state_dir]

//! [save_state]
// Written to a new file, then renamed over the old: a reader sees the old state or the new one,
// never half of it. Once saved, the container is made: the directory stays.
void save_state(const State& s) {
  const std::string dir = state_dir(s.id);
  const json state = {{"id", s.id}, {"pid", s.pid}, {"start_time", s.start_time}, {"bundle", s.bundle},
                      {"rootfs", s.rootfs}, {"created", now()}, {"cgroup", s.cgroup}};
  std::ofstream(dir + "/state.json.new") << state.dump() << '\n';
  must(rename((dir + "/state.json.new").c_str(), (dir + "/state.json").c_str()), "save " + dir + "/state.json");
  made_by_us.clear();
}
//! [save_state]

// The state of container ID, or nothing when there is no such container (none was made, or
// `delete` removed it). Commands that change a container hold the directory's lock meanwhile.
std::optional<State> load_state(const std::string& id) {
  const std::string dir = state_dir(id);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) return std::nullopt;
  must(flock(fd, LOCK_EX), "lock " + dir);  // held until we exit: one command at a time
  std::ifstream file(dir + "/state.json");
  const json state = json::parse(file, nullptr, false);
  if (!file || state.is_discarded()) return std::nullopt;  // a `create` that failed, or under way
  return State{state["id"], state["bundle"], state["rootfs"], state["created"], state["pid"], state["start_time"], state["cgroup"]};
}

// The container ID's state, or the one line every runtime prints for an unknown ID.
State existing_state(const std::string& id) {
  const std::optional<State> state = load_state(id);
  if (!state) fail("container " + id + " does not exist");
  return *state;
}

//! [print_state]
// `state ID`: the spec's view of it, on stdout. podman reads `status` and `pid` (after a failed
// `kill`); the pid of a stopped container means nothing, and is left out.
int print_state(const std::string& id) {
  const State s = existing_state(id);
  const Status status = status_of(s);
  json state = {{"ociVersion", "1.0.2"}, {"id", id}, {"status", name_of(status)}, {"bundle", s.bundle}, {"rootfs", s.rootfs}, {"created", s.created}};
  if (status != Status::stopped) state["pid"] = s.pid;
  std::printf("%s\n", state.dump(2).c_str());
  return 0;
}
//! [print_state]

void remove_state(const std::string& id) { std::filesystem::remove_all(state_dir(id)); }

//! [start_time_of]
// A PID alone does not name a process for long: once it has exited, the kernel may give the
// number to another, which `kill` would then hit. The start time (field 22 of /proc/PID/stat, in
// clock ticks since boot) with it does. 0: no such process, or one that has exited (a zombie,
// not reaped yet: state Z).
unsigned long long start_time_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) return 0;
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // the name may hold spaces and ')'
  std::string state, skip;
  fields >> state;
  for (int field = 4; field < 22; ++field) fields >> skip;
  unsigned long long start = 0;
  fields >> start;
  return state == "Z" || state == "X" ? 0 : start;
}
//! [start_time_of]

//! [status_of]
// created: set up, waiting at exec.fifo for `start`; running: the fifo is gone, the process
// lives; stopped: the process we saved is gone.
Status status_of(const State& state) {
  if (start_time_of(state.pid) != state.start_time) return Status::stopped;
  return access((state_dir(state.id) + "/exec.fifo").c_str(), F_OK) == 0 ? Status::created : Status::running;
}
//! [status_of]

const char* name_of(Status status) {
  return status == Status::created ? "created" : status == Status::running ? "running" : "stopped";
}
