// The one table of what each step promises: the rows of the matrix "What each step isolates"
// (docs/mainpage.md; docs/contract.md cites it) and the rules of the command line, the exit
// status and the host (docs/contract.md). For each row, the first step whose cell is "yes".
//
// Everything that needs to know from which step a row holds reads it here: the cases
// (`if (yes(row::rootfs))`), the grader (grade.cpp) and the docs check that the page's matrix
// says the same (ToolContract, tool_contract_test.cpp).
#pragma once

#include <string_view>

namespace workshop {

struct Row {
  std::string_view id;
  int from_step;            // the first step whose cell is "yes"
  std::string_view title;   // the page's words, short
  std::string_view page;    // words the row has on the page (the matrix on docs/mainpage.md, or
                            // the heading of its rule on docs/contract.md)
  std::string_view read;    // "FOLDER/FILE#REGION": the chapter of FOLDER, where it shows that
                            // snippet region of the source ("" for the host rule)
};

// The row ids, for the cases: `yes(row::old_root)`.
namespace row {
inline constexpr std::string_view run = "run", hostname = "hostname", pid1 = "pid1", mounts = "mounts",
                                  rootfs = "rootfs", proc = "proc", cgroup = "cgroup", old_root = "old-root",
                                  world = "world", privileges = "privileges", crossing = "crossing", overlay = "overlay",
                                  killed = "killed", stop = "stop", cli = "cli", errors = "errors",
                                  rootfs_option = "rootfs-option", limits = "limits", options = "options",
                                  host = "host";
}  // namespace row

// The matrix, in the page's order.
inline constexpr Row matrix[] = {
    {row::run, 1, "runs COMMAND with its args; stdin, stdout, stderr attached", "runs COMMAND with its args",
     "step1-skeleton/main.cpp#parent"},
    {row::hostname, 2, "a hostname of its own", "hostname of its own", "step2-namespaces/main.cpp#clone_flags"},
    {row::pid1, 2, "COMMAND is PID 1", "PID 1", "step2-namespaces/main.cpp#clone_flags"},
    {row::mounts, 2, "mounts of its own, also when the host's / is shared", "mounts of its own",
     "step2-namespaces/main.cpp#child"},
    {row::rootfs, 3, "/ is the rootfs", "`/` is the rootfs", "step3-rootfs/main.cpp#setup_rootfs"},
    {row::proc, 3, "/proc is the container's own", "`/proc` is the container's own",
     "step3-rootfs/main.cpp#setup_rootfs"},
    {row::cgroup, 4, "a cgroup of its own with the limits asked for, enforced, removed at exit", "cgroup of its own",
     "step4-cgroups/cgroup.cpp#make_cgroup_v2"},
    {row::old_root, 5, "the old root is gone", "the old root is gone", "step5-complete/rootfs.cpp#setup_rootfs"},
    {row::world, 5, "the world set up: /dev, /sys, /tmp, hostname, network, IPC and cgroup namespaces, environment",
     "world set up", "step5-complete/rootfs.cpp#mounts"},
    {row::privileges, 5, "privileges cut as docker does", "privileges cut as docker does",
     "step5-complete/privileges.cpp#drop_capabilities"},
    {row::crossing, 5, "nothing of the caller crosses over: terminal, fds, keyring; no device nodes, mount targets inside "
     "the root, a bounded writable layer",
     "nothing of the caller crosses over", "step5-complete/main.cpp#child"},
    {row::overlay, 5, "the rootfs on disk never changes", "the rootfs on disk is never changed",
     "step5-complete/rootfs.cpp#mount_overlay"},
    {row::killed, 1, "a command killed from outside gives 128+N", "a command killed from outside gives 128+N",
     "step1-skeleton/main.cpp#parent"},
    {row::stop, 5, "Ctrl-C or SIGTERM stops it; a killed runtime leaves nothing behind", "Ctrl-C / SIGTERM",
     "step5-complete/lifecycle.cpp#supervise"},
};

// The command line, the exit status and errors, the host after the tests: the rules of
// docs/contract.md (its headings are `page`).
inline constexpr Row rules[] = {
    {row::cli, 1, "run [OPTIONS] COMMAND, --help, a hidden child", "The command line", "step1-skeleton/main.cpp#child"},
    {row::errors, 1, "exit status 125, 126, 127, and errors in one line", "Exit status and errors",
     "step1-skeleton/main.cpp#child"},
    {row::rootfs_option, 3, "--rootfs DIR", "The command line", "step3-rootfs/main.cpp#parent"},
    {row::limits, 4, "--memory, --pids, --cpus", "The command line", "step4-cgroups/main.cpp#limit_options"},
    {row::options, 5, "--hostname, -e, -w, -u, -v, --net, --tmpfs-size", "The command line",
     "step5-complete/main.cpp#world_options"},
    {row::host, 1, "the host is left as it was: mounts, hostname, cgroups, processes", "The host after the tests", ""},
};

// The row `id` of either table; nullptr when there is none.
constexpr const Row* find_row(std::string_view id) {
  for (const Row& r : matrix)
    if (r.id == id) return &r;
  for (const Row& r : rules)
    if (r.id == id) return &r;
  return nullptr;
}

// The step under test keeps the promise of row `id`: its cell is "yes" (harness.cpp).
bool yes(std::string_view id);

}  // namespace workshop
