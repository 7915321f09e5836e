// JS face of the chain hasher:
//   chainRuleHashes(chainName: string, linesJoinedByNewline: string, count: number): string
// returns the count IDs concatenated (16 characters each); src/native.ts slices them.
//   hashChains(names: string, counts: Uint32Array, bodies: string): string
// the batch of src/hash.ts: many chains in one call, from rule bodies (see ChainHasher::HashChains);
// returns all IDs concatenated, chain after chain.
// Synchronous: it is CPU-bound and short (about 0.5 us per rule).
#include <math.h>

#include "addon.h"

namespace ipts {

namespace {

// The IDs as one latin1 string (they are ASCII), or undefined with a pending exception.
Napi::Value IdString(Napi::Env env, const std::string& ids) {
  napi_value result;
  if (napi_create_string_latin1(env, ids.data(), ids.size(), &result) != napi_ok) {
    Napi::Error::New(env, "could not create the ID string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Value(env, result);
}

Napi::Value ChainRuleHashesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "chainRuleHashes(chainName: string, lines: string, count: number)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double count = info[2].As<Napi::Number>().DoubleValue();
  if (!(count >= 0) || count > 4294967295.0 || floor(count) != count) {
    Napi::RangeError::New(env, "rule count " + std::to_string(count) +
                                   " is not a non-negative integer")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string chain = info[0].As<Napi::String>().Utf8Value();
  const std::string lines = info[1].As<Napi::String>().Utf8Value();
  std::string ids;
  std::string error;
  if (!GetAddonData(env)->hasher.HashChain(chain, lines, static_cast<size_t>(count), &ids,
                                           &error)) {
    Napi::RangeError::New(env, "chain " + chain + ": " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return IdString(env, ids);
}

Napi::Value HashChainsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array || !info[2].IsString()) {
    Napi::TypeError::New(env, "hashChains(names: string, counts: Uint32Array, bodies: string)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string names = info[0].As<Napi::String>().Utf8Value();
  Napi::Uint32Array counts = info[1].As<Napi::Uint32Array>();
  const std::string bodies = info[2].As<Napi::String>().Utf8Value();
  std::string ids;
  std::string error;
  if (!GetAddonData(env)->hasher.HashChains(names, counts.Data(), counts.ElementLength(), bodies,
                                            &ids, &error)) {
    Napi::RangeError::New(env, "hashChains: " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return IdString(env, ids);
}

}  // namespace

void InitHash(Napi::Env env, Napi::Object exports) {
  exports.Set("chainRuleHashes", Napi::Function::New<ChainRuleHashesJs>(env, "chainRuleHashes"));
  exports.Set("hashChains", Napi::Function::New<HashChainsJs>(env, "hashChains"));
}

}  // namespace ipts
