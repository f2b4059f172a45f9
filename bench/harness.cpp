// The bench's timing harness: how long each container runtime takes to run `/bin/true`, and
// how much memory it peaks at, measured the same way for every runtime.
//
//   bench-harness [--rounds N] [--warmup N] [--csv FILE] SPEC
//
// SPEC has one row per line (bench/run writes it; `#` starts a comment):
//   NAME  PARALLEL  PRELUDE  COMMAND [ARGS...]
// PARALLEL: how many copies start at once; the row's time is the whole batch's wall time.
// PRELUDE:  `-`, or `hide-cgroup2` (see hide_cgroup2()).
// COMMAND:  words separated by blanks, no quoting; `{id}` becomes an id unique to the run.
//
// Every round runs every row once, each round starting one row further on (round-robin), so a
// drift in the machine's speed (another job, the CPU's clock, a cache) hits every row alike.
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
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Row {
  std::string name;
  int parallel = 1;
  bool hide_cgroup2 = false;
  std::vector<std::string> command;
  // What the rounds measured:
  std::vector<double> ms;      // wall time of each run (of the whole batch), warm-up left out
  std::vector<double> cpu_ms;  // CPU time (user + system) of each run's processes, added up
  std::vector<long> peak_kib;  // the largest ru_maxrss among each run's processes
  int started = 0, failed = 0;  // processes, warm-up included: a failure is never left out
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

// Starts one copy of the row's command. Its output goes to /dev/null unless `verbose`.
pid_t start(const Row& row, char* const argv[], bool verbose) {
  pid_t pid = fork();
  if (pid != 0) return pid;  // the harness (or -1)
  int null = open("/dev/null", O_RDWR);
  dup2(null, STDIN_FILENO);
  dup2(verbose ? STDERR_FILENO : null, STDOUT_FILENO);
  if (!verbose) dup2(null, STDERR_FILENO);
  if (row.hide_cgroup2) hide_cgroup2();
  execvp(argv[0], argv);
  std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
  _exit(127);
}

double ms(const timespec& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6; }
double ms(const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) * 1e-3; }

struct Sample {
  double ms = 0, cpu_ms = 0;
  long peak_kib = 0;
  int failed = 0;
};

// One run of a row: PARALLEL copies started back to back, timed until the last one is reaped.
Sample run_once(const Row& row, bool verbose = false) {
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
    pid_t pid = start(row, argv.data(), verbose);
    if (pid == -1) ++sample.failed; else pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    rusage usage{};
    // wait4's rusage covers the child and every descendant waited for inside its tree: CPU
    // times are their sum, ru_maxrss the peak resident set of the largest single process.
    if (wait4(pid, &status, 0, &usage) == -1) die(std::string("wait4: ") + std::strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++sample.failed;
    sample.cpu_ms += ms(usage.ru_utime) + ms(usage.ru_stime);
    sample.peak_kib = std::max(sample.peak_kib, usage.ru_maxrss);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  sample.ms = ms(end) - ms(begin);
  return sample;
}

// The nearest-rank percentile: a value that was measured, never an interpolation.
template <typename T>
T percentile(std::vector<T> values, double p) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 100, warmup = 5;
  std::string spec, csv;
  CLI::App app{"Time container runtimes, interleaved (bench/run writes the SPEC)", "bench-harness"};
  app.add_option("--rounds", rounds, "Measured rounds (every row runs once a round)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", warmup, "Rounds run first and not timed")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--csv", csv, "Also write the table to this CSV file");
  app.add_option("spec", spec, "NAME PARALLEL PRELUDE COMMAND... per line")->required();
  CLI11_PARSE(app, argc, argv);

  std::vector<Row> rows = read_spec(spec);
  const bool progress = isatty(STDERR_FILENO);
  for (int round = 0; round < warmup + rounds; ++round) {
    for (size_t k = 0; k < rows.size(); ++k) {
      Row& row = rows[(round + k) % rows.size()];
      Sample sample = run_once(row);
      row.started += row.parallel;
      row.failed += sample.failed;
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
  int failures = 0;
  for (const Row& row : rows) {
    const double median = percentile(row.ms, 0.5), p90 = percentile(row.ms, 0.9);
    const double ratio = median / reference[row.parallel], cpu = percentile(row.cpu_ms, 0.5);
    const long peak = percentile(row.peak_kib, 0.5);
    const std::string failed = std::to_string(row.failed) + "/" + std::to_string(row.started);
    std::printf("%-*s %5zu %9s %9.2f %8.2f %6.2fx %7.2f %9ld\n", width, row.name.c_str(), row.ms.size(), failed.c_str(),
                median, p90, ratio, cpu, peak);
    if (out) {
      std::string command;
      for (const auto& word : row.command) command += (command.empty() ? "" : " ") + word;
      std::fprintf(out, "%s,%d,%zu,%d,%d,%.3f,%.3f,%.3f,%.3f,%ld,\"%s\"\n", row.name.c_str(), row.parallel,
                   row.ms.size(), row.started, row.failed, median, p90, ratio, cpu, peak, command.c_str());
    }
    failures += row.failed;
  }
  if (out) std::fclose(out);

  // A row that failed is run once more with its output shown, so the reason is on the screen.
  std::fflush(stdout);  // the table first, also when stdout is a file
  for (const Row& row : rows) {
    if (row.failed == 0) continue;
    std::fprintf(stderr, "\n%s: %d of %d processes failed; once more, with its output:\n", row.name.c_str(), row.failed,
                 row.started);
    run_once(row, true);
  }
  return failures == 0 ? 0 : 1;
}
