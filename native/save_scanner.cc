#include "save_scanner.h"

#include <string.h>

namespace ipts {

namespace {

constexpr size_t kMaxTableNameBytes = 64;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// The run of non-whitespace bytes starting at `from` (empty if none).
std::string_view WordAt(std::string_view line, size_t from) {
  if (from >= line.size()) return {};
  size_t end = from;
  while (end < line.size() && !IsSpace(line[end])) ++end;
  return line.substr(from, end - from);
}

bool StartsWithAt(std::string_view s, size_t at, std::string_view prefix) {
  return at <= s.size() && s.size() - at >= prefix.size() &&
         memcmp(s.data() + at, prefix.data(), prefix.size()) == 0;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return StartsWithAt(s, 0, prefix); }

bool IsMatchFlag(std::string_view t) { return t == "-m" || t == "--match"; }

bool IsTargetFlag(std::string_view t) {
  return t == "-j" || t == "--jump" || t == "-g" || t == "--goto";
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool SaveLineTokenizer::Next(std::string_view* token) {
  const size_t n = line_.size();
  while (pos_ < n && IsSpace(line_[pos_])) ++pos_;
  if (pos_ >= n) return false;
  const size_t start = pos_;
  while (pos_ < n && !IsSpace(line_[pos_]) && line_[pos_] != '"') ++pos_;
  if (pos_ >= n || line_[pos_] != '"') {
    *token = line_.substr(start, pos_ - start);  // a bare word: a view of the line
    return true;
  }
  scratch_.assign(line_.data() + start, pos_ - start);
  ++pos_;  // the opening quote
  while (pos_ < n) {
    const char c = line_[pos_];
    if (c == '"') {
      ++pos_;  // the closing quote ends the token
      break;
    }
    if (c == '\\') {
      ++pos_;  // the next byte is literal; a backslash at the very end is dropped
      if (pos_ >= n) break;
    }
    scratch_.push_back(line_[pos_]);
    ++pos_;
  }
  *token = scratch_;
  return true;
}

SaveScanner::SaveScanner(ScannerConfig config) : config_(std::move(config)) {}

void SaveScanner::Feed(const char* data, size_t len) {
  if (finished_) return;
  bytes_ += len;
  const char* p = data;
  const char* const end = data + len;
  while (p < end) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (nl == nullptr) {
      // A line that continues in the next chunk; long lines just grow the carry.
      carry_.append(p, static_cast<size_t>(end - p));
      return;
    }
    if (carry_.empty()) {
      ProcessLine(std::string_view(p, static_cast<size_t>(nl - p)));
    } else {
      carry_.append(p, static_cast<size_t>(nl - p));
      ProcessLine(carry_);
      carry_.clear();
    }
    p = nl + 1;
  }
}

void SaveScanner::Finish() {
  if (finished_) return;
  if (!carry_.empty()) {
    ProcessLine(carry_);  // the last line had no newline
    carry_.clear();
  }
  finished_ = true;
  MarkUnchanged();
  if (fault_.empty() && in_table_) {
    SetFault("iptables-save output ended inside table \"" + table_name_ + "\" opened on line " +
             std::to_string(table_line_) + ": no COMMIT, the dump is truncated");
  }
}

void SaveScanner::MarkUnchanged() {
  if (config_.expected_counts.empty()) return;
  // name -> (its index among the expected chains, its expected IDs as a view into the config's).
  std::unordered_map<std::string_view, std::pair<uint32_t, std::string_view>> expected;
  expected.reserve(config_.expected_counts.size());
  const std::string_view names = config_.expected_names;
  const std::string_view ids = config_.expected_ids;
  size_t name_start = 0;
  size_t id_start = 0;
  for (uint32_t count : config_.expected_counts) {
    size_t name_end = names.find('\n', name_start);
    if (name_end == std::string_view::npos) name_end = names.size();
    const size_t id_bytes = static_cast<size_t>(count) * kRuleIdLength;
    if (name_start > names.size() || id_start + id_bytes > ids.size()) return;  // the binding checked
    const auto index = static_cast<uint32_t>(expected.size());
    expected.emplace(names.substr(name_start, name_end - name_start), std::make_pair(index, ids.substr(id_start, id_bytes)));
    name_start = name_end + 1;
    id_start += id_bytes;
  }
  for (ScannedChain& chain : chains_) {
    const auto it = expected.find(chain.name);
    if (it == expected.end()) continue;
    // Every rule ours (so `ids` has one ID per rule) and the IDs those expected.
    bool all_ours = chain.ids.size() == chain.codes.size() * kRuleIdLength;
    for (size_t i = 0; all_ours && i < chain.codes.size(); ++i) {
      all_ours = chain.codes[i] == static_cast<int32_t>(kRuleIdLength);
    }
    if (all_ours && std::string_view(chain.ids) == it->second.second) chain.unchanged = it->second.first + 1;
  }
}

void SaveScanner::SetFault(std::string message) {
  if (fault_.empty()) fault_ = std::move(message);
}

void SaveScanner::ProcessLine(std::string_view line) {
  ++line_no_;
  if (!fault_.empty() || line.empty()) return;  // after a fault nothing is trusted
  switch (line[0]) {
    case '*': {
      std::string_view name = WordAt(line, 1).substr(0, kMaxTableNameBytes);
      if (in_table_) {
        SetFault("iptables-save output line " + std::to_string(line_no_) + " opens table \"" +
                 std::string(name) + "\" before table \"" + table_name_ + "\" (line " +
                 std::to_string(table_line_) + ") was committed");
        return;
      }
      in_table_ = true;
      table_line_ = line_no_;
      table_name_.assign(name);
      return;
    }
    case 'C':
      if (TrimRight(line) == "COMMIT") {
        if (!in_table_) {
          SetFault("iptables-save output line " + std::to_string(line_no_) +
                   " is a COMMIT outside any table");
          return;
        }
        in_table_ = false;
      }
      return;
    case ':': {
      std::string_view name = WordAt(line, 1);
      if (name.empty()) return;
      if (!in_table_) break;
      ChainNamed(name);  // declared chains exist even when empty
      return;
    }
    case '-': {
      if (!StartsWith(line, "-A ")) return;
      std::string_view name = WordAt(line, 3);
      if (name.empty()) return;
      if (!in_table_) break;
      Classify(ChainNamed(name), line);
      return;
    }
    default:
      return;  // comments ("# Generated by", "# Warning: iptables-legacy tables present") etc.
  }
  SetFault("iptables-save output line " + std::to_string(line_no_) +
           " declares a chain or rule outside any table");
}

ScannedChain& SaveScanner::ChainNamed(std::string_view name) {
  if (last_chain_ < chains_.size() && chains_[last_chain_].name == name) {
    return chains_[last_chain_];
  }
  std::string key(name);
  auto it = chain_index_.find(key);
  if (it != chain_index_.end()) {
    last_chain_ = it->second;
    return chains_[last_chain_];
  }
  ScannedChain chain;
  chain.name = key;
  for (const std::string& prefix : config_.historic_prefixes) {
    if (StartsWith(name, prefix)) chain.historic = true;
  }
  last_chain_ = chains_.size();
  chain_index_.emplace(std::move(key), last_chain_);
  chains_.push_back(std::move(chain));
  return chains_.back();
}

bool SaveScanner::IsOurCommentValue(std::string_view value) const {
  const std::string_view prefix = config_.hash_prefix;
  if (value.size() != prefix.size() + kRuleIdLength || !StartsWith(value, prefix)) return false;
  for (size_t i = prefix.size(); i < value.size(); ++i) {
    if (!IsIdChar(value[i])) return false;
  }
  return true;
}

bool SaveScanner::HasHistoricPrefix(std::string_view token) const {
  for (const std::string& prefix : config_.historic_prefixes) {
    if (StartsWith(token, prefix)) return true;
  }
  return false;
}

void SaveScanner::Classify(ScannedChain& chain, std::string_view line) {
  // Our ID is the whole value of the rule's first "-m comment --comment" match, when it has our
  // exact shape; a later comment never counts. Old inserts are found on target tokens only.
  SaveLineTokenizer tokens(line);
  std::string_view t;
  int skip = 2;          // "-A" and the chain name
  int comment_step = 0;  // 1: after -m, 2: after -m comment, 3: after -m comment --comment
  bool comment_seen = false;
  bool after_target = false;
  bool old_insert = false;
  size_t id_len = 0;
  while (tokens.Next(&t)) {
    if (skip > 0) {
      --skip;
      continue;
    }
    if (after_target && !old_insert && HasHistoricPrefix(t)) old_insert = true;
    after_target = IsTargetFlag(t);
    if (comment_seen) {
      if (old_insert) break;
      continue;
    }
    if (comment_step == 3) {
      comment_seen = true;
      if (IsOurCommentValue(t)) {
        id_len = kRuleIdLength;
        chain.ids.append(t.data() + config_.hash_prefix.size(), id_len);  // before t goes stale
        break;
      }
      continue;
    }
    if (comment_step == 1 && t == "comment") {
      comment_step = 2;
    } else if (comment_step == 2 && t == "--comment") {
      comment_step = 3;
    } else {
      comment_step = IsMatchFlag(t) ? 1 : 0;
    }
  }

  int32_t code = kForeign;
  if (id_len > 0) {
    code = static_cast<int32_t>(id_len);
  } else if (old_insert) {
    code = kOldInsert;
  } else if (config_.report_unmatched) {
    code = kUnmatched;
  }

  const uint32_t index = static_cast<uint32_t>(chain.codes.size());
  chain.codes.push_back(code);
  if (code == kUnmatched || (code != kForeign && !chain.historic)) {
    chain.texts.emplace_back(index, std::string(line));
  }
}

}  // namespace ipts
