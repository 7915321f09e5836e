// Per-environment state of the addon. Node may load the addon into several environments of
// one process (worker threads, test runners), so nothing mutable is global: everything lives
// in this instance data, created in Init and deleted by Node when the environment goes away.
#ifndef IPTABLES_SYNC_ADDON_H_
#define IPTABLES_SYNC_ADDON_H_

#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hash.h"

namespace ipts {

// Spare chunk buffers for the scanner, shared by the reads of one environment. Copying a pipe
// chunk into memory that is already mapped is a plain memcpy on the main thread; a fresh
// allocation page-faults on every page, which costs as much again as Node's own read.
class ChunkPool {
 public:
  std::string Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.empty()) return std::string();
    std::string chunk = std::move(spare_.back());
    spare_.pop_back();
    return chunk;
  }
  // Called from worker threads.
  void Give(std::string chunk) {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.size() < kMaxSpare && chunk.capacity() <= kMaxKeptCapacity) {
      spare_.push_back(std::move(chunk));
    }
  }

 private:
  static constexpr size_t kMaxSpare = 32;                 // 2 MiB of 64 KiB pipe chunks
  static constexpr size_t kMaxKeptCapacity = 256 * 1024;  // don't hoard odd huge chunks
  std::mutex mu_;
  std::vector<std::string> spare_;
};

struct AddonData {
  Napi::FunctionReference lock_handle_class;
  ipts::ChainHasher hasher;  // one per environment: its SHA-224 state is reused
  // shared_ptr: a scan job still running at environment teardown keeps it alive.
  std::shared_ptr<ChunkPool> chunk_pool = std::make_shared<ChunkPool>();
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Each adds its functions/classes to `exports`.
void InitLocks(Napi::Env env, Napi::Object exports, AddonData* data);
void InitScanner(Napi::Env env, Napi::Object exports);
void InitPipeScanner(Napi::Env env, Napi::Object exports);
void InitHash(Napi::Env env, Napi::Object exports);
void InitSpawn(Napi::Env env, Napi::Object exports);

}  // namespace ipts

#endif  // IPTABLES_SYNC_ADDON_H_
