// libFuzzer harness of the iptables-save scanner (native/save_scanner.cc), built with
// AddressSanitizer and UndefinedBehaviorSanitizer by fuzz/build.sh. It links the pure C++
// scanner alone: no N-API, no Node.
//
// Input layout: a 4-byte header, then the dump.
//   byte 0  bit 0: report_unmatched; bits 1-7: chunking seed
//   byte 1  which hash prefix (kHashPrefixes)
//   byte 2  which historic prefix set (kHistoricSets)
//   byte 3  reserved (kept so seeds stay valid if a knob is added)
// Inputs shorter than the header are scanned as a dump with the default config.
//
// Beyond "no crash, no sanitizer report" it checks what the TypeScript side relies on when it
// decodes the compact result (src/reader.ts decodeNative):
//   - chunking does not matter: the dump fed whole and fed in fuzzer-chosen pieces (split
//     anywhere, also inside lines and comments, with empty chunks) gives the same result;
//   - bytes() counts every byte fed;
//   - the positive codes of all chains add up to the IDs' length; every ID is [A-Za-z0-9_-]+;
//   - kUnmatched only appears when report_unmatched is on; no other negative code exists;
//   - texts are in ascending entry order, point inside the chain, and exactly the entries the
//     header promises have one (kUnmatched always; ours/old inserts in non-historic chains);
//   - chain names are unique, non-empty and hold no whitespace; "historic" equals the prefix test;
//   - a fault is sticky: after a fault no chain data is trusted by the caller, but the scanner
//     must still not crash when more is fed.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "../native/save_scanner.h"

namespace {

const char* const kHashPrefixes[] = {"cali:", "ipts:", "c", "cali:cali:", "\"", "-", "--comment ", "é:"};
const std::vector<std::vector<std::string>> kHistoricSets = {
    {"cali-"}, {}, {"cali-", "KUBE-"}, {"-"}, {"c"}, {"cali-", "cali-pi-", "ipts-"}, {"\""}, {"-j"},
};

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "invariant violated: %s\n", what);
  abort();
}

#define CHECK(cond)              \
  do {                           \
    if (!(cond)) Fail(#cond);    \
  } while (0)

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool SameResult(const ipts::SaveScanner& a, const ipts::SaveScanner& b) {
  if (a.fault() != b.fault() || a.bytes() != b.bytes()) return false;
  if (!a.fault().empty()) return true;  // after a fault the caller ignores the chains
  const auto& ca = a.chains();
  const auto& cb = b.chains();
  if (ca.size() != cb.size()) return false;
  for (size_t i = 0; i < ca.size(); ++i) {
    if (ca[i].name != cb[i].name || ca[i].historic != cb[i].historic || ca[i].codes != cb[i].codes ||
        ca[i].ids != cb[i].ids || ca[i].texts != cb[i].texts) {
      return false;
    }
  }
  return true;
}

void CheckInvariants(const ipts::SaveScanner& s, const ipts::ScannerConfig& config, size_t fed) {
  CHECK(s.bytes() == fed);
  if (!s.fault().empty()) return;
  std::set<std::string> names;
  for (const ipts::ScannedChain& chain : s.chains()) {
    CHECK(!chain.name.empty());
    for (char c : chain.name) CHECK(!IsSpace(c));
    CHECK(names.insert(chain.name).second);
    bool historic = false;
    for (const std::string& p : config.historic_prefixes) {
      if (chain.name.compare(0, p.size(), p) == 0) historic = true;
    }
    CHECK(chain.historic == historic);

    size_t id_bytes = 0;
    for (int32_t code : chain.codes) {
      if (code > 0) id_bytes += static_cast<size_t>(code);
      CHECK(code >= ipts::kUnmatched);
      if (code == ipts::kUnmatched) CHECK(config.report_unmatched);
    }
    CHECK(id_bytes == chain.ids.size());
    for (char c : chain.ids) CHECK(IsIdChar(c));

    size_t t = 0;
    for (uint32_t i = 0; i < chain.codes.size(); ++i) {
      const int32_t code = chain.codes[i];
      const bool wants_text = code == ipts::kUnmatched || (code != ipts::kForeign && !chain.historic);
      const bool has_text = t < chain.texts.size() && chain.texts[t].first == i;
      CHECK(wants_text == has_text);
      if (has_text) {
        const std::string& line = chain.texts[t].second;
        CHECK(line.compare(0, 3, "-A ") == 0);
        CHECK(line.compare(3, chain.name.size(), chain.name) == 0);
        CHECK(line.find('\n') == std::string::npos);
        ++t;
      }
    }
    CHECK(t == chain.texts.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ipts::ScannerConfig config;
  uint8_t chunk_seed = 0;
  const char* dump = reinterpret_cast<const char*>(data);
  size_t len = size;
  if (size >= 4) {
    config.report_unmatched = (data[0] & 1) != 0;
    chunk_seed = static_cast<uint8_t>(data[0] >> 1);
    config.hash_prefix = kHashPrefixes[data[1] % (sizeof(kHashPrefixes) / sizeof(kHashPrefixes[0]))];
    config.historic_prefixes = kHistoricSets[data[2] % kHistoricSets.size()];
    dump += 4;
    len -= 4;
  } else {
    config.hash_prefix = "cali:";
    config.historic_prefixes = {"cali-"};
  }

  ipts::SaveScanner whole(config);
  whole.Feed(dump, len);
  whole.Finish();
  CheckInvariants(whole, config, len);

  // The same bytes in pieces: sizes from a tiny LCG seeded by the header, 0..31 bytes (0 =
  // an empty chunk), so splits land inside lines, "--comment " and multi-byte characters.
  ipts::SaveScanner pieces(config);
  uint32_t state = 0x9e3779b9u ^ chunk_seed;
  size_t at = 0;
  while (at < len) {
    state = state * 1664525u + 1013904223u;
    const size_t n = (state >> 24) % 32;
    const size_t take = n < len - at ? n : len - at;
    pieces.Feed(dump + at, take);
    at += take;
  }
  pieces.Finish();
  if (!SameResult(whole, pieces)) Fail("chunked feed differs from whole feed");

  // Feeding after Finish() is ignored, and Finish() is idempotent.
  pieces.Feed(dump, len);
  pieces.Finish();
  if (!SameResult(whole, pieces)) Fail("Feed/Finish after Finish changed the result");
  return 0;
}
