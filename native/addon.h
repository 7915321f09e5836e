// Per-environment state of the addon. Node may load the addon into several environments of
// one process (worker threads, test runners), so nothing mutable is global: everything lives
// in this instance data, created in Init and deleted by Node when the environment goes away.
#ifndef IPTABLES_SYNC_ADDON_H_
#define IPTABLES_SYNC_ADDON_H_

#include <napi.h>

#include "hash.h"

namespace ipts {

struct AddonData {
  Napi::FunctionReference lock_handle_class;
  ipts::ChainHasher hasher;  // SHA2-224 fetched once per environment
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Each adds its functions/classes to `exports`.
void InitLocks(Napi::Env env, Napi::Object exports, AddonData* data);
void InitScanner(Napi::Env env, Napi::Object exports);
void InitHash(Napi::Env env, Napi::Object exports);

}  // namespace ipts

#endif  // IPTABLES_SYNC_ADDON_H_
