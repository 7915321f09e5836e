// Incremental scanner of `iptables-save` output: pure C++, no N-API, so a libFuzzer harness
// can link it alone. Feed() takes chunks split anywhere (even inside a line or a comment);
// Finish() handles a last line without newline and checks that the dump is complete.
//
// Per chain (in order of first appearance) it records one code per "-A <chain>" line, decided
// on the line's tokens (SaveLineTokenizer; the TypeScript twin is src/save-line.ts):
//   > 0          our rule ID: the first "-m comment --comment" match's whole value is the hash
//                prefix + 16 ID characters; the code is the ID's length (16) and the ID is
//                appended to `ids`
//   kForeign     not ours
//   kOldInsert   a -j/--jump/-g/--goto target token starts with a historic prefix (an insert
//                of an older run)
//   kUnmatched   only when report_unmatched: neither of the above; the caller tests its own
//                extra cleanup pattern on the line, so the line is kept in `texts`
// and keeps the full line (`texts`) wherever the caller needs it: ours or old inserts in
// chains without a historic prefix (deleted by rule text), and every kUnmatched line.
//
// Matching is on bytes. Whitespace is RE2's \s: space, \t, \n, \f, \r.
#ifndef IPTABLES_SYNC_SAVE_SCANNER_H_
#define IPTABLES_SYNC_SAVE_SCANNER_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hash.h"  // kRuleIdLength, the one definition of an ID's length

namespace ipts {

constexpr int32_t kForeign = 0;
constexpr int32_t kOldInsert = -1;
constexpr int32_t kUnmatched = -2;
// Splits a saved rule line into tokens the way iptables-restore reads it (and iptables-save
// quotes): whitespace separates tokens; a '"' opens a quoted part in which backslash-x is x,
// and the closing '"' ends the token. A token is valid until the next call of Next().
class SaveLineTokenizer {
 public:
  explicit SaveLineTokenizer(std::string_view line) : line_(line) {}
  bool Next(std::string_view* token);

 private:
  std::string_view line_;
  size_t pos_ = 0;
  std::string scratch_;  // the unescaped text of a quoted token
};

struct ScannerConfig {
  std::string hash_prefix;                     // e.g. "cali:"
  std::vector<std::string> historic_prefixes;  // e.g. {"cali-"}
  bool report_unmatched = false;
  // What the caller believes some chains hold, every rule one of ours: the chain names joined
  // by '\n', the rules of each, and all their IDs concatenated (checked to fit by the binding).
  // A chain found to hold exactly these is marked unchanged (its IDs and lines are then not
  // passed back: the caller keeps what it had). Indexed by Finish, on the scanning thread.
  std::string expected_names;
  std::vector<uint32_t> expected_counts;
  std::string expected_ids;
};

struct ScannedChain {
  std::string name;
  bool historic = false;  // name starts with a historic prefix
  std::vector<int32_t> codes;
  std::string ids;  // IDs of the entries with a positive code, concatenated
  std::vector<std::pair<uint32_t, std::string>> texts;  // (entry index, line), ascending
  // 0, or 1 + the index among the expected chains of the one it holds exactly (set by Finish)
  uint32_t unchanged = 0;
};

class SaveScanner {
 public:
  explicit SaveScanner(ScannerConfig config);

  void Feed(const char* data, size_t len);
  void Finish();

  uint64_t bytes() const { return bytes_; }
  // Empty when the dump is well-formed; else a message (bytes, may hold non-UTF-8 from the
  // dump) about the first structural fault.
  const std::string& fault() const { return fault_; }
  const std::vector<ScannedChain>& chains() const { return chains_; }

 private:
  void ProcessLine(std::string_view line);
  void MarkUnchanged();
  void Classify(ScannedChain& chain, std::string_view line);
  bool IsOurCommentValue(std::string_view value) const;
  bool HasHistoricPrefix(std::string_view token) const;
  ScannedChain& ChainNamed(std::string_view name);
  void SetFault(std::string message);

  ScannerConfig config_;

  std::string carry_;  // the unterminated tail of the input so far
  uint64_t bytes_ = 0;
  uint64_t line_no_ = 0;
  bool finished_ = false;
  bool in_table_ = false;
  uint64_t table_line_ = 0;
  std::string table_name_;
  std::string fault_;

  std::vector<ScannedChain> chains_;
  std::unordered_map<std::string, size_t> chain_index_;
  size_t last_chain_ = static_cast<size_t>(-1);  // rules of one chain come in runs
};

}  // namespace ipts

#endif  // IPTABLES_SYNC_SAVE_SCANNER_H_
