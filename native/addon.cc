// Module entry: creates the instance data and registers the lock, scanner, hash and spawn bindings.
#include "addon.h"
#include "scan_result.h"

#include <time.h>

// binding.gyp defines IPTS_SOURCE_DIGEST as an identifier ("d" + sha256 of the native
// sources); it lets a test prove the shipped prebuild was built from the current sources.
#define IPTS_STRINGIFY2(x) #x
#define IPTS_STRINGIFY(x) IPTS_STRINGIFY2(x)
#ifndef IPTS_SOURCE_DIGEST
#define IPTS_SOURCE_DIGEST unknown
#endif

namespace {

// Bumped whenever the JS-visible interface changes; src/native.ts refuses other versions, so a
// stale build can never be used with newer TypeScript.
constexpr int kAbiVersion = 7;

// CPU time of the calling thread in ms (CLOCK_THREAD_CPUTIME_ID): lets the benchmark measure
// main-thread cost alone; /proc schedstat only updates at scheduler ticks.
Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e3 + ts.tv_nsec / 1e6);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new ipts::AddonData();
  env.SetInstanceData(data);  // Node deletes it at environment teardown
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("sourceDigest", Napi::String::New(env, IPTS_STRINGIFY(IPTS_SOURCE_DIGEST)));
  exports.Set("threadCpuMs", Napi::Function::New<ThreadCpuMs>(env, "threadCpuMs"));
  ipts::InitLocks(env, exports, data);
  ipts::InitScanner(env, exports);
  ipts::InitPipeScanner(env, exports);
  ipts::InitHash(env, exports);
  ipts::InitSpawn(env, exports);
  exports.Set("scanLayout", ipts::ScanLayout(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(iptables_sync, Init)
