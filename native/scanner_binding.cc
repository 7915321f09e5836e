// JS face of the incremental save scanner; the scanning runs on libuv's thread pool.
//
//   const s = new Scanner(hashPrefix: Uint8Array, historicPrefixes: Uint8Array[],
//                         reportUnmatched: boolean, batchBytes: number, expected?: ExpectedIds);
//   s.push(chunk: Uint8Array)   // copies the bytes; cheap, never scans on the main thread
//   s.finish(): Promise<Result> // once, after the last push
//
// push() queues bytes; a worker starts once batchBytes are waiting and drains whatever
// arrives while it runs, so scanning keeps pace with the pipe and the main thread only pays a
// memcpy per chunk plus one completion per worker. Only one worker runs at a time (the
// scanner is sequential). Everything a worker needs is in a shared ScanJob, so a Scanner
// object that is garbage-collected mid-read (say the stream failed) cannot pull the state
// out from under a running worker. The result is an EncodedScan (scan_result.h).
#include <stdint.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "addon.h"
#include "save_scanner.h"
#include "scan_result.h"

namespace ipts {

namespace {

struct ScanJob {
  ScanJob(ScannerConfig config, std::shared_ptr<ChunkPool> chunk_pool)
      : pool(std::move(chunk_pool)), scanner(std::make_unique<SaveScanner>(std::move(config))) {}

  const std::shared_ptr<ChunkPool> pool;

  std::mutex mu;
  std::vector<std::string> pending;  // guarded by mu
  size_t pending_bytes = 0;          // guarded by mu

  // Only touched by the one running worker; freed once encoded, as the JS object that holds the
  // job may be collected much later.
  std::unique_ptr<SaveScanner> scanner;

  // Main thread only.
  size_t batch_bytes = 0;
  bool running = false;
  bool finishing = false;
  bool abandoned = false;  // the Scanner object was collected without finish()
  std::optional<Napi::Promise::Deferred> deferred;
};

void Kick(Napi::Env env, const std::shared_ptr<ScanJob>& job);

class ScanWorker : public Napi::AsyncWorker {
 public:
  ScanWorker(Napi::Env env, std::shared_ptr<ScanJob> job, bool final)
      : Napi::AsyncWorker(env, "iptables-sync:scan"), job_(std::move(job)), final_(final) {}

  void Execute() override {
    for (;;) {
      std::vector<std::string> batch;
      {
        std::lock_guard<std::mutex> lock(job_->mu);
        batch.swap(job_->pending);
        job_->pending_bytes = 0;
      }
      if (batch.empty()) break;
      for (std::string& chunk : batch) {
        job_->scanner->Feed(chunk.data(), chunk.size());
        job_->pool->Give(std::move(chunk));
      }
    }
    if (final_) {
      job_->scanner->Finish();
      Encode(*job_->scanner, &result_);
      job_->scanner.reset();
    }
  }

  void OnOK() override {
    job_->running = false;
    if (!final_) {
      Kick(Env(), job_);
      return;
    }
    Napi::Env env = Env();
    Napi::Value value = ToJs(env, result_);
    if (env.IsExceptionPending()) {
      job_->deferred->Reject(env.GetAndClearPendingException().Value());
    } else {
      job_->deferred->Resolve(value);
    }
  }

  void OnError(const Napi::Error& error) override {
    job_->running = false;
    if (final_) job_->deferred->Reject(error.Value());
  }

 private:
  std::shared_ptr<ScanJob> job_;
  bool final_;
  EncodedScan result_;
};

// Starts a worker if one is due. Main thread only.
void Kick(Napi::Env env, const std::shared_ptr<ScanJob>& job) {
  if (job->running || job->abandoned) return;
  bool due = job->finishing;
  if (!due) {
    std::lock_guard<std::mutex> lock(job->mu);
    due = job->pending_bytes > 0 && job->pending_bytes >= job->batch_bytes;
  }
  if (!due) return;
  job->running = true;
  (new ScanWorker(env, job, job->finishing))->Queue();  // deletes itself after OnOK/OnError
}

class Scanner : public Napi::ObjectWrap<Scanner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Scanner",
                       {InstanceMethod<&Scanner::Push>("push"),
                        InstanceMethod<&Scanner::Finish>("finish")});
  }

  // A read that failed midway drops its Scanner: no further workers for it. A running worker
  // keeps the job alive until it completes.
  ~Scanner() override {
    if (job_ && !job_->finishing) job_->abandoned = true;
  }

  explicit Scanner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Scanner>(info) {
    Napi::Env env = info.Env();
    ScannerConfig config;
    if (!ParseScannerConfig(info, &config)) return;
    if (info.Length() < 4 || !info[3].IsNumber()) {
      Napi::TypeError::New(
          env, "new Scanner(hashPrefix, historicPrefixes, reportUnmatched, batchBytes: number)")
          .ThrowAsJavaScriptException();
      return;
    }
    if (!ParseExpectedIds(info[4], &config)) return;  // optional: undefined past the end
    const double batch = info[3].As<Napi::Number>().DoubleValue();
    job_ = std::make_shared<ScanJob>(std::move(config), GetAddonData(env)->chunk_pool);
    job_->batch_bytes = batch > 0 ? static_cast<size_t>(batch) : 0;
  }

 private:
  bool Usable(Napi::Env env) {
    if (!job_) {
      Napi::Error::New(env, "Scanner was not constructed").ThrowAsJavaScriptException();
      return false;
    }
    if (job_->finishing) {
      Napi::Error::New(env, "Scanner already finished").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(env, "push(chunk) needs a Buffer or Uint8Array")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array chunk = info[0].As<Napi::Uint8Array>();
    if (chunk.ByteLength() == 0) return env.Undefined();
    // Copied, as the caller may reuse its buffer once push() returns.
    std::string copy = job_->pool->Take();
    copy.assign(reinterpret_cast<const char*>(chunk.Data()), chunk.ByteLength());
    {
      std::lock_guard<std::mutex> lock(job_->mu);
      job_->pending_bytes += copy.size();
      job_->pending.push_back(std::move(copy));
    }
    Kick(env, job_);
    return env.Undefined();
  }

  Napi::Value Finish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    job_->finishing = true;
    job_->deferred.emplace(Napi::Promise::Deferred::New(env));
    Napi::Promise promise = job_->deferred->Promise();
    Kick(env, job_);  // or the running worker's OnOK starts the final one
    return promise;
  }

  std::shared_ptr<ScanJob> job_;
};

}  // namespace

void InitScanner(Napi::Env env, Napi::Object exports) {
  exports.Set("Scanner", Scanner::Define(env));
}

}  // namespace ipts
