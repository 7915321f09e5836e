#include "locks.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <utility>

namespace ipts {

namespace {

LockAttempt Failed(int error, const char* syscall) {
  LockAttempt attempt;
  attempt.error = error;
  attempt.syscall = syscall;
  return attempt;
}

}  // namespace

LockAttempt TryFlock(const std::string& path) {
  if (path.empty() || path.find('\0') != std::string::npos) return Failed(EINVAL, "open");
  // O_NOFOLLOW: a root process must not follow a planted symlink to create/lock another file.
  // O_NONBLOCK: open() of a planted FIFO would otherwise wait for a writer, on the event loop
  // thread; such a file is refused below. On a regular file the flag changes nothing.
  const int flags = O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  UniqueFd fd(::open(path.c_str(), flags, 0600));
  if (!fd.valid()) return Failed(errno, "open");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Failed(errno, "fstat");
  if (!S_ISREG(st.st_mode)) return Failed(EINVAL, kNotRegularFile);
  int rc;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return Failed(errno, "flock");  // fd closes here
  LockAttempt attempt;
  attempt.fd = std::move(fd);
  return attempt;
}

LockAttempt TryBindAbstract(const std::string& name) {
  sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  // sun_path[0] stays NUL (abstract namespace); the name follows and may not contain NUL.
  if (name.empty() || name.size() > sizeof(addr.sun_path) - 1 ||
      name.find('\0') != std::string::npos) {
    return Failed(EINVAL, "bind");
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, name.data(), name.size());
  // Abstract names are length-sensitive: "xtables" bound with a padded 108-byte address is a
  // different name. iptables 1.4 and Go's net.Listen("unix", "@xtables") use the exact length.
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Failed(errno, "socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    return Failed(errno, "bind");
  }
  if (::listen(fd.get(), 1) != 0) return Failed(errno, "listen");
  LockAttempt attempt;
  attempt.fd = std::move(fd);
  return attempt;
}

}  // namespace ipts
