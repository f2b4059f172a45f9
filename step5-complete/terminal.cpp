// Step 5's terminal. Typed at, the container gets a pseudo-terminal of its own, whose other end
// the runtime relays to the caller's terminal, as `docker run -it` does; otherwise none at all.
// Either way it runs in a session of its own, and the caller's terminal is out of its reach: a
// process that shares it can type into the caller's shell (TIOCSTI; bubblewrap's CVE-2017-5226).
#include "container.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

termios caller;  // the caller's terminal as we found it: put back at exit, whichever way we exit

void restore_terminal() { tcsetattr(STDIN_FILENO, TCSAFLUSH, &caller); }

// One byte and a file descriptor over a unix socket: the kernel gives the receiver a descriptor
// of its own for the same open file (SCM_RIGHTS).
msghdr fd_message(char& byte, iovec& data, char (&space)[CMSG_SPACE(sizeof(int))]) {
  data = {&byte, 1};
  return {.msg_iov = &data, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space};
}

}  // namespace

//! [on_a_terminal]
// stdin and stdout are a terminal, and we are in its foreground: someone types at the container.
bool on_a_terminal() { return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp(); }
//! [on_a_terminal]

//! [attach_terminal]
// In the child, once /dev/pts is the container's own: a session of its own, without the caller's
// terminal; and with `terminal`, a new pseudo-terminal in the container's /dev/pts as its stdin,
// stdout, stderr and controlling terminal, its master end sent to the runtime to relay.
void attach_terminal(bool terminal) {
  must(setsid(), "setsid");
  if (!terminal) return;
  const int master = static_cast<int>(must(open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), "open /dev/pts/ptmx"));
  must(unlockpt(master), "unlockpt");
  const int other = static_cast<int>(must(ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY), "open the terminal"));
  char byte = 't', space[CMSG_SPACE(sizeof(int))]{};
  iovec data{};
  msghdr message = fd_message(byte, data, space);
  *CMSG_FIRSTHDR(&message) = {.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
  std::memcpy(CMSG_DATA(CMSG_FIRSTHDR(&message)), &master, sizeof master);
  must(sendmsg(runtime_fd, &message, 0), "send the terminal to the runtime");
  close(master);
  must(ioctl(other, TIOCSCTTY, 0), "take the terminal");  // Ctrl-C and job control work inside
  for (int fd = 0; fd < 3; ++fd) must(dup2(other, fd), "dup2");
  if (other > 2) close(other);
}
//! [attach_terminal]

//! [receive_terminal]
// In the runtime: the container's terminal, as attach_terminal() sent it (-1 if the child failed
// first; it said why). The caller's terminal goes raw: every key, Ctrl-C included, is the
// container's to interpret.
int receive_terminal(int socket) {
  char byte = 0, space[CMSG_SPACE(sizeof(int))]{};
  iovec data{};
  msghdr message = fd_message(byte, data, space);
  if (recvmsg(socket, &message, MSG_CMSG_CLOEXEC) != 1 || CMSG_FIRSTHDR(&message) == nullptr) return -1;
  int terminal = -1;
  std::memcpy(&terminal, CMSG_DATA(CMSG_FIRSTHDR(&message)), sizeof terminal);
  must(tcgetattr(STDIN_FILENO, &caller), "tcgetattr");
  if (std::atexit(restore_terminal) != 0) fail("atexit failed");
  termios raw = caller;
  cfmakeraw(&raw);
  must(tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw), "tcsetattr");
  copy_window_size(terminal);
  return terminal;
}
//! [receive_terminal]

//! [relay]
// Copies what there is to read from `from` to `to`; false once `from` has closed (the master end
// reads EIO when no process holds the terminal any more: the container has ended).
bool relay(int from, int to) {
  char buffer[4096];
  const ssize_t n = read(from, buffer, sizeof buffer);
  for (ssize_t done = 0, written = 0; done < n; done += written)
    if ((written = write(to, buffer + done, n - done)) == -1) return false;
  return n > 0;
}

// The caller's window size, for the container's terminal: full-screen programs lay out by it.
void copy_window_size(int terminal) {
  winsize size{};
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0) must(ioctl(terminal, TIOCSWINSZ, &size), "set the window size");
}
//! [relay]
