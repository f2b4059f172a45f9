// Step 4's cgroup: where the container's cgroup goes on cgroup v2 and v1, and which files
// hold its limits. main.cpp decides when it is made (before the child is cloned), how the
// child gets in, and when it goes (when parent() returns); cgroup.cpp knows how.
#pragma once

#include <string>
#include <vector>

// The limits `run` asks for: --memory, --pids, --cpus. 0 is no limit.
struct Limits {
  long long memory = 0;  // bytes, swap included
  long long pids = 0;    // processes (and threads) at once
  double cpus = 0;       // a share of one CPU's time: 0.5 is half of one
};

// A cgroup of the container's own, named PROGRAM-PID after the runtime. On cgroup v2 it is
// one directory, /sys/fs/cgroup/workshop/NAME; on v1, where each controller has a hierarchy of
// its own, a directory in each of memory, pids and cpu, under the caller's own cgroup there.
class Cgroup {
 public:
  // Makes it with `limits`, before the container's process exists: that process starts inside
  // it (clone_into(), join()). When the kernel refuses any of it, removes what was made, and
  // error() says what failed and why.
  Cgroup(const std::string& program, const Limits& limits);
  ~Cgroup();  // removes it
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  const std::string& error() const { return error_; }  // "" once made
  // The container's process gets in without being moved by another process, which is what
  // costs (cgroup.cpp). v2: it is born inside, clone3(CLONE_INTO_CGROUP) with this fd; -1 on v1.
  int clone_into() const { return v2_ ? locks_[0] : -1; }
  // v1: its first act after clone, it moves itself in. Returns "" or what failed and why.
  std::string join() const;
  bool oom_killed() const;  // did the kernel's OOM killer kill a process in it?

 private:
  void make(const std::string& parent, const std::string& name);
  void set_limits(const Limits& limits);
  void set(const std::string& file, const std::string& value);
  std::string path(const std::string& file) const;
  void remove();

  std::string program_;
  bool v2_;
  std::vector<std::string> dirs_;  // made so far; on v1 in the order memory, pids, cpu
  std::vector<int> locks_;         // each of dirs_, open and locked (flock) while we live
  std::string error_;
};
