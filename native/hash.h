// Felix's chained rule IDs (see src/hash.ts), with the addon's own SHA-224 (sha224.h):
//   h = SHA-224(chain name); for each rule line: h = SHA-224(h || line); ID = base64url(h)[:16]
// No N-API here.
#ifndef IPTABLES_SYNC_HASH_H_
#define IPTABLES_SYNC_HASH_H_

#include <stddef.h>

#include <string>
#include <string_view>

#include "sha224.h"

namespace ipts {

constexpr size_t kRuleIdLength = 16;

class ChainHasher {
 public:
  ChainHasher() = default;
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  // `lines` holds `count` rule lines joined by '\n'. Appends count * kRuleIdLength characters
  // to `ids`. On failure returns false and sets `error`.
  bool HashChain(std::string_view chain, std::string_view lines, size_t count, std::string* ids,
                 std::string* error);

 private:
  void Digest(std::string_view a, std::string_view b, unsigned char* out);

  Sha224 sha_;  // reused: one hasher is only used by one thread at a time
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_HASH_H_
