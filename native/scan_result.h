// What the scanner bindings share: reading the scanner config from JS arguments, and the
// compact result that crosses back into JS (no string per rule; src/reader.ts decodes it):
//   fault:  Buffer | undefined   structural fault message (bytes from the dump)
//   bytes:  number               bytes scanned
//   chains: Uint32Array          per chain: nameStart, nameEnd (into text), ruleCount, historic,
//                                idsStart (into ids), unchanged (0, or 1 + expected index)
//   codes:  Int32Array           per rule of each chain not found unchanged: ID length, 0, -1, -2
//   ids:    string               all IDs concatenated (latin1; IDs are ASCII)
//   text:   Buffer               chain names and kept lines
//   texts:  Uint32Array          per kept line: global rule index, start, end (into text)
#ifndef IPTABLES_SYNC_SCAN_RESULT_H_
#define IPTABLES_SYNC_SCAN_RESULT_H_

#include <napi.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "save_scanner.h"

namespace ipts {

// The strides and field offsets of `chains` and `texts`, exported as `scanLayout` so src/reader.ts
// can check at load time that it decodes the same layout this file encodes.
constexpr uint32_t kChainNameStart = 0;
constexpr uint32_t kChainNameEnd = 1;
constexpr uint32_t kChainRuleCount = 2;
constexpr uint32_t kChainHistoric = 3;
constexpr uint32_t kChainIdsStart = 4;
constexpr uint32_t kChainUnchanged = 5;  // 0, or 1 + its index among the expected chains: its
                                          // name, codes, ids and texts are then left out
constexpr uint32_t kChainStride = 6;
constexpr uint32_t kTextRule = 0;
constexpr uint32_t kTextStart = 1;
constexpr uint32_t kTextEnd = 2;
constexpr uint32_t kTextStride = 3;

// The layout above as a JS object: { chain: {nameStart, …, stride}, text: {rule, …, stride} }.
Napi::Object ScanLayout(Napi::Env env);

// Reads info[0] (hashPrefix: Uint8Array), info[1] (historicPrefixes: Uint8Array[]) and
// info[2] (reportUnmatched: boolean). On bad arguments throws a JS TypeError, returns false.
bool ParseScannerConfig(const Napi::CallbackInfo& info, ScannerConfig* config);

// Reads the optional expected IDs, `undefined` or { names: string (joined by '\n'),
// counts: Uint32Array (rules per chain), ids: string (all IDs concatenated, latin1) }, into
// config->expected_ids. On bad arguments throws a JS TypeError, returns false.
bool ParseExpectedIds(Napi::Value value, ScannerConfig* config);

struct EncodedScan {
  std::string fault;
  uint64_t bytes = 0;
  std::vector<uint32_t> chains;
  std::vector<int32_t> codes;
  std::string ids;
  std::string text;
  std::vector<uint32_t> texts;
};

// Flattens a finished scanner's result; safe on a worker thread.
void Encode(const SaveScanner& scanner, EncodedScan* out);

// Builds the JS result object; main thread. On failure a JS exception is pending.
Napi::Value ToJs(Napi::Env env, const EncodedScan& scan);

}  // namespace ipts

#endif  // IPTABLES_SYNC_SCAN_RESULT_H_
