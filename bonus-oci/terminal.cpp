// The bonus's terminal. With `podman run -t` the container gets a pseudo-terminal of its own, made
// in it as in step 5; conmon, outside, relays it to podman and you, as step 5's runtime did. The
// runtime hands conmon the master end through a unix socket conmon listens on: the console socket
// (--console-socket PATH). Without -t: no terminal, and a session of its own all the same.
#include "container.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace {

// One byte and a file descriptor over a unix socket: the kernel gives the receiver a descriptor
// of its own for the same open file (SCM_RIGHTS).
msghdr fd_message(char& byte, iovec& data, char (&space)[CMSG_SPACE(sizeof(int))]) {
  data = {&byte, 1};
  return {.msg_iov = &data, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space};
}

// Sends `fd` over `socket`, with the byte the message needs besides (conmon ignores it).
void send_fd(int socket, int fd, const std::string& to) {
  char byte = 't', space[CMSG_SPACE(sizeof(int))]{};
  iovec data{};
  msghdr message = fd_message(byte, data, space);
  *CMSG_FIRSTHDR(&message) = {.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
  std::memcpy(CMSG_DATA(CMSG_FIRSTHDR(&message)), &fd, sizeof fd);
  must(sendmsg(socket, &message, 0), "send the terminal to " + to);
}

}  // namespace

//! [connect_console]
// In the runtime, first: the socket is a path on the host, which `exec` no longer sees once it
// has entered the container's mount namespace.
int connect_console(const std::string& path) {
  sockaddr_un address{.sun_family = AF_UNIX};
  if (path.size() >= sizeof address.sun_path) fail("--console-socket '" + path + "': path too long for a unix socket");
  path.copy(address.sun_path, path.size());
  const int console = static_cast<int>(must(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  must(connect(console, reinterpret_cast<sockaddr*>(&address), sizeof address), "connect to the console socket " + path);
  return console;
}
//! [connect_console]

//! [attach_terminal]
// In the child, once /dev/pts is the container's own: a session of its own, without the caller's
// terminal; and with `terminal`, a new pseudo-terminal in the container's /dev/pts as its stdin,
// stdout, stderr and controlling terminal, its master end sent to the runtime to pass on.
void attach_terminal(bool terminal) {
  must(setsid(), "setsid");
  if (!terminal) return;
  const int master = static_cast<int>(must(open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), "open /dev/pts/ptmx"));
  must(unlockpt(master), "unlockpt");
  const int other = static_cast<int>(must(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY), "open the terminal"));
  send_fd(runtime_fd, master, "the runtime");
  close(master);
  must(ioctl(other, TIOCSCTTY, 0), "take the terminal");  // Ctrl-C and job control work inside
  for (int fd = 0; fd < 3; ++fd) must(dup2(other, fd), "dup2");
  if (other > 2) close(other);
}
//! [attach_terminal]

//! [receive_terminal]
// In the runtime: the container's terminal, as attach_terminal() sent it (-1 if the child failed
// first; it said why).
int receive_terminal(int socket) {
  char byte = 0, space[CMSG_SPACE(sizeof(int))]{};
  iovec data{};
  msghdr message = fd_message(byte, data, space);
  if (recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1 || CMSG_FIRSTHDR(&message) == nullptr) return -1;
  int terminal = -1;
  std::memcpy(&terminal, CMSG_DATA(CMSG_FIRSTHDR(&message)), sizeof terminal);
  return terminal;
}
//! [receive_terminal]

//! [send_terminal]
// ...and on to conmon, which takes one connection, and relays the terminal from then on.
void send_terminal(int console, int terminal) {
  if (terminal == -1) return;
  send_fd(console, terminal, "the console socket");
  close(terminal);
  close(console);
}
//! [send_terminal]
