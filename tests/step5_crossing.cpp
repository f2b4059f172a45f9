// The matrix row "nothing of the caller crosses over" (docs/mainpage.md, "What each step
// isolates"), checked at every step. Where the row is "yes" each attack, made from inside the
// container (tests/probe/probe.cpp), must fail; before, the "no" is shown on things of the test's
// own: a pseudo-terminal it made, descriptors and keys it holds, a harmless device node (null's,
// zero's) in a directory or a copy of the rootfs of its own.
//   TiocstiCannotTypeIntoTheCallersTerminal  TIOCSTI into the terminal the runtime runs on
//   OnlyFdsZeroToTwo                         the caller's open descriptors; -w /proc/self/fd/N
//   KeyringsAreNotTheHosts                   keys in the caller's session and user keyrings
//   DeviceNodesInTheRootfsDoNotOpen          device nodes shipped in the rootfs, or a volume
// The rest of the row needs step 5's options: Step5Attacks (step5_attacks.cpp), for mount
// targets and the bounded writable layer; Step5Terminal (step5_options.cpp), for the terminal.
#include "harness.hpp"

#include <fcntl.h>
#include <linux/keyctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

using namespace workshop;

namespace {

// A descriptor of the test's, closed at scope exit.
struct Fd {
  int fd;
  explicit Fd(int fd) : fd(fd) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A "user" key the test adds to `keyring`, invalidated at scope exit (and expiring in a minute,
// should the test die first: the user keyring is every process's of that user).
struct Key {
  std::string description = unique_name("workshop-key"), payload = unique_name("secret-of-the-caller");
  long id;
  explicit Key(long keyring)
      : id(syscall(SYS_add_key, "user", description.c_str(), payload.data(), payload.size(), keyring)) {
    if (id >= 0) syscall(SYS_keyctl, KEYCTL_SET_TIMEOUT, id, 60);
  }
  ~Key() {
    if (id >= 0) syscall(SYS_keyctl, KEYCTL_INVALIDATE, id);
  }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
};

}  // namespace

// A process that shares the caller's terminal pushes a line into its input with TIOCSTI, which
// the caller's shell runs once the container exits (bubblewrap's CVE-2017-5226). The runtime runs
// on a pseudo-terminal of the test's own, as typed at a shell, as `run ... &`, and as `... | run
// ...`; inside, the probe pushes a line into every terminal descriptor it has, and /dev/tty. The
// caller's terminal must have nothing to read after. (Before step 5 root inside may push into any
// terminal, and the container shares the caller's.)
TEST(NothingCrossesOver, TiocstiCannotTypeIntoTheCallersTerminal) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const ProbeRootfs probe;
  for (const auto& [start, how] : {std::pair{Terminal::Start::foreground, "run ..."}, std::pair{Terminal::Start::background, "run ... &"},
                                   std::pair{Terminal::Start::stdin_from_pipe, "... | run ..."}}) {
    const std::string typed = unique_name("echo typed-by-the-container");
    Terminal terminal(container_args({probe.probe(), "tiocsti", typed}, probe.options), start);
    EXPECT_EQ(terminal.wait(20), 0) << terminal.output;
    const std::string unread = terminal.unread_input();
    if (!yes(row::crossing))
      EXPECT_NE(unread.find(typed + "\n"), std::string::npos)
          << "step " << step() << ": the container types into the caller's terminal (" << how << ")" << terminal.output;
    else
      EXPECT_EQ(unread, "") << "the caller's shell would run this (" << how << ")" << terminal.output;
  }
}

// Only stdin, stdout and stderr reach COMMAND: not a directory or a file the caller left open.
// Such a directory is a way out of the root: `-w /proc/self/fd/7` started COMMAND in it (runc's
// CVE-2024-21626): a working directory is resolved inside the root, without /proc's magic links.
TEST(NothingCrossesOver, OnlyFdsZeroToTwo) {
  REQUIRE_CONTAINER_PRIVILEGES();
  const ProbeRootfs probe;
  const TempDir host;
  const std::string secret = unique_name("secret-of-the-caller");
  std::ofstream(host.path + "/secret") << secret << "\n";
  const Fd dir(open(host.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), file(open((host.path + "/secret").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_GE(dir.fd, 0);
  ASSERT_GE(file.fd, 0);
  const Result r = container({probe.probe(), "fds"}, {.open_fds = {{7, dir.fd}, {9, file.fd}}}, probe.options);
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::crossing)) {
    EXPECT_TRUE(has_line(r.out, "7") && has_line(r.out, "9")) << "step " << step() << ": the caller's descriptors reach COMMAND" << r;
    return;
  }
  EXPECT_EQ(r.out, "0\n1\n2\n") << r;
  const Result way_out = container({"cat", "secret"}, {.open_fds = {{7, dir.fd}}}, {"-w", "/proc/self/fd/7"});
  EXPECT_RUNTIME_ERROR(way_out, 125);  // which also says: the secret was not printed
}

// Keyrings belong to a user, not to a namespace: a key of the caller's, in its session keyring
// and in its user's keyring (linked from the session, as a login session has it), must be neither
// found nor read inside. Step 5 gives the container a session keyring of its own, and its seccomp
// filter refuses the keyring calls.
TEST(NothingCrossesOver, KeyringsAreNotTheHosts) {
  REQUIRE_CONTAINER_PRIVILEGES();
  // The test's own session keyring first: the keys go there, not into one it shares.
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr) < 0 ||
      syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) < 0)
    WORKSHOP_SKIP_OR_FAIL_(std::string("this host refuses keyrings: ") + strerror(errno));
  const Key session(KEY_SPEC_SESSION_KEYRING), user(KEY_SPEC_USER_KEYRING);
  ASSERT_GE(session.id, 0) << strerror(errno);
  ASSERT_GE(user.id, 0) << strerror(errno);
  const ProbeRootfs probe;
  const Result r = shell(probe.probe() + " key " + session.description + "; " + probe.probe() + " key " + user.description,
                         {}, probe.options);
  ASSERT_EQ(r.status, 0) << r;
  for (const Key* key : {&session, &user}) {
    const bool read = r.out.find(key->payload) != std::string::npos;
    if (!yes(row::crossing))
      EXPECT_TRUE(read) << "step " << step() << ": the container reads the caller's key" << r;
    else
      EXPECT_FALSE(read) << "the caller's key " << key->description << " was read" << r;
  }
}

// A device node needs CAP_MKNOD to make, but none to open once it is there: shipped in the
// rootfs, or in a volume, a node for a disk is the disk. Step 5 mounts both `nodev`: opening
// fails with EACCES, even for root. Here the nodes are null's and zero's under other names
// (harmless: only whether they open is asked). Before step 5 they open, unless the host's own
// file system is `nodev` there.
TEST(NothingCrossesOver, DeviceNodesInTheRootfsDoNotOpen) {
  REQUIRE_ROOT();  // mknod
  const ProbeRootfs probe;
  for (const auto& [name, minor] : {std::pair{"/not-null", 3u}, std::pair{"/not-zero", 5u}})
    ASSERT_EQ(mknod((probe.on_host + name).c_str(), S_IFCHR | 0666, makedev(1, minor)), 0) << strerror(errno);
  const Result r = container({probe.probe(), "open", probe.inside + "/not-null", probe.inside + "/not-zero"}, {}, probe.options);
  ASSERT_EQ(r.status, 0) << r;
  if (!yes(row::crossing)) {
    struct statvfs host {};
    ASSERT_EQ(statvfs(probe.on_host.c_str(), &host), 0);
    const std::string answer = host.f_flag & ST_NODEV ? " EACCES" : " OK";
    EXPECT_EQ(r.out, probe.inside + "/not-null" + answer + "\n" + probe.inside + "/not-zero" + answer + "\n")
        << "step " << step() << ": a device node shipped with the rootfs opens" << r;
    return;
  }
  EXPECT_EQ(r.out, "/probe/not-null EACCES\n/probe/not-zero EACCES\n") << r;
  // In a volume as well; docker's six devices, made by the runtime in /dev, still work (/dev/tty
  // says ENXIO: it works, but the container has no terminal here).
  const TempDir volume;
  ASSERT_EQ(mknod((volume.path + "/not-null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << strerror(errno);
  std::vector<std::string> options = probe.options;
  options.insert(options.end(), {"-v", volume.path + ":/volume"});
  const Result v = container({probe.probe(), "open", "/volume/not-null", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                              "/dev/urandom", "/dev/tty"},
                             {}, options);
  EXPECT_EQ(v.out, "/volume/not-null EACCES\n/dev/null OK\n/dev/zero OK\n/dev/full OK\n/dev/random OK\n/dev/urandom OK\n/dev/tty ENXIO\n")
      << v;
}
