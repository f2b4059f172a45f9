// Step 5's seccomp filter: the system calls COMMAND may make. The kernel runs this BPF program
// on every system call of the process and of its children, for good: no one can remove it. What
// it allows is in seccomp_rules.cpp; libseccomp compiled it at build time, into
// seccomp_filter.inc (in the build directory), and this file loads it as it is.
#include "container.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iterator>

namespace {

constexpr sock_filter filter[] = {
#include "seccomp_filter.inc"
};

}  // namespace

//! [apply_seccomp_filter]
// Loading a filter needs no_new_privs (set before, in child()) or CAP_SYS_ADMIN: else a setuid
// program could be made to misbehave under one.
void apply_seccomp_filter() {
  const sock_fprog program{.len = std::size(filter), .filter = const_cast<sock_filter*>(filter)};
  must(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program), "seccomp");
}
//! [apply_seccomp_filter]
