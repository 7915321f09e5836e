// Felix's chained rule IDs (SPEC section 3), using the OpenSSL that Node itself exports:
//   h = SHA-224(chain name); for each rule line: h = SHA-224(h || line); ID = base64url(h)[:16]
// No N-API here.
#ifndef IPTABLES_SYNC_HASH_H_
#define IPTABLES_SYNC_HASH_H_

#include <stddef.h>

#include <string>
#include <string_view>

typedef struct evp_md_st EVP_MD;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace ipts {

constexpr size_t kRuleIdLength = 16;

class ChainHasher {
 public:
  ChainHasher();  // fetches SHA2-224 once; check ok()
  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  bool ok() const { return md_ != nullptr && ctx_ != nullptr; }

  // `lines` holds `count` rule lines joined by '\n'. Appends count * kRuleIdLength characters
  // to `ids`. On failure returns false and sets `error`.
  bool HashChain(std::string_view chain, std::string_view lines, size_t count, std::string* ids,
                 std::string* error);

 private:
  bool Digest(std::string_view a, std::string_view b, unsigned char* out);

  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;  // reused: one hasher is only used by one thread at a time
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_HASH_H_
