// SHA-224 (FIPS 180-4): SHA-256 with other initial values, truncated to 28 bytes. The addon has
// its own so it depends on nothing but libc: Node's exported OpenSSL symbols differ between
// builds (distro Node links a shared libcrypto, some builds export none), and a prebuild must
// load on all of them. No N-API here.
#ifndef IPTABLES_SYNC_SHA224_H_
#define IPTABLES_SYNC_SHA224_H_

#include <stddef.h>
#include <stdint.h>

namespace ipts {

constexpr size_t kSha224Bytes = 28;

class Sha224 {
 public:
  Sha224() { Reset(); }
  void Reset();
  void Update(const unsigned char* data, size_t len);
  // Writes the digest to out and leaves the object to be Reset() before reuse.
  void Final(unsigned char out[kSha224Bytes]);

 private:
  void Compress(const unsigned char block[64]);

  uint32_t state_[8];
  uint64_t total_bytes_;
  unsigned char buffer_[64];
  size_t buffered_;
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_SHA224_H_
