// JS face of the incremental save scanner; the scanning runs on libuv's thread pool.
//
//   const s = new Scanner(hashPrefix: Uint8Array, historicPrefixes: Uint8Array[],
//                         reportUnmatched: boolean, batchBytes: number);
//   s.push(chunk: Uint8Array)   // copies the bytes; cheap, never scans on the main thread
//   s.finish(): Promise<Result> // once, after the last push
//
// push() queues bytes; a worker starts once batchBytes are waiting and drains whatever
// arrives while it runs, so scanning keeps pace with the pipe and the main thread only pays a
// memcpy per chunk plus one completion per worker. Only one worker runs at a time (the
// scanner is sequential). Everything a worker needs is in a shared ScanJob, so a Scanner
// object that is garbage-collected mid-read (say the stream failed) cannot pull the state
// out from under a running worker.
//
// Result (compact: no string per rule; src/reader.ts decodes it):
//   fault:  Buffer | undefined   structural fault message (bytes from the dump)
//   bytes:  number               bytes pushed
//   chains: Uint32Array          per chain: nameStart, nameEnd (into text), ruleCount, historic
//   codes:  Int32Array           per rule, grouped by chain: ID length, 0, -1 or -2
//   ids:    string               all IDs concatenated (latin1; IDs are ASCII)
//   text:   Buffer               chain names and kept lines
//   texts:  Uint32Array          per kept line: global rule index, start, end (into text)
#include <stdint.h>
#include <string.h>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "addon.h"
#include "save_scanner.h"

namespace ipts {

namespace {

struct ScanJob {
  ScanJob(ScannerConfig config, std::shared_ptr<ChunkPool> chunk_pool)
      : pool(std::move(chunk_pool)), scanner(std::move(config)) {}

  const std::shared_ptr<ChunkPool> pool;

  std::mutex mu;
  std::vector<std::string> pending;  // guarded by mu
  size_t pending_bytes = 0;          // guarded by mu

  SaveScanner scanner;  // only touched by the one running worker

  // Main thread only.
  size_t batch_bytes = 0;
  bool running = false;
  bool finishing = false;
  bool abandoned = false;  // the Scanner object was collected without finish()
  std::optional<Napi::Promise::Deferred> deferred;
};

struct EncodedScan {
  std::string fault;
  uint64_t bytes = 0;
  std::vector<uint32_t> chains;
  std::vector<int32_t> codes;
  std::string ids;
  std::string text;
  std::vector<uint32_t> texts;
};

// Flattens the scanner's result; runs on the worker thread.
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
    out->text += chain.name;
    out->chains.insert(out->chains.end(),
                       {start, static_cast<uint32_t>(out->text.size()),
                        static_cast<uint32_t>(chain.codes.size()), chain.historic ? 1u : 0u});
    out->codes.insert(out->codes.end(), chain.codes.begin(), chain.codes.end());
    out->ids += chain.ids;
    for (const auto& [index, line] : chain.texts) {
      const uint32_t line_start = static_cast<uint32_t>(out->text.size());
      out->text += line;
      out->texts.insert(out->texts.end(),
                        {base + index, line_start, static_cast<uint32_t>(out->text.size())});
    }
    base += static_cast<uint32_t>(chain.codes.size());
  }
  if (out->text.size() > UINT32_MAX) {
    *out = EncodedScan();
    out->fault = "iptables-save output too large: kept text exceeds 4 GiB";
  }
}

template <typename Array, typename T>
Array CopyArray(Napi::Env env, const std::vector<T>& values) {
  Array array = Array::New(env, values.size());
  if (!values.empty()) memcpy(array.Data(), values.data(), values.size() * sizeof(T));
  return array;
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
        job_->scanner.Feed(chunk.data(), chunk.size());
        job_->pool->Give(std::move(chunk));
      }
    }
    if (final_) {
      job_->scanner.Finish();
      Encode(job_->scanner, &result_);
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
    if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsArray() ||
        !info[2].IsBoolean() || !info[3].IsNumber()) {
      Napi::TypeError::New(env,
                           "new Scanner(hashPrefix: Uint8Array, historicPrefixes: Uint8Array[], "
                           "reportUnmatched: boolean, batchBytes: number)")
          .ThrowAsJavaScriptException();
      return;
    }
    ScannerConfig config;
    if (!Bytes(info[0], &config.hash_prefix)) return;
    Napi::Array historic = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < historic.Length(); ++i) {
      std::string prefix;
      if (!Bytes(historic.Get(i), &prefix)) return;
      config.historic_prefixes.push_back(std::move(prefix));
    }
    config.report_unmatched = info[2].As<Napi::Boolean>().Value();
    const double batch = info[3].As<Napi::Number>().DoubleValue();
    job_ = std::make_shared<ScanJob>(std::move(config), GetAddonData(env)->chunk_pool);
    job_->batch_bytes = batch > 0 ? static_cast<size_t>(batch) : 0;
  }

 private:
  static bool Bytes(Napi::Value value, std::string* out) {
    if (!value.IsTypedArray() ||
        value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(value.Env(), "scanner prefixes must be Uint8Arrays")
          .ThrowAsJavaScriptException();
      return false;
    }
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    out->assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
    return true;
  }

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
