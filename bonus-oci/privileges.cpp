// The bonus's privileges: step 5's, with the values config.json gives. What root in the container
// keeps (process.capabilities), as whom COMMAND runs (process.user), with which limits
// (process.rlimits). podman resolved the names: in the bundle, users and groups are numbers.
#include "container.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

//! [join_session_keyring]
// The kernel's keyrings are per user, not per container: without a session keyring of its own,
// the container would find the caller's. (seccomp.cpp then refuses the keyring calls altogether.)
void join_session_keyring() { must(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr), "keyctl(JOIN_SESSION_KEYRING)"); }
//! [join_session_keyring]

//! [set_rlimits]
// process.rlimits, each as given. Raising a hard limit needs CAP_SYS_RESOURCE, which root lacks on
// some hosts: there podman's default of 1048576 open files fails here, as it does with crun.
void set_rlimits(const std::vector<Rlimit>& rlimits) {
  for (const auto& [name, resource, soft, hard] : rlimits) {
    const rlimit limit{.rlim_cur = soft, .rlim_max = hard};
    must(setrlimit(static_cast<__rlimit_resource>(resource), &limit), "setrlimit " + name + " " + std::to_string(soft) + ":" + std::to_string(hard));
  }
}
//! [set_rlimits]

//! [drop_capabilities]
// The bounding set becomes process.capabilities.bounding: it limits what any later execve can
// give, even a setuid-root binary's; shrinking it needs CAP_SETPCAP, so this runs while we are
// still root. Ambient is emptied. The other sets come after the user switch, which needs
// CAP_SETUID and CAP_SETGID (a user may keep capabilities the config gives it: KEEPCAPS).
void drop_capabilities(const Capabilities& capabilities) {
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap)
    if (!(capabilities.bounding & uint64_t{1} << cap)) must(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability " + std::to_string(cap));
  must(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear the ambient capabilities");
  must(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
}
//! [drop_capabilities]

//! [set_capabilities]
// After the switch: permitted, effective and inheritable become the config's, never more than we
// have. (From uid 0 to another, the kernel emptied effective; KEEPCAPS kept permitted.)
void set_capabilities(const Capabilities& capabilities) {
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct sets[2];
  must(syscall(SYS_capget, &header, sets), "capget");
  for (int i = 0; i < 2; ++i) {
    const auto half = [i](uint64_t set) { return static_cast<uint32_t>(set >> (32 * i)); };
    sets[i] = {.effective = sets[i].permitted & half(capabilities.effective), .permitted = sets[i].permitted & half(capabilities.permitted),
               .inheritable = sets[i].permitted & half(capabilities.inheritable)};
  }
  must(syscall(SYS_capset, &header, sets), "capset");
  must(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
}
//! [set_capabilities]

//! [switch_user]
// To another user, with process.user.additionalGids as its only supplementary groups. It also
// clears the parent-death signal, which the bonus never asks for: conmon, not the runtime, is
// the parent whose death matters now.
void switch_user(const User& user) {
  must(setgroups(user.additional_gids.size(), user.additional_gids.data()), "setgroups");
  must(setresgid(user.gid, user.gid, user.gid), "setresgid " + std::to_string(user.gid));
  must(setresuid(user.uid, user.uid, user.uid), "setresuid " + std::to_string(user.uid));
}
//! [switch_user]
