// The bonus's bundle: a directory with a config.json (OCI runtime-spec 1.0), which podman writes
// for every container. Read once into step 5's Config: each field lands where one of step 5's
// options did. process.args is COMMAND, process.env the -e values, root.path the --rootfs,
// linux.resources --memory, --pids and --cpus, `mounts` the table rootfs.cpp walks.
#include "container.hpp"

#include <nlohmann/json.hpp>

#include <sched.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

using json = nlohmann::json;

namespace {

//! [names]
// The spec names capabilities, rlimits and namespaces as the kernel's headers do; these tables
// turn a name into the kernel's number (a capability's is its index here).
constexpr const char* capability_names[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
constexpr std::pair<const char*, int> rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK},     {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME}};
constexpr std::pair<const char*, int> namespace_names[] = {
    {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"mount", CLONE_NEWNS}, {"cgroup", CLONE_NEWCGROUP}, {"user", CLONE_NEWUSER}, {"time", CLONE_NEWTIME}};
//! [names]

//! [mount_options]
// A mount's options: the words mount(2) takes as flags (set or cleared), the rest its file
// system's data ("mode=755,size=65536k"). Propagation words are left out: child() makes every
// mount private, and nothing the container mounts may reach the host.
constexpr struct { const char* word; unsigned long set, clear; } mount_flags[] = {
    {"ro", MS_RDONLY, 0}, {"rw", 0, MS_RDONLY}, {"nosuid", MS_NOSUID, 0}, {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0}, {"dev", 0, MS_NODEV}, {"noexec", MS_NOEXEC, 0}, {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0}, {"async", 0, MS_SYNCHRONOUS}, {"dirsync", MS_DIRSYNC, 0},
    {"noatime", MS_NOATIME, 0}, {"atime", 0, MS_NOATIME}, {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME}, {"relatime", MS_RELATIME, 0}, {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, 0}, {"bind", MS_BIND, 0}, {"rbind", MS_BIND | MS_REC, 0},
    {"private", 0, 0}, {"rprivate", 0, 0}, {"slave", 0, 0}, {"rslave", 0, 0}, {"shared", 0, 0},
    {"rshared", 0, 0}, {"unbindable", 0, 0}, {"runbindable", 0, 0}};

Mount read_mount(const json& entry, const std::filesystem::path& bundle) {
  Mount m{entry.value("source", ""), entry.at("destination").get<std::string>(), entry.value("type", "")};
  std::string data;
  for (const std::string& option : entry.value("options", std::vector<std::string>{})) {
    const auto* flag = std::find_if(std::begin(mount_flags), std::end(mount_flags), [&](const auto& f) { return option == f.word; });
    if (flag == std::end(mount_flags)) data += (data.empty() ? "" : ",") + option;
    else m.flags = (m.flags | flag->set) & ~flag->clear;
  }
  m.data = data;
  if (m.flags & MS_BIND) m.type = "bind";  // podman says "bind" twice; the spec needs only the option
  if (m.type == "bind") m.source = (bundle / m.source).lexically_normal();  // relative: to the bundle
  return m;
}
//! [mount_options]

// The number of `name` in `table`; a name the table lacks is a bundle this runtime cannot run.
template <size_t N>
int number_of(const std::pair<const char*, int> (&table)[N], const std::string& name, const std::string& what) {
  for (const auto& [known, number] : table)
    if (name == known) return number;
  fail("config.json: unknown " + what + " '" + name + "'");
}

uint64_t capability_set(const json& capabilities, const char* set) {
  uint64_t bits = 0;
  for (const std::string& name : capabilities.value(set, std::vector<std::string>{})) {
    const auto* found = std::find(std::begin(capability_names), std::end(capability_names), name);
    if (found == std::end(capability_names)) fail("config.json: unknown capability '" + name + "'");
    bits |= uint64_t{1} << (found - std::begin(capability_names));
  }
  return bits;
}

//! [read_process]
// `process`: what to run, and as whom. config.json has one; `exec` gets one alone in a file.
void read_process(const json& process, Config& config) {
  config.command = process.at("args").get<std::vector<std::string>>();
  if (config.command.empty()) fail("config.json: process.args is empty: name the program to run");
  config.env = process.value("env", std::vector<std::string>{});
  config.workdir = process.value("cwd", "/");
  config.terminal = process.value("terminal", false);
  const json user = process.value("user", json::object());
  config.user = {user.value("uid", 0u), user.value("gid", 0u), user.value("additionalGids", std::vector<gid_t>{}), user.value("umask", 022u)};
  const json caps = process.value("capabilities", json::object());
  config.capabilities = {capability_set(caps, "bounding"), capability_set(caps, "effective"),
                         capability_set(caps, "permitted"), capability_set(caps, "inheritable")};
  for (const json& limit : process.value("rlimits", json::array()))
    config.rlimits.push_back({limit.at("type"), number_of(rlimit_names, limit.at("type"), "rlimit"), limit.at("soft"), limit.at("hard")});
}
//! [read_process]

//! [read_linux]
// `linux`: the namespaces, the cgroup and its limits, the kernel's files to protect.
void read_linux(const json& section, Config& config) {
  for (const json& ns : section.value("namespaces", json::array())) {
    const int type = number_of(namespace_names, ns.at("type").get<std::string>(), "namespace type");
    if (ns.contains("path")) config.join.emplace_back(type, ns.at("path").get<std::string>());
    else config.namespaces |= type;
  }
  if ((config.namespaces & (CLONE_NEWPID | CLONE_NEWNS)) != (CLONE_NEWPID | CLONE_NEWNS))
    fail("config.json: this runtime makes a new pid and mount namespace for each container: list both in linux.namespaces, without a path");
  if (config.namespaces & (CLONE_NEWUSER | CLONE_NEWTIME)) fail("config.json: user and time namespaces are not supported");
  const json resources = section.value("resources", json::object());
  config.limits.memory = resources.value("memory", json::object()).value("limit", 0LL);
  config.limits.pids = resources.value("pids", json::object()).value("limit", 0LL);
  const json cpu = resources.value("cpu", json::object());
  if (cpu.value("quota", 0LL) > 0) config.limits.cpus = cpu.value("quota", 0.0) / cpu.value("period", 100000.0);
  config.cgroup = section.value("cgroupsPath", "");
  config.masked_paths = section.value("maskedPaths", std::vector<std::string>{});
  config.read_only_paths = section.value("readonlyPaths", std::vector<std::string>{});
  const json sysctl = section.value("sysctl", json::object());  // items() refers to it: not a temporary
  for (const auto& [key, value] : sysctl.items()) config.sysctl.emplace_back(key, value.get<std::string>());
}
//! [read_linux]

json parse_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) fail("cannot read " + path + ": " + std::strerror(errno));
  json spec = json::parse(file, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) fail(path + " is not a JSON object: see the OCI runtime spec, config.md");
  return spec;
}

// nlohmann's message without its "[json.exception.type_error.302] " prefix.
std::string plain(const json::exception& e) { return std::string(e.what()).substr(std::string(e.what()).find(']') + 2); }

}  // namespace

//! [read_bundle]
// BUNDLE/config.json into a Config. A field of the wrong type is one line, as any other error.
Config read_bundle(const std::string& bundle) {
  const std::filesystem::path dir = std::filesystem::absolute(bundle);
  const json spec = parse_file(dir / "config.json");
  Config config;
  try {
    read_process(spec.at("process"), config);
    config.rootfs = (dir / spec.at("root").at("path").get<std::string>()).lexically_normal();  // relative: to the bundle
    config.read_only_root = spec.at("root").value("readonly", false);
    config.hostname = spec.value("hostname", "");
    for (const json& mount : spec.value("mounts", json::array())) config.mounts.push_back(read_mount(mount, dir));
    read_linux(spec.value("linux", json::object()), config);
  } catch (const json::exception& e) {
    fail(dir.string() + "/config.json: " + plain(e));
  }
  return config;
}
//! [read_bundle]

// `exec --process FILE`: a `process` object alone, for a process that joins a container.
Config read_process_file(const std::string& path) {
  Config config;
  try {
    read_process(parse_file(path), config);
  } catch (const json::exception& e) {
    fail(path + ": " + plain(e));
  }
  return config;
}
