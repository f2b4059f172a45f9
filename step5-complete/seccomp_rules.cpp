// Step 5's seccomp rules, compiled at build time: this program is seccomp-bpf, which CMake runs
// to write seccomp_filter.inc, the BPF program libseccomp makes of these rules. seccomp.cpp loads
// that program, as it is, into every container. (Making it costs 2 ms; at build time, once.)
#include <linux/filter.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

//! [allowed]
// docker's default profile (moby/profiles, seccomp/default.json): the calls it allows any
// container, in its order, less the 60 that only 32-bit architectures have (chown32, _llseek...);
// then ptrace and process_vm_* (allowed on kernels 4.8+), arch_prctl and modify_ldt (x86), and
// chroot (for CAP_SYS_CHROOT, which we keep). Not here, so refused: unshare, setns, mount and the
// new mount API, keyctl, add_key, request_key, bpf, perf_event_open, userfaultfd, io_uring_*,
// kexec_*, the module calls, open_by_handle_at, acct, reboot, settimeofday, swapon... A name
// this libseccomp does not know yet (a newer call) is skipped: refused too.
constexpr const char* allowed = R"(
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown clock_adjtime clock_getres
    clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
    epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve
    execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
    fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate
    futex futex_requeue futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid geteuid
    getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresuid
    getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
    getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
    io_getevents io_pgetevents ioprio_get ioprio_set io_setup io_submit kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lgetxattr link linkat listen listmount listxattr listxattrat llistxattr lremovexattr
    lseek lsetxattr lstat madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
    mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink
    mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat open
    openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll prctl
    pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64 pwritev pwritev2 read readahead readlink
    readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
    restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
    rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
    sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity
    sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop sendfile
    sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid setresgid
    setresuid setreuid setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setxattr
    setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socketpair splice stat statfs statmount
    statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
    timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times tkill truncate
    umask uname unlink unlinkat uretprobe utime utimensat utimes vfork vmsplice wait4 waitid write writev
    process_vm_readv process_vm_writev ptrace arch_prctl modify_ldt chroot
)";
//! [allowed]

//! [rules]
// An allow list, as docker's: a call not named is refused with EPERM, as if the container lacked
// the privilege. A call through another architecture's ABI (32-bit x86's int 0x80, x32) kills
// the process: libseccomp's answer for any architecture the filter was not made for.
int main() {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (filter == nullptr || seccomp_attr_set(filter, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0) return 1;  // a binary tree of the calls
  auto add_rule = [&](uint32_t action, int call, std::initializer_list<scmp_arg_cmp> args = {}) {
    if (seccomp_rule_add_array(filter, action, call, args.size(), args.begin()) == 0) return;
    std::fprintf(stderr, "seccomp rule for %s refused\n", seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, call));
    std::exit(1);
  };
  std::istringstream names(allowed);
  for (std::string name; names >> name;)
    if (const int call = seccomp_syscall_resolve_name(name.c_str()); call != __NR_SCMP_ERROR) add_rule(SCMP_ACT_ALLOW, call);
  // clone without a namespace flag only. clone3 passes its flags in memory, which a filter cannot
  // read: ENOSYS, "no such call", makes libc fall back to clone.
  constexpr uint64_t namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  add_rule(SCMP_ACT_ALLOW, SCMP_SYS(clone), {SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces, 0)});
  add_rule(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3));
  // Sockets of every family but AF_ALG (the kernel's crypto) and AF_VSOCK (to the hypervisor).
  add_rule(SCMP_ACT_ALLOW, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_LT, AF_ALG)});
  add_rule(SCMP_ACT_ALLOW, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, AF_ALG + 1)});
  add_rule(SCMP_ACT_ALLOW, SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_GT, AF_VSOCK)});
  // personality: docker's values only (Linux, 32-bit Linux, UNAME26, both, and the query).
  for (const uint64_t persona : {0x0U, 0x8U, 0x20000U, 0x20008U, 0xffffffffU})
    add_rule(SCMP_ACT_ALLOW, SCMP_SYS(personality), {SCMP_A0(SCMP_CMP_EQ, persona)});
  // The program, as C++ initializers of struct sock_filter: {code, jt, jf, k}, one instruction a line.
  std::FILE* program = std::tmpfile();
  if (program == nullptr || seccomp_export_bpf(filter, fileno(program)) != 0) return 1;
  std::rewind(program);
  for (sock_filter i; std::fread(&i, sizeof i, 1, program) == 1;) std::printf("{0x%04x, %u, %u, 0x%08x},\n", i.code, i.jt, i.jf, i.k);
  seccomp_release(filter);
}
//! [rules]
