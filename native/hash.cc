#include "hash.h"

namespace ipts {

namespace {

// 12 bytes encode to exactly 16 base64 characters, so no padding logic is needed.
constexpr size_t kIdSourceBytes = kRuleIdLength / 4 * 3;
static_assert(kIdSourceBytes <= kSha224Bytes, "ID longer than the digest");

void AppendBase64Url(const unsigned char* in, size_t len, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i + 3 <= len; i += 3) {
    const unsigned v = (unsigned{in[i]} << 16) | (unsigned{in[i + 1]} << 8) | in[i + 2];
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
}

}  // namespace

void ChainHasher::Digest(std::string_view a, std::string_view b, unsigned char* out) {
  sha_.Reset();
  sha_.Update(reinterpret_cast<const unsigned char*>(a.data()), a.size());
  sha_.Update(reinterpret_cast<const unsigned char*>(b.data()), b.size());
  sha_.Final(out);
}

bool ChainHasher::HashChain(std::string_view chain, std::string_view lines, size_t count,
                            std::string* ids, std::string* error) {
  size_t newlines = 0;
  for (char c : lines) newlines += c == '\n';
  // An empty string is zero lines when zero are expected, else one empty line.
  const size_t given = (count == 0 && lines.empty()) ? 0 : newlines + 1;
  if (given != count) {
    *error = "rule count " + std::to_string(count) + " does not match the " +
             std::to_string(given) + " newline-separated lines given";
    return false;
  }

  unsigned char h[kSha224Bytes];
  Digest(chain, {}, h);
  ids->reserve(ids->size() + count * kRuleIdLength);
  size_t start = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t end = lines.find('\n', start);
    if (end == std::string_view::npos) end = lines.size();
    const std::string_view previous(reinterpret_cast<const char*>(h), sizeof(h));
    Digest(previous, lines.substr(start, end - start), h);
    AppendBase64Url(h, kIdSourceBytes, ids);
    start = end + 1;
  }
  return true;
}

}  // namespace ipts
