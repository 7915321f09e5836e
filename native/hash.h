// Felix's chained rule IDs (see src/hash.ts), with the addon's own SHA-224 (sha224.h):
//   h = SHA-224(chain name); for each rule line: h = SHA-224(h || line); ID = base64url(h)[:16]
// No N-API here.
#ifndef IPTABLES_SYNC_HASH_H_
#define IPTABLES_SYNC_HASH_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>

#include "sha224.h"

namespace ipts {

constexpr size_t kRuleIdLength = 16;

// How many '\n'-separated lines `text` holds, as the batch arguments count them: an empty text
// is no lines when none are expected, else one empty line.
inline size_t LinesIn(std::string_view text, size_t expected) {
  if (expected == 0 && text.empty()) return 0;
  size_t newlines = 0;
  for (char c : text) newlines += c == '\n';
  return newlines + 1;
}

class ChainHasher {
 public:
  ChainHasher() = default;
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  // `lines` holds `count` rule lines joined by '\n'. Appends count * kRuleIdLength characters
  // to `ids`. On failure returns false and sets `error`.
  bool HashChain(std::string_view chain, std::string_view lines, size_t count, std::string* ids,
                 std::string* error);

  // Many chains at once, from rule bodies rather than whole lines: `names` holds the chain
  // names joined by '\n', `counts` the number of rules of each, `bodies` every body (the text
  // after "-A <chain> HASH ") of all chains in order, joined by '\n'. Each rule's hash input
  // "-A <chain> HASH <body>" ("-A <chain> HASH" for an empty body) is fed to SHA-224 in parts,
  // never built. Appends sum(counts) * kRuleIdLength characters to `ids`.
  bool HashChains(std::string_view names, const uint32_t* counts, size_t chains,
                  std::string_view bodies, std::string* ids, std::string* error);

 private:
  void Digest(std::string_view a, std::string_view b, unsigned char* out);

  Sha224 sha_;  // reused: one hasher is only used by one thread at a time
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_HASH_H_
