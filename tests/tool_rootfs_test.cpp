// Tests of the rootfs recipe (rootfs/): the rootfs the build made, and build-rootfs.sh itself.
// The suites are named Tool...: they run once, not once per step.
//
// Environment: WORKSHOP_ROOTFS, the built rootfs (e.g. build/rootfs);
//              WORKSHOP_SOURCE_DIR, the workshop's source tree (for rootfs/build-rootfs.sh).
#include "harness.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

using workshop::has_line;
using workshop::read_file;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string quote(const std::string& word) {  // for sh: 'it'\''s'
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct Shell {
  int status = -1;
  std::string output;  // stdout and stderr
};
Shell sh(const std::string& command) {
  Shell run;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

struct TempTree {  // a scratch directory, removed with everything in it
  fs::path path;
  TempTree() {
    std::string name = (fs::temp_directory_path() / "workshop-rootfs-test-XXXXXX").string();
    if (mkdtemp(name.data()) != nullptr) path = name;
  }
  ~TempTree() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
};

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// Every entry below `root`, by relative name: "type mode mtime" and the link target or the bytes.
std::map<std::string, std::string> describe(const fs::path& root) {
  std::map<std::string, std::string> tree;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    struct stat st {};
    lstat(entry.path().c_str(), &st);
    std::ostringstream line;
    line << std::oct << (st.st_mode & S_IFMT) << ' ' << (st.st_mode & 07777) << std::dec << ' '
         << st.st_mtim.tv_sec << ' ';
    if (entry.is_symlink()) line << "-> " << fs::read_symlink(entry.path()).string();
    else if (entry.is_regular_file()) line << read_file(entry.path());
    tree[entry.path().lexically_relative(root).string()] = line.str();
  }
  return tree;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

// --- the rootfs the build made ------------------------------------------------------------------

class ToolRootfsBuilt : public testing::Test {
 protected:
  void SetUp() override {
    if (env("WORKSHOP_ROOTFS").empty())
      WORKSHOP_SKIP_OR_FAIL_("WORKSHOP_ROOTFS is not set (the built rootfs, e.g. build/rootfs)");
    root = env("WORKSHOP_ROOTFS");
    ASSERT_TRUE(fs::is_directory(root))
        << root << " is not a directory (build it: cmake --build build --target rootfs)";
  }
  fs::path root;
};

TEST_F(ToolRootfsBuilt, HasBusyboxAndALinkPerApplet) {
  ASSERT_TRUE(fs::is_regular_file(fs::symlink_status(root / "bin/busybox")));
  EXPECT_EQ(mode_of(root / "bin/busybox"), 0755u);
  EXPECT_TRUE(fs::is_symlink(root / "bin/sh"));
  // The links are relative, so from the host, too, they lead to the rootfs's own busybox.
  const Shell list = sh(quote((root / "bin/busybox").string()) + " --list-full");
  ASSERT_EQ(list.status, 0) << list.output;
  std::istringstream applets(list.output);
  int links = 0;
  for (std::string applet; std::getline(applets, applet);) {
    if (applet == "bin/busybox" || applet == "linuxrc") continue;
    EXPECT_TRUE(fs::is_symlink(root / applet)) << applet;
    std::error_code error;
    EXPECT_TRUE(fs::equivalent(root / applet, root / "bin/busybox", error)) << applet;
    ++links;
  }
  EXPECT_GT(links, 100);
}

TEST_F(ToolRootfsBuilt, HasRootAndNobody) {
  const std::string passwd = read_file(root / "etc/passwd");
  const std::string group = read_file(root / "etc/group");
  EXPECT_NE(passwd.find("root:x:0:0:"), std::string::npos) << passwd;
  EXPECT_NE(passwd.find("nobody:x:65534:65534:"), std::string::npos) << passwd;
  EXPECT_TRUE(has_line(group, "root:x:0:")) << group;
  EXPECT_TRUE(has_line(group, "nogroup:x:65534:")) << group;
}

TEST_F(ToolRootfsBuilt, OsReleaseCarriesTheMarker) {
  EXPECT_TRUE(has_line(read_file(root / "etc/os-release"), "ID=workshop"));
  // The marker proves "/ is the rootfs" only because the host's os-release lacks it.
  EXPECT_FALSE(has_line(read_file("/etc/os-release"), "ID=workshop"));
}

TEST_F(ToolRootfsBuilt, DirectoriesHaveTheirModes) {
  EXPECT_EQ(mode_of(root / "tmp"), 01777u);
  EXPECT_EQ(mode_of(root / "root"), 0700u);
  for (const char* dir : {"proc", "sys", "dev", "home", "mnt", "etc"})
    EXPECT_EQ(mode_of(root / dir), 0755u) << dir;
  for (const char* dir : {"proc", "sys", "dev"}) EXPECT_TRUE(fs::is_empty(root / dir)) << dir;
  EXPECT_FALSE(fs::exists(root / "etc/hostname"));  // the runtime sets the hostname
}

TEST_F(ToolRootfsBuilt, IsAFewMegabytes) {
  std::uintmax_t bytes = 0;
  // /root is 0700: a test run by another user counts what it can read.
  for (const auto& entry :
       fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied))
    if (entry.is_regular_file() && !entry.is_symlink()) bytes += entry.file_size();
  EXPECT_GT(bytes, 500'000u);  // busybox is in
  EXPECT_LT(bytes, 10'000'000u);
}

TEST_F(ToolRootfsBuilt, ShellRunsInsideAndKnowsTheUsers) {
  if (geteuid() != 0) WORKSHOP_SKIP_OR_FAIL_("chroot needs root");
  // Runs only if busybox is static: the rootfs has no ld.so and no libc.
  const Shell run = sh("chroot " + quote(root.string()) + " /bin/sh -c 'id; id nobody'");
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output,
            "uid=0(root) gid=0(root)\n"
            "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n");
}

// --- build-rootfs.sh ----------------------------------------------------------------------------

class ToolRootfsScript : public testing::Test {
 protected:
  void SetUp() override {
    if (env("WORKSHOP_SOURCE_DIR").empty())
      WORKSHOP_SKIP_OR_FAIL_("WORKSHOP_SOURCE_DIR is not set (the workshop's source tree)");
    script = fs::path(env("WORKSHOP_SOURCE_DIR")) / "rootfs/build-rootfs.sh";
    ASSERT_TRUE(fs::is_regular_file(script)) << script << " not found";
    ASSERT_FALSE(temp.path.empty()) << "cannot create a scratch directory";
    fs::create_directories(out);
  }
  Shell build(const std::string& args) { return sh("bash " + quote(script.string()) + " " + args); }

  fs::path script;
  TempTree temp;
  fs::path out = temp.path / "out";  // the script's parent directory: nothing else lands here
  fs::path dest = out / "rootfs";
};

TEST_F(ToolRootfsScript, SameRecipeSameTree) {
  const Shell first = build(quote((out / "a").string()));
  const Shell second = build(quote((out / "b").string()));
  ASSERT_EQ(first.status, 0) << first.output;
  ASSERT_EQ(second.status, 0) << second.output;
  const auto tree = describe(out / "a");
  EXPECT_GT(tree.size(), 100u);
  // type, mode, mtime (fixed at 0), relative target
  EXPECT_EQ(tree.at("bin/sh"), "120000 777 0 -> busybox");
  EXPECT_EQ(tree.at("usr/bin/env"), "120000 777 0 -> ../../bin/busybox");
  EXPECT_TRUE(tree == describe(out / "b")) << "two builds of the same recipe differ";
  EXPECT_EQ(mode_of(out / "a"), 0755u);
  EXPECT_EQ(names_in(out), (std::set<std::string>{"a", "b"}));  // no scratch left behind
}

TEST_F(ToolRootfsScript, RefusesAMissingOrDynamicBusybox) {
  // coreutils' true is dynamically linked: it needs an ld.so the rootfs does not have.
  for (const char* busybox : {"/bin/true", "/nonexistent/busybox"}) {
    const Shell run = build("--busybox " + quote(busybox) + " " + quote(dest.string()));
    EXPECT_NE(run.status, 0) << busybox;
    EXPECT_NE(run.output.find("apt-get install busybox-static"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find('\n'), run.output.size() - 1) << "not one line: " << run.output;
  }
  EXPECT_TRUE(names_in(out).empty());
}

TEST_F(ToolRootfsScript, ReplacesAnExistingTreeOnlyWithForce) {
  fs::create_directories(dest / "keep");
  const Shell refused = build(quote(dest.string()));
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("--force"), std::string::npos) << refused.output;
  EXPECT_TRUE(fs::exists(dest / "keep"));
  const Shell forced = build("--force " + quote(dest.string()));
  EXPECT_EQ(forced.status, 0) << forced.output;
  EXPECT_FALSE(fs::exists(dest / "keep"));
  EXPECT_TRUE(fs::exists(dest / "bin/busybox"));
}

// --- build-rootfs.sh --tarball ------------------------------------------------------------------

// Tarballs are made from src/; outside/secret stands for a host file an archive must not reach.
class ToolRootfsTarball : public ToolRootfsScript {
 protected:
  void SetUp() override {
    ToolRootfsScript::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    fs::create_directories(src / "etc");
    fs::create_directories(outside);
    std::ofstream(src / "a") << "a file\n";
    std::ofstream(secret) << "the host's\n";
  }
  // tar ARGS in src/, writing the tarball `name`; returns its path.
  fs::path make_tar(const std::string& name, const std::string& args) {
    const fs::path tarball = temp.path / name;
    const Shell run =
        sh("tar -C " + quote(src.string()) + " -f " + quote(tarball.string()) + " " + args);
    EXPECT_EQ(run.status, 0) << run.output;
    return tarball;
  }
  // The script refuses `tarball` with one line containing `why`, and writes nothing anywhere.
  void expect_refused(const fs::path& tarball, const std::string& why) {
    const Shell run = build("--tarball " + quote(tarball.string()) + " " + quote(dest.string()));
    EXPECT_NE(run.status, 0) << run.output;
    EXPECT_NE(run.output.find("refusing"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(why), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find('\n'), run.output.size() - 1) << "not one line: " << run.output;
    EXPECT_TRUE(names_in(out).empty()) << "written next to the target";
    EXPECT_EQ(names_in(outside), std::set<std::string>{"secret"}) << "written outside";
    EXPECT_EQ(fs::hard_link_count(secret), 1u) << "linked to a file outside";
  }

  fs::path src = temp.path / "src";
  fs::path outside = temp.path / "outside";
  fs::path secret = outside / "secret";
};

TEST_F(ToolRootfsTarball, RefusesDotDot) {
  // -P stores the name as given; without it tar itself strips the '../'.
  expect_refused(make_tar("evil.tar", "-cP --transform='s,^a$,../evil,' a"), "'..'");
}

TEST_F(ToolRootfsTarball, RefusesAbsoluteName) {
  const std::string rename = "s,^a$," + (outside / "abs").string() + ",";
  expect_refused(make_tar("abs.tar", "-cP --transform=" + quote(rename) + " a"), "absolute");
}

TEST_F(ToolRootfsTarball, RefusesHardLinkOutside) {
  fs::create_hard_link(src / "a", src / "b");  // b is stored as a hard link to a
  // Flags Rh: rename the hard link's target only, not the member a itself.
  const std::string to_secret = "s,^a$," + secret.string() + ",Rh";
  expect_refused(make_tar("hard.tar", "-cP --transform=" + quote(to_secret) + " a b"), "absolute");
  expect_refused(make_tar("hard-up.tar", "-cP --transform='s,^a$,../outside/secret,Rh' a b"),
                 "'..'");
}

TEST_F(ToolRootfsTarball, RefusesMemberBelowSymlink) {
  fs::create_directory_symlink(outside, src / "link");  // then link/planted lands in outside/
  expect_refused(make_tar("below.tar", "-c --transform='s,^a$,link/planted,' link a"),
                 "below the symlink");
}

TEST_F(ToolRootfsTarball, RefusesDeviceNode) {
  const fs::path tarball = temp.path / "dev.tar";
  ASSERT_EQ(sh("tar -C / -cf " + quote(tarball.string()) + " dev/null").status, 0);
  expect_refused(tarball, "device node");
}

TEST_F(ToolRootfsTarball, UnpacksACleanTarball) {
  std::ofstream(src / "etc/os-release") << "ID=alpine\n";
  fs::create_hard_link(src / "a", src / "b");
  fs::create_symlink("/bin/busybox", src / "sh");  // absolute: resolved inside the container
  std::ofstream(src / "odd \"name\" -> x") << "odd\n";
  const fs::path tarball = make_tar("clean.tar.gz", "-cz .");

  const Shell run = build("--tarball " + quote(tarball.string()) + " " + quote(dest.string()));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(read_file(dest / "etc/os-release"), "ID=alpine\n");  // left alone: no marker added
  EXPECT_EQ(fs::read_symlink(dest / "sh"), "/bin/busybox");
  EXPECT_TRUE(fs::equivalent(dest / "a", dest / "b"));
  EXPECT_EQ(read_file(dest / "odd \"name\" -> x"), "odd\n");
  EXPECT_EQ(mode_of(dest), 0755u);
  EXPECT_EQ(names_in(out), std::set<std::string>{"rootfs"});
}

}  // namespace
