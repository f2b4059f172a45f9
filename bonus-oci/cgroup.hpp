// Step 4's cgroup, as main.cpp sees it: made with its limits before the child exists, joined by
// the child, asked whether the OOM killer struck, removed. cgroup.cpp makes it on cgroup v2 and
// on v1, one function each.
#pragma once

#include <string>
#include <vector>

// The limits `run` asks for, 0 being none: --memory in bytes (swap included), --pids (processes
// and threads at once), --cpus (a share of one CPU's time: 0.5 is half of one).
struct Limits { long long memory = 0, pids = 0; double cpus = 0; };

// The container's cgroup: one directory on cgroup v2; on v1 one in the hierarchy of each
// controller: memory, pids, cpu. On v2 `fd` is the directory, open, for CLONE_INTO_CGROUP.
struct Cgroup { std::vector<std::string> dirs; int fd = -1; };

// Makes the cgroup NAME with `limits`. If the kernel refuses any of it, removes what it made and
// fails (exit 125): no half-made cgroup is left behind.
Cgroup make_cgroup(const std::string& name, const Limits& limits);
void join_cgroup(const Cgroup& cgroup);    // the child's first act (v1; on v2 it is born inside)
bool oom_killed(const Cgroup& cgroup);     // did the kernel's OOM killer kill a process in it?
void remove_cgroup(const Cgroup& cgroup);  // once COMMAND has exited
void enter_cgroup(const Cgroup& cgroup);   // `exec`: the runtime itself, into the container's

// main.cpp's: "PROGRAM: MESSAGE" on stderr, then exit; 1, as runc, for any failure of its own.
[[noreturn]] void fail(const std::string& message, int status = 1);
