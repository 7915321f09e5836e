// JS face of the try-once lock primitives:
//   tryFlock(path: string): LockHandle | {errno: number, syscall: string}
//   tryBindAbstract(name: string): LockHandle | {errno: number, syscall: string}
// A LockHandle owns the fd: release() closes it (idempotent), and so does garbage collection,
// so a dropped handle cannot leak its fd.
#include <utility>

#include "addon.h"
#include "locks.h"

namespace ipts {

namespace {

class LockHandle : public Napi::ObjectWrap<LockHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LockHandle",
                       {InstanceMethod<&LockHandle::Release>("release"),
                        InstanceAccessor<&LockHandle::Released>("released")});
  }

  explicit LockHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LockHandle>(info) {}

  void Adopt(UniqueFd fd) { fd_ = std::move(fd); }

 private:
  Napi::Value Release(const Napi::CallbackInfo& info) {
    fd_.Reset();
    return info.Env().Undefined();
  }
  Napi::Value Released(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !fd_.valid());
  }

  UniqueFd fd_;
};

Napi::Value ToJs(Napi::Env env, LockAttempt attempt) {
  if (attempt.error != 0) {
    Napi::Object failure = Napi::Object::New(env);
    failure.Set("errno", Napi::Number::New(env, attempt.error));
    failure.Set("syscall", Napi::String::New(env, attempt.syscall));
    return failure;
  }
  Napi::Object handle = GetAddonData(env)->lock_handle_class.New({});
  if (env.IsExceptionPending()) return env.Undefined();  // fd closes with `attempt`
  LockHandle::Unwrap(handle)->Adopt(std::move(attempt.fd));
  return handle;
}

bool StringArg(const Napi::CallbackInfo& info, const char* what, std::string* out) {
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a string")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = info[0].As<Napi::String>().Utf8Value();
  return true;
}

Napi::Value TryFlockJs(const Napi::CallbackInfo& info) {
  std::string path;
  if (!StringArg(info, "lock file path", &path)) return info.Env().Undefined();
  return ToJs(info.Env(), TryFlock(path));
}

Napi::Value TryBindAbstractJs(const Napi::CallbackInfo& info) {
  std::string name;
  if (!StringArg(info, "abstract socket name", &name)) return info.Env().Undefined();
  return ToJs(info.Env(), TryBindAbstract(name));
}

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports, AddonData* data) {
  data->lock_handle_class = Napi::Persistent(LockHandle::Define(env));
  exports.Set("tryFlock", Napi::Function::New<TryFlockJs>(env, "tryFlock"));
  exports.Set("tryBindAbstract", Napi::Function::New<TryBindAbstractJs>(env, "tryBindAbstract"));
}

}  // namespace ipts
