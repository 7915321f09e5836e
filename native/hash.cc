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
  const size_t given = LinesIn(lines, count);
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

bool ChainHasher::HashChains(std::string_view names, const uint32_t* counts, size_t chains,
                             std::string_view bodies, std::string* ids, std::string* error) {
  size_t total = 0;
  for (size_t c = 0; c < chains; ++c) total += counts[c];
  const size_t names_given = LinesIn(names, chains);
  if (names_given != chains) {
    *error = std::to_string(chains) + " rule counts for " + std::to_string(names_given) +
             " newline-separated chain names";
    return false;
  }
  const size_t bodies_given = LinesIn(bodies, total);
  if (bodies_given != total) {
    *error = "rule counts add up to " + std::to_string(total) + ", but " +
             std::to_string(bodies_given) + " newline-separated rule bodies were given";
    return false;
  }

  static constexpr std::string_view kAppend = "-A ";
  static constexpr std::string_view kHash = " HASH";
  static constexpr std::string_view kSpace = " ";
  const auto feed = [this](std::string_view part) {
    sha_.Update(reinterpret_cast<const unsigned char*>(part.data()), part.size());
  };
  ids->reserve(ids->size() + total * kRuleIdLength);
  unsigned char h[kSha224Bytes];
  size_t name_start = 0;
  size_t body_start = 0;
  for (size_t c = 0; c < chains; ++c) {
    size_t name_end = names.find('\n', name_start);
    if (name_end == std::string_view::npos) name_end = names.size();
    const std::string_view name = names.substr(name_start, name_end - name_start);
    name_start = name_end + 1;
    Digest(name, {}, h);
    for (uint32_t i = 0; i < counts[c]; ++i) {
      size_t body_end = bodies.find('\n', body_start);
      if (body_end == std::string_view::npos) body_end = bodies.size();
      const std::string_view body = bodies.substr(body_start, body_end - body_start);
      body_start = body_end + 1;
      sha_.Reset();
      sha_.Update(h, sizeof(h));
      feed(kAppend);
      feed(name);
      feed(kHash);
      if (!body.empty()) {
        feed(kSpace);
        feed(body);
      }
      sha_.Final(h);
      AppendBase64Url(h, kIdSourceBytes, ids);
    }
  }
  return true;
}

}  // namespace ipts
