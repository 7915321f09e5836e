#include "scan_result.h"

#include <string.h>

#include <utility>

namespace ipts {

namespace {

template <typename Array, typename T>
Array CopyArray(Napi::Env env, const std::vector<T>& values) {
  Array array = Array::New(env, values.size());
  if (!values.empty()) memcpy(array.Data(), values.data(), values.size() * sizeof(T));
  return array;
}

bool Bytes(Napi::Value value, std::string* out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(value.Env(), "scanner prefixes must be Uint8Arrays")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  out->assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  return true;
}

}  // namespace

bool ParseScannerConfig(const Napi::CallbackInfo& info, ScannerConfig* config) {
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsBoolean()) {
    Napi::TypeError::New(info.Env(),
                         "scanner arguments: (hashPrefix: Uint8Array, historicPrefixes: "
                         "Uint8Array[], reportUnmatched: boolean, ...)")
        .ThrowAsJavaScriptException();
    return false;
  }
  if (!Bytes(info[0], &config->hash_prefix)) return false;
  Napi::Array historic = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < historic.Length(); ++i) {
    std::string prefix;
    if (!Bytes(historic.Get(i), &prefix)) return false;
    config->historic_prefixes.push_back(std::move(prefix));
  }
  config->report_unmatched = info[2].As<Napi::Boolean>().Value();
  return true;
}

bool ParseExpectedIds(Napi::Value value, ScannerConfig* config) {
  if (value.IsUndefined()) return true;
  Napi::Env env = value.Env();
  const auto bad = [&env]() {
    Napi::TypeError::New(env,
                         "expected IDs must be undefined or { names: string, counts: Uint32Array, "
                         "ids: string } with one name per count and 16 ID characters per rule")
        .ThrowAsJavaScriptException();
    return false;
  };
  if (!value.IsObject()) return bad();
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value names_value = o.Get("names");
  Napi::Value counts_value = o.Get("counts");
  Napi::Value ids_value = o.Get("ids");
  if (!names_value.IsString() || !ids_value.IsString() || !counts_value.IsTypedArray() ||
      counts_value.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    return bad();
  }
  // Copied as they are (the indexing runs on the scanning thread); here only their shapes are
  // checked: one name per count, 16 ID characters per rule.
  Napi::Uint32Array counts = counts_value.As<Napi::Uint32Array>();
  config->expected_names = names_value.As<Napi::String>().Utf8Value();
  config->expected_ids = ids_value.As<Napi::String>().Utf8Value();  // IDs are ASCII
  config->expected_counts.assign(counts.Data(), counts.Data() + counts.ElementLength());
  const size_t names_given = LinesIn(config->expected_names, config->expected_counts.size());
  size_t id_bytes = 0;
  for (uint32_t count : config->expected_counts) id_bytes += static_cast<size_t>(count) * kRuleIdLength;
  if (names_given != config->expected_counts.size() || id_bytes != config->expected_ids.size()) {
    config->expected_names.clear();
    config->expected_counts.clear();
    config->expected_ids.clear();
    return bad();
  }
  return true;
}

void Encode(const SaveScanner& scanner, EncodedScan* out) {
  out->fault = scanner.fault();
  out->bytes = scanner.bytes();
  if (!out->fault.empty()) return;
  size_t rules = 0;
  size_t id_bytes = 0;
  for (const ScannedChain& chain : scanner.chains()) {
    rules += chain.codes.size();
    id_bytes += chain.ids.size();
  }
  out->codes.reserve(rules);
  out->ids.reserve(id_bytes);
  uint32_t base = 0;
  for (const ScannedChain& chain : scanner.chains()) {
    const uint32_t start = static_cast<uint32_t>(out->text.size());
    // The caller has an unchanged chain's name, IDs and codes already: it is named by its index.
    if (chain.unchanged == 0) out->text += chain.name;
    uint32_t fields[kChainStride];
    fields[kChainNameStart] = start;
    fields[kChainNameEnd] = static_cast<uint32_t>(out->text.size());
    fields[kChainRuleCount] = static_cast<uint32_t>(chain.codes.size());
    fields[kChainHistoric] = chain.historic ? 1u : 0u;
    fields[kChainIdsStart] = static_cast<uint32_t>(out->ids.size());
    fields[kChainUnchanged] = chain.unchanged;
    out->chains.insert(out->chains.end(), fields, fields + kChainStride);
    if (chain.unchanged != 0) continue;
    out->codes.insert(out->codes.end(), chain.codes.begin(), chain.codes.end());
    const uint32_t first_rule = base;
    base += static_cast<uint32_t>(chain.codes.size());
    out->ids += chain.ids;
    for (const auto& [index, line] : chain.texts) {
      const uint32_t line_start = static_cast<uint32_t>(out->text.size());
      out->text += line;
      uint32_t text_fields[kTextStride];
      text_fields[kTextRule] = first_rule + index;
      text_fields[kTextStart] = line_start;
      text_fields[kTextEnd] = static_cast<uint32_t>(out->text.size());
      out->texts.insert(out->texts.end(), text_fields, text_fields + kTextStride);
    }
  }
  if (out->text.size() > UINT32_MAX || out->ids.size() > UINT32_MAX) {
    *out = EncodedScan();
    out->fault = "iptables-save output too large: kept text exceeds 4 GiB";
  }
}

Napi::Object ScanLayout(Napi::Env env) {
  Napi::Object chain = Napi::Object::New(env);
  chain.Set("nameStart", kChainNameStart);
  chain.Set("nameEnd", kChainNameEnd);
  chain.Set("ruleCount", kChainRuleCount);
  chain.Set("historic", kChainHistoric);
  chain.Set("idsStart", kChainIdsStart);
  chain.Set("unchanged", kChainUnchanged);
  chain.Set("stride", kChainStride);
  Napi::Object text = Napi::Object::New(env);
  text.Set("rule", kTextRule);
  text.Set("start", kTextStart);
  text.Set("end", kTextEnd);
  text.Set("stride", kTextStride);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("chain", chain);
  layout.Set("text", text);
  return layout;
}

Napi::Value ToJs(Napi::Env env, const EncodedScan& scan) {
  Napi::Object result = Napi::Object::New(env);
  if (!scan.fault.empty()) {
    result.Set("fault", Napi::Buffer<char>::Copy(env, scan.fault.data(), scan.fault.size()));
  }
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(scan.bytes)));
  result.Set("chains", CopyArray<Napi::Uint32Array>(env, scan.chains));
  result.Set("codes", CopyArray<Napi::Int32Array>(env, scan.codes));
  napi_value ids;
  if (napi_create_string_latin1(env, scan.ids.data(), scan.ids.size(), &ids) != napi_ok) {
    return env.Undefined();
  }
  result.Set("ids", ids);
  result.Set("text", Napi::Buffer<char>::Copy(env, scan.text.data(), scan.text.size()));
  result.Set("texts", CopyArray<Napi::Uint32Array>(env, scan.texts));
  return result;
}

}  // namespace ipts
