// Starts a child off the main thread and reaps it there: Node's child_process.spawn forks the
// whole process on the main thread (1-30 ms at 50-200 MB RSS); posix_spawn (glibc: clone with
// CLONE_VM|CLONE_VFORK, no page-table copy) on a thread of the child's own costs the main
// thread only three pipe2() calls and a pthread_create().
//
//   const c = new Child(file, argv, env | null, stdoutFd, onEvent, flags, stderrLimit);
//   c.errno        // non-zero: nothing started (pipe2/dup/thread failed), no event comes
//   c.stdin, c.stdout, c.stderr   // our pipe ends (O_CLOEXEC), JS's to close; stdout -1 with
//                  // stdoutFd, stdin -1 with kInputOnThread, stderr -1 with a stderrLimit
//   onEvent(1, errno, 0)      // could not start (ENOENT, EACCES, ...)
//   onEvent(2, code, signo, stderr?)  // exited and reaped (code -1 and the signal when one
//                  // ended it); with a stderrLimit, its stderr (head and tail kept, as
//                  // commands.ts collectTrimmed keeps them)
//   onEvent(3, 0, 0)          // kInputOnThread: the queue fell to empty after write() said full
//   onEvent(4, errno, 0)      // kInputOnThread: input written and closed (0), or the child
//                  // stopped reading (EPIPE, ...; what was queued is dropped)
//   c.write(string | Uint8Array)  // kInputOnThread: queued for the thread; returns the bytes
//                  // queued now, or -1 once input is closed
//   c.end()        // kInputOnThread: close the child's stdin once the queue is written
//   c.kill(signo)  // its process group; remembered until it exists, a no-op once it exited
//
// kInputOnThread: the thread writes the child's stdin (non-blocking, poll()), so restore input
// never costs the main thread a write(2), and a stderrLimit has the thread read stderr beside
// it: a child started so needs no net.Socket, and no libuv pool thread, on our side at all.
//
// A start that worked is not reported: one wake-up of the loop less per child.
//
// Why a thread per child that spawns and then blocks in waitid, rather than pidfd_open and a
// uv_poll_t on the loop: pidfd_open needs Linux 5.3 and the prebuilds are for hosts from RHEL 8
// (Linux 4.18) on; the spawn has to leave the main thread anyway; and a thread of our own holds
// no libuv pool thread for the child's lifetime (the save reader already holds one per running
// save, so blocking waits there could starve it). The thread-safe function that carries the
// events keeps the loop alive while the child runs, like a ChildProcess handle, and is released
// after the exit event, so nothing of ours keeps a process alive afterwards.
//
// libuv's SIGCHLD handler waitpid()s only the pids it spawned itself, and waitid here names our
// pid, so neither reaps the other's children.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "fd.h"

extern char** environ;

namespace ipts {

namespace {

enum EventKind : int32_t { kStartFailed = 1, kExited = 2, kInputDrained = 3, kInputDone = 4 };

// Constructor flags.
constexpr int32_t kInputOnThread = 1;

struct Event {
  int32_t kind;
  int32_t a;
  int32_t b;
  bool has_text = false;
  std::string text;
};

// write() reports "full" above this many queued bytes (the 1 MiB pipe holds as much again).
constexpr size_t kInputHighWater = 1 << 20;

// What commands.ts collectTrimmed keeps of a stream: everything up to `limit` bytes; past it the
// first limit/2 and the last limit - limit/2, and a note of how much was cut between them.
class TrimmedText {
 public:
  explicit TrimmedText(size_t limit) : limit_(limit), half_(limit / 2) {}
  void Append(const char* data, size_t n) {
    total_ += n;
    if (!trimming_) {
      head_.append(data, n);
      if (head_.size() <= limit_) return;
      trimming_ = true;
      tail_ = head_.substr(half_);
      head_.resize(half_);
    } else {
      tail_.append(data, n);
    }
    const size_t keep = limit_ - half_;
    if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
  }
  std::string Text() const {
    if (total_ <= limit_) return head_ + tail_;
    const size_t cut = total_ - head_.size() - tail_.size();
    return head_ + "\n\xe2\x80\xa6 [" + std::to_string(cut) + " bytes of stderr cut] \xe2\x80\xa6\n" + tail_;
  }

 private:
  size_t limit_;
  size_t half_;
  bool trimming_ = false;
  size_t total_ = 0;
  std::string head_;
  std::string tail_;
};

// Shared by the JS object (kill) and the child's thread (spawn, wait).
struct ChildState {
  std::string file;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  // The child's ends; the thread closes them once the child holds its copies.
  UniqueFd child_stdin, child_stdout, child_stderr;
  // Our ends the thread serves: stdin (kInputOnThread, non-blocking) and stderr (stderr_limit).
  UniqueFd our_stdin, our_stderr;
  // write()/end() wake the thread's poll() through this pipe (both ends non-blocking).
  UniqueFd wake_read, wake_write;
  size_t stderr_limit = 0;  // 0: stderr is JS's pipe
  bool input_on_thread = false;
  napi_threadsafe_function tsfn = nullptr;

  std::mutex mu;  // guards everything below
  // kInputOnThread: chunks not yet taken by the thread, and bytes not yet written (queued and
  // the chunk being written).
  std::deque<std::string> input;
  size_t input_bytes = 0;
  bool input_end = false;     // end() was called (or the environment went)
  bool input_closed = false;  // written and closed, or failed: write() refuses
  bool drain_wanted = false;  // write() said full: say when the queue is empty
  // The environment is being torn down (a worker thread ending): the thread-safe function may be
  // freed at any moment, so the thread must not call it again.
  bool env_gone = false;
  pid_t pid = 0;
  int pending_signal = 0;
  // The child is gone (or never came): its pid may be reused once reaped, so kill must stop
  // before that. Set while the child is still an unreaped zombie (waitid WNOWAIT).
  bool finished = false;
};

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  bool has_attr = false;
  bool has_actions = false;
  SpawnSetup() = default;
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    if (has_actions) posix_spawn_file_actions_destroy(&actions);
    if (has_attr) posix_spawnattr_destroy(&attr);
  }
};

// What Node's spawn gives a child: a new session (detached: true, so its own process group that
// a kill reaches as a whole), no blocked signals, every signal at its default (Node ignores
// SIGPIPE, and an ignored disposition would survive exec), the pipes on 0, 1 and 2.
int Configure(SpawnSetup* s, const ChildState& c) {
  int e = posix_spawnattr_init(&s->attr);
  if (e != 0) return e;
  s->has_attr = true;
  e = posix_spawn_file_actions_init(&s->actions);
  if (e != 0) return e;
  s->has_actions = true;
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  e = posix_spawnattr_setflags(&s->attr,
                               POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (e == 0) e = posix_spawnattr_setsigmask(&s->attr, &none);
  if (e == 0) e = posix_spawnattr_setsigdefault(&s->attr, &all);
  // dup2 onto 0/1/2 clears O_CLOEXEC there; the originals close at exec.
  if (e == 0) e = posix_spawn_file_actions_adddup2(&s->actions, c.child_stdin.get(), 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&s->actions, c.child_stdout.get(), 1);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&s->actions, c.child_stderr.get(), 2);
  return e;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// One execve-equivalent attempt; a file without #! runs under /bin/sh, as execvp (and so
// Node's spawn) does on ENOEXEC.
int SpawnOne(pid_t* pid, const std::string& path, SpawnSetup* s, std::vector<std::string> argv,
             std::vector<char*>& envp) {
  std::vector<char*> args = Pointers(argv);
  int e = posix_spawn(pid, path.c_str(), &s->actions, &s->attr, args.data(), envp.data());
  if (e != ENOEXEC) return e;
  argv.insert(argv.begin(), "/bin/sh");
  argv[1] = path;
  std::vector<char*> sh_args = Pointers(argv);
  return posix_spawn(pid, "/bin/sh", &s->actions, &s->attr, sh_args.data(), envp.data());
}

// PATH is the child's (options.env's when it sets one, else ours), as Node's spawn searches:
// libuv gives execvp the child's environment. execvp's rules: a name with '/' is used as is; an
// empty entry is the current directory; EACCES anywhere is reported if nothing runs; no PATH
// means /bin:/usr/bin.
int Spawn(ChildState& c, pid_t* pid) {
  SpawnSetup setup;
  int e = Configure(&setup, c);
  if (e != 0) return e;
  std::vector<char*> envp = Pointers(c.env);
  if (c.file.empty()) return ENOENT;
  if (c.file.find('/') != std::string::npos) return SpawnOne(pid, c.file, &setup, c.argv, envp);
  std::string path = "/bin:/usr/bin";
  for (const auto& entry : c.env) {
    if (entry.compare(0, 5, "PATH=") == 0) {
      path = entry.substr(5);
      break;
    }
  }
  bool denied = false;
  size_t start = 0;
  for (;;) {
    const size_t end = path.find(':', start);
    std::string dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + c.file;
    // Only a name that is there costs a spawn attempt.
    if (::access(candidate.c_str(), F_OK) == 0) {
      e = SpawnOne(pid, candidate, &setup, c.argv, envp);
      if (e == 0) return 0;
      if (e == EACCES) {
        denied = true;
      } else if (e != ENOENT && e != ENOTDIR && e != ESTALE && e != ENODEV && e != ETIMEDOUT) {
        return e;
      }
    } else if (errno == EACCES) {
      denied = true;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return denied ? EACCES : ENOENT;
}

// Both under mu, so a teardown (EnvGone) never frees the function during a call. The queue is
// unbounded: a blocking call never waits.
void PostEvent(ChildState& c, std::unique_ptr<Event> event) {
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.env_gone) return;
  if (napi_call_threadsafe_function(c.tsfn, event.get(), napi_tsfn_blocking) != napi_ok) {
    c.env_gone = true;  // napi_closing: it must not be used again
    return;
  }
  event.release();  // CallJs owns it now
}

void Post(ChildState& c, int32_t kind, int32_t a, int32_t b) {
  PostEvent(c, std::unique_ptr<Event>(new Event{kind, a, b, false, std::string()}));
}

// One byte into the wake pipe (under mu); a full pipe already wakes the thread.
void Wake(ChildState& c) {
  if (!c.wake_write.valid()) return;
  const char byte = 1;
  (void)!::write(c.wake_write.get(), &byte, 1);
}

// The fds the thread served go as soon as it is done with them, not when JS collects the Child
// (that may be much later). The wake pipe closes under mu: write()/end() wake only through a
// valid one, so they never write to a closed (or reused) fd number.
void CloseServedFds(ChildState& c) {
  c.our_stdin.Reset();
  c.our_stderr.Reset();
  std::lock_guard<std::mutex> lock(c.mu);
  c.input_closed = true;
  c.wake_read.Reset();
  c.wake_write.Reset();
}

// The thread's side of kInputOnThread: input is over (written and closed: error 0), or failed.
void CloseInput(ChildState& c, int error) {
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.input_closed = true;
    c.input.clear();
    c.input_bytes = 0;
    c.drain_wanted = false;
  }
  c.our_stdin.Reset();
  Post(c, kInputDone, error, 0);
}

// Serves the child's stdin (kInputOnThread) and stderr (stderr_limit) until input is closed and
// stderr is at EOF: non-blocking writes of the queued chunks, reads of stderr, and poll() for
// whichever can go on, woken by write()/end() through the wake pipe. A child that exits closes
// its stdin, which poll() reports as POLLERR on our end: input then closes with EPIPE.
void PumpStdio(ChildState& c, TrimmedText* stderr_text) {
  bool input_open = c.input_on_thread;
  bool stderr_open = c.our_stderr.valid();
  std::string chunk;
  size_t written = 0;  // of chunk
  char buffer[16384];
  while (input_open || stderr_open) {
    if (input_open && written == chunk.size()) {
      bool end = false;
      {
        std::lock_guard<std::mutex> lock(c.mu);
        if (!c.input.empty()) {
          chunk = std::move(c.input.front());
          c.input.pop_front();
          written = 0;
        } else {
          chunk.clear();
          written = 0;
          end = c.input_end;
        }
      }
      if (end) {
        CloseInput(c, 0);
        input_open = false;
        continue;
      }
    }
    const bool want_write = input_open && written < chunk.size();
    if (want_write) {
      const ssize_t n = ::write(c.our_stdin.get(), chunk.data() + written, chunk.size() - written);
      if (n > 0) {
        written += static_cast<size_t>(n);
        bool drained = false;
        {
          std::lock_guard<std::mutex> lock(c.mu);
          c.input_bytes -= static_cast<size_t>(n);
          if (c.drain_wanted && c.input_bytes == 0) {
            c.drain_wanted = false;
            drained = true;
          }
        }
        if (drained) Post(c, kInputDrained, 0, 0);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) {
        CloseInput(c, errno);
        input_open = false;
        continue;
      }
    }
    pollfd fds[3];
    nfds_t count = 0;
    int wake_at = -1, stdin_at = -1, stderr_at = -1;
    if (input_open) {
      wake_at = static_cast<int>(count);
      fds[count++] = {c.wake_read.get(), POLLIN, 0};
      stdin_at = static_cast<int>(count);
      // Asking for nothing still reports POLLERR once the child's end is closed.
      fds[count++] = {c.our_stdin.get(), static_cast<short>(want_write ? POLLOUT : 0), 0};
    }
    if (stderr_open) {
      stderr_at = static_cast<int>(count);
      fds[count++] = {c.our_stderr.get(), POLLIN, 0};
    }
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      // Nothing sensible is left to wait on: give up on both rather than spin.
      if (input_open) CloseInput(c, errno);
      break;
    }
    if (wake_at >= 0 && (fds[wake_at].revents & POLLIN) != 0) {
      while (::read(c.wake_read.get(), buffer, sizeof(buffer)) > 0) {
      }
    }
    if (stdin_at >= 0 && (fds[stdin_at].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 &&
        (fds[stdin_at].revents & POLLOUT) == 0) {
      CloseInput(c, EPIPE);
      input_open = false;
    }
    if (stderr_at >= 0 && fds[stderr_at].revents != 0) {
      const ssize_t n = ::read(c.our_stderr.get(), buffer, sizeof(buffer));
      if (n > 0) {
        stderr_text->Append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        stderr_open = false;
        c.our_stderr.Reset();
      }
    }
  }
  CloseServedFds(c);
}

void Release(ChildState& c) {
  std::lock_guard<std::mutex> lock(c.mu);
  if (!c.env_gone) napi_release_threadsafe_function(c.tsfn, napi_tsfn_release);
}

// Registered after the function's own teardown hook, so it runs first (hooks run in reverse).
// Input nobody can write any more ends, so the child sees EOF rather than waiting forever.
void EnvGone(void* arg) {
  auto* c = static_cast<ChildState*>(arg);
  std::lock_guard<std::mutex> lock(c->mu);
  c->env_gone = true;
  c->input_end = true;
  Wake(*c);
}

// Main thread, once the thread released the function (or the environment went): the hook goes,
// and with it the function's share of the state.
void FinalizeTsfn(napi_env env, void* data, void* /*hint*/) {
  auto* holder = static_cast<std::shared_ptr<ChildState>*>(data);
  napi_remove_env_cleanup_hook(env, EnvGone, holder->get());
  delete holder;
}

void* RunChild(void* raw) {
  std::shared_ptr<ChildState> c = std::move(*static_cast<std::shared_ptr<ChildState>*>(raw));
  delete static_cast<std::shared_ptr<ChildState>*>(raw);
  pid_t pid = -1;
  const int error = Spawn(*c, &pid);
  // The child holds its copies now (or never will): ours go, so EOF comes when it is done.
  c->child_stdin.Reset();
  c->child_stdout.Reset();
  c->child_stderr.Reset();
  if (error != 0) {
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->finished = true;
    }
    CloseServedFds(*c);
    Post(*c, kStartFailed, error, 0);
  } else {
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->pid = pid;
      if (c->pending_signal != 0 && ::kill(-pid, c->pending_signal) != 0) {
        ::kill(pid, c->pending_signal);
      }
    }
    TrimmedText stderr_text(c->stderr_limit);
    PumpStdio(*c, &stderr_text);  // returns at once when it serves neither
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int waited;
    do {
      waited = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
    } while (waited != 0 && errno == EINTR);
    {
      std::lock_guard<std::mutex> lock(c->mu);
      c->finished = true;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::unique_ptr<Event> exited(new Event{kExited, -1, 0, false, std::string()});
    if (waited == 0 && info.si_code == CLD_EXITED) {
      exited->a = info.si_status;
    } else if (waited == 0) {
      exited->b = info.si_status;  // CLD_KILLED / CLD_DUMPED
    }  // else someone else reaped it (ECHILD): no status to tell
    if (c->stderr_limit > 0) {
      exited->has_text = true;
      exited->text = stderr_text.Text();
    }
    PostEvent(*c, std::move(exited));
  }
  Release(*c);
  return nullptr;
}

// On the main thread: (kind, a, b) to the JS callback.
void CallJs(napi_env env, napi_value callback, void* /*context*/, void* data) {
  std::unique_ptr<Event> event(static_cast<Event*>(data));
  if (env == nullptr || callback == nullptr) return;  // environment tearing down
  napi_value args[4];
  napi_value undefined;
  if (napi_create_int32(env, event->kind, &args[0]) != napi_ok ||
      napi_create_int32(env, event->a, &args[1]) != napi_ok ||
      napi_create_int32(env, event->b, &args[2]) != napi_ok ||
      napi_get_undefined(env, &undefined) != napi_ok) {
    return;
  }
  args[3] = undefined;
  if (event->has_text &&
      napi_create_string_utf8(env, event->text.data(), event->text.size(), &args[3]) != napi_ok) {
    return;
  }
  napi_call_function(env, undefined, callback, 4, args, nullptr);
}

bool StringsOf(Napi::Value value, std::vector<std::string>* out) {
  if (!value.IsArray()) return false;
  Napi::Array array = value.As<Napi::Array>();
  out->reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) return false;
    out->push_back(item.As<Napi::String>().Utf8Value());
  }
  return true;
}

// What the child's stdin pipe holds: our writes go into the pipe only between the event loop's
// turns, so a 64 KiB pipe (~2 ms of iptables-restore's parsing) ran dry while we rendered the
// next 4 ms slice. Linux's default /proc/sys/fs/pipe-max-size is this size; a smaller limit
// leaves the default (the call fails, harmlessly).
constexpr int kStdinPipeBytes = 1 << 20;

// Three pipes, both ends O_CLOEXEC (no other child, ours or Node's, inherits them).
int MakePipe(UniqueFd* ours, UniqueFd* theirs, bool child_reads) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) return errno;
  if (child_reads) (void)::fcntl(ends[1], F_SETPIPE_SZ, kStdinPipeBytes);
  ours->Reset(child_reads ? ends[1] : ends[0]);
  theirs->Reset(child_reads ? ends[0] : ends[1]);
  return 0;
}

class Child : public Napi::ObjectWrap<Child> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Child",
                       {InstanceMethod<&Child::Kill>("kill"), InstanceMethod<&Child::Write>("write"),
                        InstanceMethod<&Child::End>("end")});
  }

  explicit Child(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Child>(info) {
    Napi::Env env = info.Env();
    auto c = std::make_shared<ChildState>();
    if (!info[0].IsString() || !StringsOf(info[1], &c->argv) ||
        !(info[2].IsNull() || StringsOf(info[2], &c->env)) || !info[3].IsNumber() ||
        !info[4].IsFunction() || !(info[5].IsUndefined() || info[5].IsNumber()) ||
        !(info[6].IsUndefined() || info[6].IsNumber())) {
      Napi::TypeError::New(env, "Child(file, argv, env | null, stdoutFd, onEvent, flags?, stderrLimit?)")
          .ThrowAsJavaScriptException();
      return;
    }
    const int32_t flags = info[5].IsNumber() ? info[5].As<Napi::Number>().Int32Value() : 0;
    const int64_t stderr_limit = info[6].IsNumber() ? info[6].As<Napi::Number>().Int64Value() : 0;
    c->input_on_thread = (flags & kInputOnThread) != 0;
    c->stderr_limit = stderr_limit > 0 ? static_cast<size_t>(stderr_limit) : 0;
    c->file = info[0].As<Napi::String>().Utf8Value();
    if (info[2].IsNull()) {
      // Our environment as it is now, copied on the main thread (process.env writes setenv here).
      for (char** e = environ; e != nullptr && *e != nullptr; e++) c->env.emplace_back(*e);
    }
    const int stdout_fd = info[3].As<Napi::Number>().Int32Value();
    Napi::Object self = info.This().As<Napi::Object>();
    UniqueFd our_stdin, our_stdout, our_stderr;
    int error = MakePipe(&our_stdin, &c->child_stdin, true);
    if (error == 0) error = MakePipe(&our_stderr, &c->child_stderr, false);
    if (error == 0 && c->input_on_thread) {
      // Ours only: the child's end is another open file description and stays blocking.
      if (::fcntl(our_stdin.get(), F_SETFL, O_NONBLOCK) != 0) error = errno;
      int wake[2];
      if (error == 0 && ::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) error = errno;
      if (error == 0) {
        c->wake_read.Reset(wake[0]);
        c->wake_write.Reset(wake[1]);
        c->our_stdin = std::move(our_stdin);
      }
    }
    if (error == 0 && c->stderr_limit > 0) c->our_stderr = std::move(our_stderr);
    if (error == 0 && stdout_fd >= 0) {
      // Our own copy: the caller may close its fd as soon as this returns, before the spawn.
      c->child_stdout.Reset(::fcntl(stdout_fd, F_DUPFD_CLOEXEC, 3));
      if (!c->child_stdout.valid()) error = errno;
    } else if (error == 0) {
      error = MakePipe(&our_stdout, &c->child_stdout, false);
    }
    if (error == 0) error = StartThread(env, info[4].As<Napi::Function>(), c);
    self.Set("errno", Napi::Number::New(env, error));
    if (error != 0) return;  // every fd closes here
    self.Set("stdin", Napi::Number::New(env, our_stdin.valid() ? our_stdin.Release() : -1));
    self.Set("stdout", Napi::Number::New(env, our_stdout.valid() ? our_stdout.Release() : -1));
    self.Set("stderr", Napi::Number::New(env, our_stderr.valid() ? our_stderr.Release() : -1));
    state_ = std::move(c);
  }

 private:
  static int StartThread(Napi::Env env, Napi::Function callback, const std::shared_ptr<ChildState>& c) {
    napi_value name;
    if (napi_create_string_utf8(env, "iptables-sync:spawn", NAPI_AUTO_LENGTH, &name) != napi_ok) {
      return ENOMEM;
    }
    auto* holder = new std::shared_ptr<ChildState>(c);
    if (napi_create_threadsafe_function(env, callback, nullptr, name, 0, 1, holder, FinalizeTsfn,
                                        nullptr, CallJs, &c->tsfn) != napi_ok) {
      delete holder;
      return ENOMEM;
    }
    napi_add_env_cleanup_hook(env, EnvGone, c.get());
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
      napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
      return ENOMEM;
    }
    // Path strings and posix_spawn's frame only (glibc gives the child a stack of its own).
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    auto* arg = new std::shared_ptr<ChildState>(c);
    pthread_t thread;
    const int error = pthread_create(&thread, &attr, RunChild, arg);
    pthread_attr_destroy(&attr);
    if (error != 0) {
      delete arg;
      napi_release_threadsafe_function(c->tsfn, napi_tsfn_abort);
    }
    return error;
  }

  // kInputOnThread: queues a string (as UTF-8) or bytes; the bytes queued now, -1 once closed.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_ || !state_->input_on_thread) return Napi::Number::New(env, -1);
    std::string chunk;
    if (info[0].IsString()) {
      size_t length = 0;
      if (napi_get_value_string_utf8(env, info[0], nullptr, 0, &length) != napi_ok) {
        return Napi::Number::New(env, -1);
      }
      chunk.resize(length + 1);  // room for the terminator the call writes
      if (napi_get_value_string_utf8(env, info[0], &chunk[0], chunk.size(), &length) != napi_ok) {
        return Napi::Number::New(env, -1);
      }
      chunk.resize(length);
    } else if (info[0].IsTypedArray()) {
      Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
      chunk.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
    } else {
      Napi::TypeError::New(env, "write(string | Uint8Array)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->input_closed || state_->input_end) return Napi::Number::New(env, -1);
    const size_t size = chunk.size();
    if (size > 0) {
      state_->input.push_back(std::move(chunk));
      state_->input_bytes += size;
      if (state_->input_bytes > kInputHighWater) state_->drain_wanted = true;
      Wake(*state_);
    }
    return Napi::Number::New(env, static_cast<double>(state_->input_bytes));
  }

  // kInputOnThread: the child's stdin closes once what is queued is written; end(true) drops
  // what is still queued first (a stream destroyed mid-transaction).
  Napi::Value End(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_ || !state_->input_on_thread) return env.Undefined();
    std::lock_guard<std::mutex> lock(state_->mu);
    if (info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) {
      state_->input.clear();
      state_->input_bytes = 0;
      state_->drain_wanted = false;
    }
    state_->input_end = true;
    Wake(*state_);
    return env.Undefined();
  }

  Napi::Value Kill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_ || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
    const int signo = info[0].As<Napi::Number>().Int32Value();
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->finished) return Napi::Boolean::New(env, false);
    if (state_->pid == 0) {
      if (state_->pending_signal != SIGKILL) state_->pending_signal = signo;
      return Napi::Boolean::New(env, true);
    }
    // The whole group: a wrapper and what it started. Its leader is not reaped yet (finished is
    // false), so the pid cannot have been reused.
    if (::kill(-state_->pid, signo) != 0) ::kill(state_->pid, signo);
    return Napi::Boolean::New(env, true);
  }

  std::shared_ptr<ChildState> state_;
};

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) { exports.Set("Child", Child::Define(env)); }

}  // namespace ipts
