// The oci tests' world, podman's options, the leftover check, and main: see podman.hpp.
//
//   sudo build/bin/workshop-oci-tests --runtime=/usr/bin/crun [--podman=PATH] [--rootfs=DIR]
//
// What this host asks of podman 4.3.1 (Debian 12), each measured here:
// - podman sets RLIMIT_NOFILE to 1048576 and, once any --ulimit is given, RLIMIT_NPROC too;
//   root here lacks CAP_SYS_RESOURCE and cannot raise a hard limit above the host's, so every
//   run passes --ulimit nofile=1024:1024 --ulimit nproc=1024:1024.
// - crun refuses a "hybrid" cgroup host (v1 controllers plus an empty cgroup2 at
//   /sys/fs/cgroup/unified): the world unmounts that cgroup2 in its own mount namespace.
// - podman's default network adds a bridge, iptables rules and /var/lib/cni state to the host:
//   every run passes --network none (a network namespace with only lo).
// - podman writes beside its storage: a lock in /dev/shm, a blob cache in /var/lib/containers,
//   /etc/cni/net.d/cni.lock unless --network-config-dir, conmon's console sockets in /tmp. The
//   world is a mount namespace of the test's own where /run, /tmp, /var/tmp, /var/lib and
//   /dev/shm are fresh tmpfs: podman's storage lives there, and all of it goes with the test.
// - podman's cgroups (cgroupfs manager): the container's is <parent>/libpod-ID, made and removed
//   by the runtime; conmon's is <parent>/conmon, which podman never removes: each case has a
//   parent of its own (--cgroup-parent) and removes it after.
#include "podman.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>
#include <tuple>

namespace fs = std::filesystem;

namespace workshop::oci {
namespace {

// Where podman and conmon write besides their storage: a fresh tmpfs on each in the world.
constexpr const char* hidden[] = {"/run", "/tmp", "/var/tmp", "/var/lib", "/dev/shm"};

// podman's storage, its state and its temporary files: all on the world's tmpfs under /run.
const std::string storage = "/run/workshop-oci";

struct Arguments {
  std::string runtime;
  std::string podman = "/usr/bin/podman";
  std::string rootfs = WORKSHOP_DEFAULT_ROOTFS;  // the build's rootfs (CMakeLists.txt)
};

Arguments& arguments() {
  static Arguments a;
  return a;
}

// Why the world is not there (empty once it is): set by World::SetUp, read by every case.
// A host that cannot run containers skips (fails under CI=true); anything else fails.
struct Problem {
  std::string reason = "the world was not set up";
  bool host_cannot = false;
};

Problem& world_problem() {
  static Problem problem;
  return problem;
}

std::string errno_text(const std::string& call) { return call + ": " + std::strerror(errno); }

// `text` as one word for sh: in single quotes, its own single quotes written '\''.
std::string quoted(const std::string& text) {
  std::string word = "'";
  for (char c : text) word += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return word + "'";
}

// What the shell command `line` prints on stdout, and its exit status (-1: not run, or killed).
std::pair<std::string, int> output_of(const std::string& line) {
  FILE* command = popen(line.c_str(), "r");
  if (!command) return {"", -1};
  std::string bytes;
  std::array<char, 65536> buffer;
  for (size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), command)) > 0;) bytes.append(buffer.data(), n);
  const int status = pclose(command);
  return {bytes, status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// The bytes of `tar -C dir -c .`, or "" when tar fails.
std::string tar_of(const std::string& dir) {
  const auto [bytes, status] = output_of("tar -C " + quoted(dir) + " -c .");
  return status == 0 ? bytes : "";
}

// The world: a mount namespace of this test process, made before the host guard's snapshot,
// so that the guard compares the world's mounts (podman's and the runtime's) before and after.
class World : public testing::Environment {
 public:
  void SetUp() override { world_problem() = enter(); }

 private:
  static Problem enter() {
    const Arguments& a = arguments();
    if (!is_root()) return {"needs root (run the tests as root, e.g. sudo ctest -L oci)", true};
    if (a.runtime.empty()) return {"no OCI runtime to test: pass --runtime=PATH"};
    if (access(a.runtime.c_str(), X_OK) != 0) return {errno_text("the runtime " + a.runtime)};
    if (access(a.podman.c_str(), X_OK) != 0)
      return {errno_text("podman " + a.podman) + " (install it: sudo ./workshop deps)"};
    if (unshare(CLONE_NEWNS) != 0) return {errno_text("unshare(CLONE_NEWNS)"), true};
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      return {errno_text("mount(/, MS_REC|MS_PRIVATE)"), true};
    // EINVAL: not a mount point, ENOENT: no such directory (a v1-only or a pure v2 host).
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return {errno_text("umount /sys/fs/cgroup/unified"), true};
    for (const char* dir : hidden)
      if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
        return {errno_text(std::string("mount tmpfs on ") + dir), true};
    for (const std::string& path : {a.runtime, a.podman, a.rootfs})
      if (access(path.c_str(), F_OK) != 0)
        return {path + " is hidden in the test's world (fresh /run, /tmp, /var/tmp, /var/lib, "
                "/dev/shm): pass one from elsewhere"};
    std::error_code ec;
    fs::create_directories(storage + "/tmpfiles", ec);
    if (ec) return {"mkdir " + storage + ": " + ec.message()};
    setenv("WORKSHOP_BINARY", a.podman.c_str(), 1);  // what the harness starts: podman
    setenv("WORKSHOP_ROOTFS", a.rootfs.c_str(), 1);
    const std::string tar = tar_of(rootfs());
    if (tar.empty()) return {"cannot make a tar of the rootfs " + rootfs()};
    const Result r = podman({"import", "-", image}, {.input = tar});
    if (r.status != 0) return {"podman import failed:" + testing::PrintToString(r)};
    return {"", false};
  }
};

// A 64-hex-digit name: a container ID, as podman makes them and runtimes name their state.
bool is_container_id(const std::string& name) {
  static const std::regex id("[0-9a-f]{64}");
  return std::regex_match(name, id);
}

// rmdir, retried: a cgroup can stay busy for a moment after its last process left.
bool remove_cgroup(const fs::path& dir) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

const std::string& runtime() { return arguments().runtime; }

Result podman(const std::vector<std::string>& args, const Options& options, const std::string& with_runtime) {
  std::vector<std::string> all = {
      "--runtime", with_runtime,
      "--root", storage + "/root", "--runroot", storage + "/runroot", "--tmpdir", storage + "/tmp",
      "--network-config-dir", storage + "/net", "--volumepath", storage + "/volumes",
      // Else the storage bind-mounts its overlay directory onto itself, or not, as it goes.
      "--storage-driver", "overlay", "--storage-opt", "overlay.skip_mount_home=true",
      "--cgroup-manager", "cgroupfs",  // a systemd host's default is systemd: runtimes differ
      "--events-backend", "file"};
  all.insert(all.end(), args.begin(), args.end());
  Options with_tmpdir = options;
  with_tmpdir.env.push_back("TMPDIR=" + storage + "/tmpfiles");  // podman import's temporary files
  return run(all, with_tmpdir);
}

Result call_runtime(const std::vector<std::string>& args) {
  Result r;
  r.command = quoted(runtime());
  for (const auto& arg : args) r.command += " " + quoted(arg);
  const std::string err = storage + "/tmpfiles/runtime-stderr";
  std::tie(r.out, r.status) = output_of(r.command + " 2>" + quoted(err) + " </dev/null");
  std::ifstream file(err);
  r.err.assign(std::istreambuf_iterator<char>(file), {});
  return r;
}

void Oci::SetUp() {
  const Problem& problem = world_problem();
  if (problem.reason.empty()) return;
  if (problem.host_cannot) WORKSHOP_SKIP_OR_FAIL_(problem.reason);
  GTEST_FAIL() << problem.reason;
}

std::vector<std::string> Oci::run_args(const std::vector<std::string>& options,
                                       const std::vector<std::string>& command) const {
  std::vector<std::string> args = {"run", "--network", "none", "--ulimit", "nofile=1024:1024",
                                   "--ulimit", "nproc=1024:1024", "--cgroup-parent", "/" + cgroup_parent,
                                   "--log-driver", "k8s-file"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back(image);
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

Result Oci::run(const std::vector<std::string>& options, const std::vector<std::string>& command) const {
  std::vector<std::string> with_rm = {"--rm"};
  with_rm.insert(with_rm.end(), options.begin(), options.end());
  return podman(run_args(with_rm, command));
}

std::string Oci::run_detached(const std::string& name, const std::vector<std::string>& command,
                              const std::vector<std::string>& options) const {
  std::vector<std::string> detached = {"-d", "--name", name};
  detached.insert(detached.end(), options.begin(), options.end());
  const Result r = podman(run_args(detached, command));
  EXPECT_EQ(r.status, 0) << r;
  return last_line(r.out);
}

std::string Oci::inspect(const std::string& name, const std::string& format) const {
  const Result r = podman({"inspect", "--format", format, name});
  EXPECT_EQ(r.status, 0) << r;
  return last_line(r.out);
}

std::vector<std::string> Oci::container_cgroups(const std::string& id) const {
  std::vector<std::string> found;
  for (const auto& dir : cgroup_dirs())
    if (fs::path(dir).filename() == "libpod-" + id) found.push_back(dir);
  return found;
}

// Nothing left behind: no podman container, no process (podman's conmon and the container's
// are below this test, a subreaper: the host guard sees them), no cgroup of a container, no
// runtime state under /run, no mount in the world (the host guard again).
void Oci::TearDown() {
  if (!world_problem().reason.empty()) return;
  const Result left = podman({"ps", "--all", "--format", "{{.Names}}"});
  EXPECT_EQ(left.out, "") << "podman still lists containers (removed now)" << left;
  if (!left.out.empty()) podman({"rm", "--all", "--force", "--time", "0"});

  std::vector<fs::path> parents;
  for (const auto& dir : cgroup_dirs())
    if (fs::path(dir).filename() == cgroup_parent) parents.emplace_back(dir);
  // conmon lives on after podman returns, to run its exit command (`podman container cleanup`).
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (std::none_of(parents.begin(), parents.end(),
                     [](const fs::path& p) { return fs::exists(p / "conmon") && holds_processes(p / "conmon"); }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& parent : parents) {
    std::error_code ec;
    for (const auto& child : fs::directory_iterator(parent, ec)) {
      if (!child.is_directory() || child.path().filename() == "conmon") continue;
      ADD_FAILURE() << "the runtime left the container's cgroup " << child.path() << " (removed now)";
      remove_cgroup(child.path());
    }
    EXPECT_TRUE(remove_cgroup(parent / "conmon") && remove_cgroup(parent))
        << "cannot remove podman's cgroup " << parent << ": " << std::strerror(errno);
  }

  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/run", ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path() == storage) it.disable_recursion_pending();  // podman's own
    else if (is_container_id(it->path().filename()))
      ADD_FAILURE() << "runtime state left for a removed container: " << it->path();
  }
}

}  // namespace workshop::oci

// --runtime=PATH (required), --podman=PATH, --rootfs=DIR; gtest's own flags are taken first.
int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto& a = workshop::oci::arguments();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string* target = arg.starts_with("--runtime=") ? &a.runtime
                          : arg.starts_with("--podman=") ? &a.podman
                          : arg.starts_with("--rootfs=") ? &a.rootfs
                                                         : nullptr;
    if (!target) {
      std::fprintf(stderr, "workshop-oci-tests: unknown argument '%s' (use --runtime=PATH, "
                           "--podman=PATH, --rootfs=DIR, or gtest's flags)\n", argv[i]);
      return 2;
    }
    *target = arg.substr(arg.find('=') + 1);
    if (target != &a.podman && !target->empty()) *target = fs::absolute(*target).lexically_normal();
  }
  testing::AddGlobalTestEnvironment(new workshop::oci::World);
  testing::AddGlobalTestEnvironment(workshop::new_host_guard());
  return RUN_ALL_TESTS();
}
