// The addon reads the pipe itself: a pipe whose write end becomes the child's stdout, and a
// thread-pool worker that reads the other end until EOF and scans as it goes. Node's stream
// machinery never sees the dump (thousands of 4-9 KiB reads for a 100k-rule table), so the main
// thread only pays for spawning and for decoding the compact result.
//
//   const p = new PipeScanner(hashPrefix, historicPrefixes, reportUnmatched, expected?: ExpectedIds);
//   spawn(cmd, args, { stdio: ['ignore', p.fd, 'pipe'] });  // fd: the write end
//   p.closeWriteEnd();          // our copy, so EOF arrives when the child is done
//   await p.result;             // scan result (scan_result.h), or {cancelled: true}
//   p.cancel();                 // stop waiting (a hung child), e.g. before killing it
//
// Both pipe ends are O_CLOEXEC: spawn dup2()s the write end onto the child's fd 1 (which clears
// the flag there), and no other child started meanwhile inherits a copy that would delay EOF.
// The worker occupies one libuv pool thread for as long as the child writes.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "addon.h"
#include "fd.h"
#include "save_scanner.h"
#include "scan_result.h"

namespace ipts {

namespace {

constexpr size_t kReadBytes = 256 * 1024;

struct PipeJob {
  explicit PipeJob(ScannerConfig config)
      : scanner(std::make_unique<SaveScanner>(std::move(config))) {}
  // All three are closed on the main thread once the read is over; until then the worker only
  // reads read_end and polls cancel.
  UniqueFd read_end;
  UniqueFd write_end;  // handed to spawn, then closed
  UniqueFd cancel;     // eventfd: the main thread writes, the worker polls
  std::unique_ptr<SaveScanner> scanner;  // the worker's; freed once encoded
};

class PipeScanWorker : public Napi::AsyncWorker {
 public:
  PipeScanWorker(Napi::Env env, std::shared_ptr<PipeJob> job)
      : Napi::AsyncWorker(env, "iptables-sync:pipe-scan"),
        job_(std::move(job)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    std::string buffer(kReadBytes, '\0');
    pollfd fds[2] = {{job_->read_end.get(), POLLIN, 0}, {job_->cancel.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        SetError(std::string("poll on the iptables-save pipe failed: ") + strerror(errno));
        return;
      }
      if (fds[1].revents != 0) {
        cancelled_ = true;
        return;
      }
      if (fds[0].revents == 0) continue;
      const ssize_t n = ::read(job_->read_end.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        SetError(std::string("read from the iptables-save pipe failed: ") + strerror(errno));
        return;
      }
      if (n == 0) break;  // every write end is closed: the child is done
      job_->scanner->Feed(buffer.data(), static_cast<size_t>(n));
    }
    job_->scanner->Finish();
    Encode(*job_->scanner, &result_);
    job_->scanner.reset();
  }

  void OnOK() override {
    CloseFds();
    Napi::Env env = Env();
    if (cancelled_) {
      Napi::Object result = Napi::Object::New(env);
      result.Set("cancelled", Napi::Boolean::New(env, true));
      deferred_.Resolve(result);
      return;
    }
    Napi::Value value = ToJs(env, result_);
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
    } else {
      deferred_.Resolve(value);
    }
  }

  void OnError(const Napi::Error& error) override {
    CloseFds();
    deferred_.Reject(error.Value());
  }

 private:
  // The read is over: its fds go now, not when the JS object is collected. Main thread, like
  // every other user of write_end and cancel, so a later cancel() just sees -1.
  void CloseFds() {
    job_->read_end.Reset();
    job_->write_end.Reset();
    job_->cancel.Reset();
  }

  std::shared_ptr<PipeJob> job_;
  Napi::Promise::Deferred deferred_;
  bool cancelled_ = false;
  EncodedScan result_;
};

class PipeScanner : public Napi::ObjectWrap<PipeScanner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PipeScanner",
                       {InstanceMethod<&PipeScanner::CloseWriteEnd>("closeWriteEnd"),
                        InstanceMethod<&PipeScanner::Cancel>("cancel"),
                        InstanceAccessor<&PipeScanner::Fd>("fd")});
  }

  explicit PipeScanner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PipeScanner>(info) {
    Napi::Env env = info.Env();
    ScannerConfig config;
    if (!ParseScannerConfig(info, &config)) return;
    if (!ParseExpectedIds(info[3], &config)) return;  // optional: undefined past the end
    auto job = std::make_shared<PipeJob>(std::move(config));
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
      Napi::Error::New(env, std::string("pipe2 failed: ") + strerror(errno))
          .ThrowAsJavaScriptException();
      return;
    }
    job->read_end.Reset(ends[0]);
    job->write_end.Reset(ends[1]);
    job->cancel.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!job->cancel.valid()) {
      Napi::Error::New(env, std::string("eventfd failed: ") + strerror(errno))
          .ThrowAsJavaScriptException();
      return;  // the job and its fds go away here
    }
    // Reading starts now: a child writing more than the pipe holds must never block on us.
    auto* worker = new PipeScanWorker(env, job);
    info.This().As<Napi::Object>().Set("result", worker->Promise());
    worker->Queue();
    job_ = std::move(job);
  }

  // Collected without a clean end (say spawn threw): drop our write end so the worker can see
  // EOF, and tell it to stop in case a child still holds another copy.
  ~PipeScanner() override {
    if (!job_) return;
    job_->write_end.Reset();
    SignalCancel();
  }

 private:
  void SignalCancel() {
    if (!job_->cancel.valid()) return;  // the read is over
    const uint64_t one = 1;
    if (::write(job_->cancel.get(), &one, sizeof(one)) < 0) {
      // EAGAIN: the counter is already non-zero, the worker has been told
    }
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), job_ ? job_->write_end.get() : -1);
  }

  Napi::Value CloseWriteEnd(const Napi::CallbackInfo& info) {
    if (job_) job_->write_end.Reset();
    return info.Env().Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (job_) {
      job_->write_end.Reset();
      SignalCancel();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<PipeJob> job_;
};

}  // namespace

void InitPipeScanner(Napi::Env env, Napi::Object exports) {
  exports.Set("PipeScanner", PipeScanner::Define(env));
}

}  // namespace ipts
