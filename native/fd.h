// RAII owner of one file descriptor. Every fd the addon opens lives in one of these, so
// every early return (busy lock, failed bind, failed listen) closes it.
#ifndef IPTABLES_SYNC_FD_H_
#define IPTABLES_SYNC_FD_H_

#include <unistd.h>

namespace ipts {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Gives up ownership without closing.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the current fd (if any) and takes ownership of `fd`. close() is not retried on
  // EINTR: on Linux the fd is gone either way, and a retry could close a reused number.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_FD_H_
