// The two xtables locks as non-blocking, try-once primitives (no N-API here).
//
// iptables >= 1.6 serialises on flock(LOCK_EX) of /run/xtables.lock (or $XTABLES_LOCKFILE);
// iptables 1.4 (and Felix's Go code) bind the abstract unix socket "@xtables". Waiting and
// retrying is the caller's business: these never block.
#ifndef IPTABLES_SYNC_LOCKS_H_
#define IPTABLES_SYNC_LOCKS_H_

#include <string>

#include "fd.h"

namespace ipts {

// On success `fd` holds the lock (closing it releases the lock) and `error` is 0.
// On failure `fd` is empty, `error` is the errno and `syscall` names the call that failed.
// A busy lock is error EWOULDBLOCK (flock) or EADDRINUSE (bind).
struct LockAttempt {
  UniqueFd fd;
  int error = 0;
  const char* syscall = "";
};

// The `syscall` of a TryFlock failure whose path is not a regular file (errno EINVAL).
inline constexpr const char kNotRegularFile[] = "not-a-regular-file";

// open(path, O_RDONLY|O_CREAT|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK, 0600), refuse anything but a
// regular file, then flock(LOCK_EX|LOCK_NB).
LockAttempt TryFlock(const std::string& path);

// socket(AF_UNIX, SOCK_STREAM) bound to the abstract name `name` (no leading '@' or NUL;
// the address length covers exactly the name, as iptables 1.4 and Go do), then listen().
LockAttempt TryBindAbstract(const std::string& name);

}  // namespace ipts

#endif  // IPTABLES_SYNC_LOCKS_H_
