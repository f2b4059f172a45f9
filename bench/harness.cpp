// The bench's timing harness: how long each container runtime takes to run `/bin/true`, and
// how much memory it peaks at, measured the same way for every runtime.
//
//   bench-harness [--rounds N] [--warmup N] [--pause MS] [--csv FILE] [--logs DIR] SPEC
//
// SPEC has one row per line (bench/run writes it; `#` starts a comment):
//   NAME  PARALLEL  PRELUDE  COMMAND [ARGS...]
// PARALLEL: how many copies start at once; the row's time is the whole batch's wall time.
// PRELUDE:  `-`, or `hide-cgroup2` (see hide_cgroup2()).
// COMMAND:  words separated by blanks, no quoting; `{id}` becomes an id unique to the run.
//
// Every round runs every row once, each round starting one row further on (round-robin), so a
// drift in the machine's speed (another job, the CPU's clock, a cache) hits every row alike.
// Between two runs the harness pauses, so that what one run leaves the kernel to finish (an RCU
// grace period, a namespace being freed) is done before the next starts: every run is a start
// on its own, as a user's `docker run` is, and no row gets a discount from the row before it.
// The first row of each PARALLEL value is the reference its group's ratios divide by.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Row {
  std::string name;
  int parallel = 1;
  bool hide_cgroup2 = false;
  std::vector<std::string> command;
  std::string log = "/dev/null";  // where the stderr of its processes goes
  // What the rounds measured:
  std::vector<double> ms;      // wall time of each run (of the whole batch), warm-up left out
  std::vector<double> cpu_ms;  // CPU time (user + system) of each run's processes, added up
  std::vector<long> peak_kib;  // the largest ru_maxrss among each run's processes
  int started = 0;             // processes, warm-up included: a failure is never left out
  std::map<std::string, int> failures;  // "exit 125", "signal 9", "fork": how many
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench-harness: %s\n", message.c_str());
  std::exit(1);
}

std::vector<Row> read_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::vector<Row> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    Row row;
    std::string prelude, word;
    if (!(words >> row.name)) continue;  // a blank or comment line
    words >> row.parallel >> prelude;
    while (words >> word) row.command.push_back(word);
    if (row.parallel < 1 || (prelude != "-" && prelude != "hide-cgroup2") || row.command.empty())
      die(path + ":" + std::to_string(number) + ": expected NAME PARALLEL PRELUDE COMMAND...");
    row.hide_cgroup2 = prelude == "hide-cgroup2";
    rows.push_back(std::move(row));
  }
  if (rows.empty()) die(path + " has no rows");
  return rows;
}

// crun and runc refuse a "hybrid" cgroup host: v1 controllers plus a cgroup2 hierarchy without
// controllers at /sys/fs/cgroup/unified. Unmounted in a mount namespace of the child's own, the
// host looks like plain v1 to them. The price, one unshare(CLONE_NEWNS), is charged to them.
void hide_cgroup2() {
  if (unshare(CLONE_NEWNS) == -1 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == -1) {
    std::perror("hide-cgroup2: new mount namespace");
    _exit(125);
  }
  // EINVAL: not a mount point, ENOENT: no such directory (a v1-only or a pure v2 host).
  if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) == -1 && errno != EINVAL && errno != ENOENT) {
    std::perror("hide-cgroup2: umount /sys/fs/cgroup/unified");
    _exit(125);
  }
}

// Starts one copy of the row's command: no input, output to /dev/null, errors to the row's log.
pid_t start(const Row& row, char* const argv[]) {
  pid_t pid = fork();
  if (pid != 0) return pid;  // the harness (or -1)
  const int null = open("/dev/null", O_RDWR), log = open(row.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  dup2(log, STDERR_FILENO);
  if (row.hide_cgroup2) hide_cgroup2();
  execvp(argv[0], argv);
  std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
  _exit(127);
}

double to_ms(const timespec& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6; }
double to_ms(const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) * 1e-3; }

struct Sample {
  double ms = 0, cpu_ms = 0;
  long peak_kib = 0;
};

// One run of a row: PARALLEL copies started back to back, timed until the last one is reaped.
Sample run_once(Row& row) {
  static long runs = 0;
  // Every argv is ready before the clock starts: the harness times the runtime, not itself.
  std::vector<std::vector<std::string>> args(row.parallel, row.command);
  std::vector<std::vector<char*>> argvs(row.parallel);
  for (int i = 0; i < row.parallel; ++i) {
    const std::string id = "bench-" + std::to_string(getpid()) + "-" + std::to_string(runs++);
    for (auto& arg : args[i]) {
      if (auto at = arg.find("{id}"); at != std::string::npos) arg.replace(at, 4, id);
      argvs[i].push_back(arg.data());
    }
    argvs[i].push_back(nullptr);
  }

  Sample sample;
  std::vector<pid_t> pids;
  timespec begin{}, end{};
  clock_gettime(CLOCK_MONOTONIC, &begin);
  for (auto& argv : argvs) {
    pid_t pid = start(row, argv.data());
    if (pid == -1) ++row.failures["fork: " + std::string(std::strerror(errno))]; else pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    rusage usage{};
    // wait4's rusage covers the child and every descendant waited for inside its tree: CPU
    // times are their sum, ru_maxrss the peak resident set of the largest single process.
    if (wait4(pid, &status, 0, &usage) == -1) die(std::string("wait4: ") + std::strerror(errno));
    if (WIFSIGNALED(status)) ++row.failures["signal " + std::to_string(WTERMSIG(status))];
    else if (WEXITSTATUS(status) != 0) ++row.failures["exit " + std::to_string(WEXITSTATUS(status))];
    sample.cpu_ms += to_ms(usage.ru_utime) + to_ms(usage.ru_stime);
    sample.peak_kib = std::max(sample.peak_kib, usage.ru_maxrss);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  sample.ms = to_ms(end) - to_ms(begin);
  row.started += row.parallel;
  return sample;
}

int failed(const Row& row) {
  int count = 0;
  for (const auto& [why, times] : row.failures) count += times;
  return count;
}

// The nearest-rank percentile: a value that was measured, never an interpolation.
template <typename T>
T percentile(std::vector<T> values, double p) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

// Why a row failed: how often each exit status came, then the end of its log.
void explain(const Row& row) {
  std::fprintf(stderr, "\n%s: %d of %d processes failed:", row.name.c_str(), failed(row), row.started);
  for (const auto& [why, times] : row.failures) std::fprintf(stderr, " %s (%dx)", why.c_str(), times);
  std::ifstream in(row.log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::fprintf(stderr, "\nthe last lines of %s:\n", row.log.c_str());
  for (size_t i = lines.size() > 10 ? lines.size() - 10 : 0; i < lines.size(); ++i) std::fprintf(stderr, "  %s\n", lines[i].c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 100, warmup = 5, pause_ms = 50;
  std::string spec, csv, logs;
  CLI::App app{"Time container runtimes, interleaved (bench/run writes the SPEC)", "bench-harness"};
  app.add_option("--rounds", rounds, "Measured rounds (every row runs once a round)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", warmup, "Rounds run first and not timed")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--pause", pause_ms, "Milliseconds between two runs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--csv", csv, "Also write the table to this CSV file");
  app.add_option("--logs", logs, "Append the stderr of each row's processes to DIR/NAME.log (else /dev/null)");
  app.add_option("spec", spec, "NAME PARALLEL PRELUDE COMMAND... per line")->required();
  CLI11_PARSE(app, argc, argv);

  std::vector<Row> rows = read_spec(spec);
  if (!logs.empty())
    for (Row& row : rows) row.log = logs + "/" + row.name + ".log";
  const bool progress = isatty(STDERR_FILENO);
  for (int round = 0; round < warmup + rounds; ++round) {
    for (size_t k = 0; k < rows.size(); ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      Row& row = rows[(round + k) % rows.size()];
      const Sample sample = run_once(row);
      if (round < warmup) continue;
      row.ms.push_back(sample.ms);
      row.cpu_ms.push_back(sample.cpu_ms);
      row.peak_kib.push_back(sample.peak_kib);
    }
    if (progress) std::fprintf(stderr, "\rround %d of %d", round + 1, warmup + rounds);
  }
  if (progress) std::fprintf(stderr, "\r%*s\r", 30, "");

  // The reference of each group: its first row (bench/run puts unshare(1) there).
  std::map<int, double> reference;
  for (const Row& row : rows) reference.try_emplace(row.parallel, percentile(row.ms, 0.5));

  FILE* out = csv.empty() ? nullptr : std::fopen(csv.c_str(), "w");
  if (!csv.empty() && out == nullptr) die("cannot write " + csv + ": " + std::strerror(errno));
  if (out) std::fprintf(out, "row,parallel,runs,started,failed,median_ms,p90_ms,ratio,cpu_ms,peak_rss_kib,command\n");
  int width = 3;  // the longest row name
  for (const Row& row : rows) width = std::max(width, static_cast<int>(row.name.size()));
  std::printf("%-*s %5s %9s %9s %8s %7s %7s %9s\n", width, "row", "runs", "failed", "median ms", "p90 ms", "ratio", "CPU ms",
              "peak KiB");
  for (const Row& row : rows) {
    const double median = percentile(row.ms, 0.5), p90 = percentile(row.ms, 0.9);
    const double ratio = median / reference[row.parallel], cpu = percentile(row.cpu_ms, 0.5);
    const long peak = percentile(row.peak_kib, 0.5);
    const std::string failures = std::to_string(failed(row)) + "/" + std::to_string(row.started);
    std::printf("%-*s %5zu %9s %9.2f %8.2f %6.2fx %7.2f %9ld\n", width, row.name.c_str(), row.ms.size(), failures.c_str(),
                median, p90, ratio, cpu, peak);
    if (out) {
      std::string command;
      for (const auto& word : row.command) command += (command.empty() ? "" : " ") + word;
      std::fprintf(out, "%s,%d,%zu,%d,%d,%.3f,%.3f,%.3f,%.3f,%ld,\"%s\"\n", row.name.c_str(), row.parallel,
                   row.ms.size(), row.started, failed(row), median, p90, ratio, cpu, peak, command.c_str());
    }
  }
  if (out) std::fclose(out);

  std::fflush(stdout);  // the table first, also when stdout is a file
  bool all_ran = true;
  for (const Row& row : rows) {
    if (failed(row) == 0) continue;
    explain(row);
    all_ran = false;
  }
  return all_ran ? 0 : 1;
}
