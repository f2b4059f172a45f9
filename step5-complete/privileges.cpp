// Step 5's privileges: what root in the container keeps, as whom COMMAND runs, with which
// limits and which environment. Nothing is taken from the host but what is named here.
#include "container.hpp"

#include <CLI/CLI.hpp>

#include <grp.h>
#include <pwd.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>

namespace {

//! [capabilities]
// docker's default capabilities, less CAP_MKNOD: docker may allow mknod because its device
// cgroup refuses to open the node; with no device cgroup here, a node for the host's disk
// would open. Everything else (CAP_SYS_ADMIN: mount; CAP_NET_ADMIN; CAP_SYS_MODULE ...) goes.
constexpr int kept_capabilities[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,           CAP_NET_RAW,
                                     CAP_SETGID, CAP_SETUID,       CAP_SETFCAP, CAP_SETPCAP,          CAP_SYS_CHROOT,
                                     CAP_KILL,   CAP_AUDIT_WRITE,  CAP_NET_BIND_SERVICE};
//! [capabilities]

// A number, all of `text`, and not -1 (which setresuid takes for "unchanged").
bool read_id(std::string_view text, uint32_t& id) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  return !text.empty() && error == std::errc{} && end == text.data() + text.size() && id != uint32_t(-1);
}

// The group of `uid` in the container's /etc/passwd, as docker takes it for `-u UID`; 0 when the
// file does not know the uid. fgetpwent() reads the file itself: the C library's usual lookup
// (getpwuid) would ask the host's configured sources, from a static program at that.
gid_t group_of(uid_t uid) {
  std::FILE* file = std::fopen("/etc/passwd", "re");
  const passwd* entry = nullptr;
  while (file != nullptr && (entry = fgetpwent(file)) != nullptr && entry->pw_uid != uid) {}
  const gid_t gid = entry != nullptr ? entry->pw_gid : 0;
  if (file != nullptr) std::fclose(file);
  return gid;
}

}  // namespace

//! [parse_user]
// "UID[:GID]", numbers only.
User parse_user(const std::string& text) {
  const auto colon = text.find(':');
  User user;
  uint32_t gid = 0;
  if (!read_id(std::string_view(text).substr(0, colon), user.uid) ||
      (colon != std::string::npos && !read_id(std::string_view(text).substr(colon + 1), gid)))
    throw CLI::ValidationError("'" + text + "' is not UID[:GID]: give numbers, e.g. -u 1000:1000");
  if (colon != std::string::npos) user.gid = gid;
  return user;
}
//! [parse_user]

//! [join_session_keyring]
// The kernel's keyrings are per user, not per container: without a session keyring of its own,
// the container would find the caller's. (seccomp.cpp then refuses the keyring calls altogether.)
void join_session_keyring() { must(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr), "keyctl(JOIN_SESSION_KEYRING)"); }
//! [join_session_keyring]

//! [limit_open_files]
// The runtime's own limit may be huge (systemd gives services a million), and programs that
// close every possible fd at start then crawl. 1024 soft, as select() needs, and 524288 hard,
// as systemd and containerd 2 give. Raising a hard limit needs CAP_SYS_RESOURCE: only lower it.
void limit_open_files() {
  rlimit limit{};
  must(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
  limit.rlim_max = std::min<rlim_t>(limit.rlim_max, 524288);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1024);
  must(setrlimit(RLIMIT_NOFILE, &limit), "setrlimit(RLIMIT_NOFILE)");
}
//! [limit_open_files]

//! [drop_capabilities]
// Root keeps only kept_capabilities. The bounding set limits what any later execve can give,
// even a setuid-root binary's; shrinking it needs CAP_SETPCAP, so this runs while we are still
// root. Permitted and effective shrink to the same set, inheritable and ambient empty them.
void drop_capabilities() {
  uint64_t keep = 0;
  for (int cap : kept_capabilities) keep |= uint64_t{1} << cap;
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap)
    if (!(keep & uint64_t{1} << cap)) must(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability " + std::to_string(cap));
  must(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear the ambient capabilities");
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct sets[2];
  must(syscall(SYS_capget, &header, sets), "capget");
  for (int i = 0; i < 2; ++i) {
    const auto mask = static_cast<uint32_t>(keep >> (32 * i));
    sets[i] = {.effective = sets[i].effective & mask, .permitted = sets[i].permitted & mask, .inheritable = 0};
  }
  must(syscall(SYS_capset, &header, sets), "capset");
}
//! [drop_capabilities]

//! [switch_user]
// To another user, without root's supplementary groups. From uid 0 to any other, the kernel
// empties the permitted and effective capabilities by itself. It also clears the parent-death
// signal: ask for it again (child() then checks that the runtime did not die in between).
void switch_user(const User& user) {
  const gid_t gid = user.gid ? *user.gid : group_of(user.uid);
  must(setgroups(0, nullptr), "setgroups");
  must(setresgid(gid, gid, gid), "setresgid " + std::to_string(gid));
  must(setresuid(user.uid, user.uid, user.uid), "setresuid " + std::to_string(user.uid));
  must(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl(PR_SET_PDEATHSIG)");
}
//! [switch_user]

//! [container_environment]
// Built from nothing, nothing inherited from the host: docker's PATH, HOME, HOSTNAME, the
// host's TERM (a shell needs it to edit lines), then the -e values, which win.
std::vector<std::string> container_environment(const Config& config) {
  std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               config.user.uid == 0 ? "HOME=/root" : "HOME=/", "HOSTNAME=" + config.hostname};
  if (const char* term = std::getenv("TERM")) env.push_back(std::string("TERM=") + term);
  for (const auto& entry : config.env) {
    const std::string name = entry.substr(0, entry.find('=') + 1);  // "KEY="
    std::erase_if(env, [&](const std::string& set) { return set.starts_with(name); });
    env.push_back(entry);
  }
  return env;
}
//! [container_environment]
