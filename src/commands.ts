// Running external commands: the one place that starts child processes. The Table only ever
// talks to a CommandFactory, so tests can substitute a fake one for retries and timing, and
// `netns` is just a wrapping factory. startCommand() puts every child (save, restore, probes)
// under the same rules: a deadline that kills it (and its process group) and then reaps it,
// stderr kept to a few KB, and spawn failures (EMFILE, ENOENT, EACCES) reported as an outcome,
// never thrown and never left as an unhandled rejection.
//
// Two ways to start a child: the addon's (posix_spawn on a thread of the child's own, which
// also reaps it: the main thread pays a few pipe2() calls and a thread start) and Node's
// child_process.spawn (a fork of this whole process on the main thread: 1-30 ms at 50-200 MB).
// spawnCommand takes the addon's when it loaded, unless IPTABLES_SYNC_SPAWN=node.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import { CHILD_INPUT_HIGH_WATER, CHILD_INPUT_ON_THREAD, loadNative, type NativeChild, type NativeChildEvent } from './native';

/** How a process ended. */
export interface CommandExit {
  /** Its exit code; null when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, else null. */
  readonly signal: NodeJS.Signals | null;
}

/** What the Table needs of a started process. */
export interface SpawnedCommand {
  /** The child's stdin (the Table writes restore input here). */
  readonly stdin: Writable;
  /** The child's stdout, as bytes (an empty stream when `options.stdoutFd` was honoured). */
  readonly stdout: Readable;
  /** The child's stderr. */
  readonly stderr: Readable;
  /** Its stderr, trimmed to `options.stderrLimitBytes`, when the factory collected it itself;
   *  startCommand then reads this instead of `stderr`. Settles once the child has exited. */
  readonly stderrText?: Promise<string>;
  /** Resolves when the process has exited and its output streams closed; rejects if it could
   *  not be started (e.g. ENOENT). */
  readonly exited: Promise<CommandExit>;
  /** Stops the process (default SIGKILL); the Table kills a child at `commandTimeoutMs`. */
  kill(signal?: NodeJS.Signals): void;
  /** The command line as run (wrappers such as `ip netns exec` included), when the factory
   *  knows it. */
  readonly argv?: readonly string[];
}

/** Per-command options a {@link CommandFactory} gets. */
export interface CommandOptions {
  /** Give the child this fd as its stdout instead of a pipe to us (the native reader reads the
   *  other end itself). Only honoured by factories with `acceptsStdoutFd`. */
  readonly stdoutFd?: number;
  /** Variables added to the child's environment (e.g. XTABLES_LOCKFILE). */
  readonly env?: Readonly<Record<string, string>>;
  /** The child reads nothing (iptables-save, a `--version` probe): it gets end of input at once,
   *  and the returned `stdin` is an ended stream. A factory that ignores this still works: the
   *  caller then ends `stdin` itself. */
  readonly noInput?: boolean;
  /** Only this much of the child's stderr is wanted (its start and end, as collectTrimmed keeps
   *  them): a factory may collect it itself and hand it over as `stderrText`. */
  readonly stderrLimitBytes?: number;
}

/** Starts a process: how a Table runs iptables-save, iptables-restore and its probes. The
 *  default spawns real processes; tests pass a fake (such as `FakeIptables` from
 *  `iptables-sync/testing`) as the `commandFactory` option. A factory should not throw: a
 *  command that cannot start is one whose `exited` rejects. */
export interface CommandFactory {
  /** Starts `command` with `args`. */
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand;
  /** Whether `options.stdoutFd` is honoured; wrappers that do not pass options on must not
   *  claim it (the Table then reads the dump through the stdout stream). */
  readonly acceptsStdoutFd?: boolean;
}

/** Which child starter the default command factory uses: the addon's (`native`) or Node's
 *  `child_process.spawn` (`node`). */
export type SpawnImplementation = 'native' | 'node';

/** Which child starter the default command factory (`spawnCommand`) uses now: `native` (the
 *  addon's posix_spawn, off the main thread) when the addon loaded, else `node`;
 *  `IPTABLES_SYNC_SPAWN=node` forces Node's. Read at every spawn, so the switch takes effect at
 *  once. */
export function spawnImplementation(): SpawnImplementation {
  return process.env.IPTABLES_SYNC_SPAWN !== 'node' && loadNative() !== undefined ? 'native' : 'node';
}

/** Spawns real processes with piped stdio, each in its own session and so its own process
 *  group (a deadline kill also reaches what a wrapper script started), with the starter
 *  {@link spawnImplementation} names. */
export const spawnCommand: CommandFactory = Object.assign(
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand =>
    spawnImplementation() === 'native' ? spawnNative(command, args, options) : spawnReal(command, args, options),
  { acceptsStdoutFd: true },
);

/** {@link spawnCommand} with Node's `child_process.spawn`, whatever the switch says. */
export const nodeSpawnCommand: CommandFactory = Object.assign(
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => spawnReal(command, args, options),
  { acceptsStdoutFd: true },
);

/** {@link spawnCommand} with the addon's spawn, whatever the switch says (a command that
 *  cannot start when the addon is not loaded). */
export const nativeSpawnCommand: CommandFactory = Object.assign(
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => spawnNative(command, args, options),
  { acceptsStdoutFd: true },
);

function spawnReal(command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand {
  const argv = Object.freeze([command, ...args]);
  const stdoutFd = options?.stdoutFd;
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      stdio: [options?.noInput === true ? 'ignore' : 'pipe', stdoutFd ?? 'pipe', 'pipe'],
      detached: true,
      ...(options?.env ? { env: { ...process.env, ...options.env } } : {}),
    });
  } catch (error) {
    return notStarted(argv, error);
  }
  const exited = new Promise<CommandExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Out of fds (EMFILE/ENFILE), spawn hands back a child without pipes and reports the error
  // on the next tick: a not-started command, not a TypeError.
  const noInput = options?.noInput === true;
  if ((!noInput && !child.stdin) || !child.stderr || (stdoutFd === undefined && !child.stdout)) {
    exited.catch(() => undefined);
    return notStarted(argv, exited.then(() => new Error(`spawn ${command}: no pipes`)));
  }
  const stdin = child.stdin ?? endedInput();
  // A child that dies early must not crash us with EPIPE on its stdin.
  stdin.on('error', () => undefined);
  const stdout = child.stdout;
  return {
    argv,
    stdin,
    // With stdoutFd the output goes elsewhere: an empty stream keeps the shape.
    stdout: stdout ?? Readable.from([]),
    stderr: child.stderr,
    exited,
    kill: (signal) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal ?? 'SIGKILL'); // the whole group: wrapper and what it started
      } catch {
        child.kill(signal ?? 'SIGKILL');
      }
    },
  };
}

const SIGNAL_NAMES: ReadonlyMap<number, NodeJS.Signals> = new Map(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/** The error Node's spawn gives for a child that could not start ("spawn ip ENOENT"). */
function spawnErrnoError(errno: number, command: string, args: readonly string[]): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`spawn ${command} ${code}`), { errno: -errno, code, syscall: `spawn ${command}`, path: command, spawnargs: [...args] });
}

/** process.env plus `extra` as KEY=VALUE strings, as Node's spawn builds them. */
function environmentOf(extra: Readonly<Record<string, string>>): string[] {
  const merged: Record<string, string | undefined> = { ...process.env, ...extra };
  const out: string[] = [];
  for (const [key, value] of Object.entries(merged)) if (value !== undefined) out.push(`${key}=${value}`);
  return out;
}

// The child's stdin is written by the addon's thread from a queue (ThreadFedInput), and with a
// stderr limit its stderr is read there too: such a child costs no net.Socket and no write(2)
// on the main thread. A stdout pipe to us (no stdoutFd), or a stderr without a limit, is a
// net.Socket over the fd, not an fs stream: a pipe read through fs blocks a libuv pool thread
// until the child acts, and the save reader already holds one pool thread per running save.
function spawnNative(command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand {
  const argv = Object.freeze([command, ...args]);
  const addon = loadNative();
  if (!addon) return notStarted(argv, new Error(`spawn ${command}: the native addon is not loaded`));
  const env = options?.env ? environmentOf(options.env) : null;
  if ([command, ...args, ...(env ?? [])].some((s) => s.includes('\0'))) {
    return notStarted(argv, Object.assign(new TypeError(`spawn ${command}: arguments and environment must not contain null bytes`), { code: 'ERR_INVALID_ARG_VALUE' }));
  }
  const stderrLimit = options?.stderrLimitBytes !== undefined && options.stderrLimitBytes > 0 ? Math.floor(options.stderrLimitBytes) : 0;
  let input: ThreadFedInput | undefined;
  let stdout: Socket | undefined;
  let stderrPipe: Socket | undefined;
  const stderrText = stderrLimit > 0 ? new CapturedText() : undefined;
  let exit: CommandExit | undefined;
  let open = 0; // output pipes not yet closed: exited waits for them, as Node's 'close' does
  let resolveExit: (exit: CommandExit) => void = () => undefined;
  let rejectExit: (error: Error) => void = () => undefined;
  const exited = new Promise<CommandExit>((resolve, reject) => {
    resolveExit = resolve;
    rejectExit = reject;
  });
  exited.catch(() => undefined); // a caller that never looks gets no unhandled rejection
  const settle = (): void => {
    if (exit && open === 0) resolveExit(exit);
  };
  const onEvent = (kind: NativeChildEvent, a: number, b: number, stderr?: string): void => {
    switch (kind) {
      case 1:
        input?.destroy();
        stdout?.destroy();
        stderrPipe?.destroy();
        stderrText?.settle('');
        rejectExit(spawnErrnoError(a, command, args));
        return;
      case 3:
        input?.inputDrained();
        return;
      case 4:
        input?.inputClosed(a, command);
        return;
      case 2:
        exit = a >= 0 ? { code: a, signal: null } : { code: null, signal: SIGNAL_NAMES.get(b) ?? null };
        stderrText?.settle(stderr ?? '');
        // As Node does at exit: unwritten input goes (a wait for 'drain' ends), and output nobody
        // reads is drained, so its pipe closes and exited resolves.
        input?.destroy();
        for (const s of [stdout, stderrPipe]) if (s && s.readableFlowing === null) s.resume();
        settle();
    }
  };
  let child: NativeChild;
  try {
    // argv[0] is the command as given, as Node passes it.
    child = new addon.Child(command, argv, env, options?.stdoutFd ?? -1, onEvent, CHILD_INPUT_ON_THREAD, stderrLimit);
  } catch (error) {
    return notStarted(argv, error);
  }
  if (child.errno !== 0) return notStarted(argv, spawnErrnoError(child.errno, command, args));
  const made: Socket[] = []; // each owns its fd from here on
  const unowned = new Set([child.stdout, child.stderr].filter((fd) => fd >= 0));
  const wrap = (fd: number): Socket => {
    const socket = new Socket({ fd, readable: true, writable: false });
    unowned.delete(fd);
    made.push(socket);
    return socket;
  };
  try {
    input = new ThreadFedInput(child);
    // No input: the thread closes the child's stdin at once, so it reads EOF.
    if (options?.noInput === true) input.end();
    // A child that dies early must not crash us with EPIPE on its stdin.
    input.on('error', () => undefined);
    stdout = child.stdout >= 0 ? wrap(child.stdout) : undefined;
    stderrPipe = child.stderr >= 0 ? wrap(child.stderr) : undefined;
    for (const s of [stdout, stderrPipe]) {
      if (!s) continue;
      open++;
      s.once('close', () => {
        open--;
        settle();
      });
    }
  } catch (error) {
    for (const socket of made) socket.destroy();
    for (const fd of unowned) closeFd(fd);
    child.end(true);
    child.kill(osConstants.signals.SIGKILL);
    return notStarted(argv, error);
  }
  const signalOf = (signal: NodeJS.Signals | undefined): number => osConstants.signals[signal ?? 'SIGKILL'] ?? osConstants.signals.SIGKILL;
  const stdin = input;
  const stderrOut = stderrPipe;
  let noOutput: Readable | undefined;
  return {
    argv,
    stdin,
    // With stdoutFd the empty stream that keeps the shape is made only if someone asks for it.
    get stdout(): Readable {
      return stdout ?? (noOutput ??= NO_OUTPUT());
    },
    get stderr(): Readable {
      return stderrOut ?? (stderrText as CapturedText).stream();
    },
    ...(stderrText ? { stderrText: stderrText.text } : {}),
    exited,
    kill: (signal) => void child.kill(signalOf(signal)),
  };
}

/** A child's stdin that the addon's thread writes (CHILD_INPUT_ON_THREAD): each chunk is copied
 *  into the thread's queue, and a write waits only while more than a pipe's worth is queued.
 *  'finish' comes once the thread has written everything and closed the pipe; a child that
 *  stopped reading fails it with EPIPE, as a Socket over the pipe would. */
class ThreadFedInput extends Writable {
  private waiting: ((error?: Error | null) => void) | undefined;
  private finishing: ((error?: Error | null) => void) | undefined;

  constructor(private readonly child: NativeChild) {
    super({ decodeStrings: false, highWaterMark: CHILD_INPUT_HIGH_WATER });
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const queued = this.child.write(chunk);
    if (queued < 0) callback(pipeClosed(EPIPE));
    else if (queued > CHILD_INPUT_HIGH_WATER) this.waiting = callback;
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finishing = callback;
    this.child.end();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.child.end(true);
    callback(error);
  }

  /** The thread's queue emptied. */
  inputDrained(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }

  /** The thread closed the child's stdin: all written (0) or failed (errno). */
  inputClosed(errno: number, command: string): void {
    const error = errno === 0 ? null : pipeClosed(errno, command);
    const waiting = this.waiting;
    const finishing = this.finishing;
    this.waiting = undefined;
    this.finishing = undefined;
    if (waiting) waiting(error ?? pipeClosed(EPIPE, command));
    else if (finishing) finishing(error);
    else if (error && !this.destroyed) this.destroy(error);
  }
}

const EPIPE = osConstants.errno.EPIPE;

/** What a write to a closed pipe gives in Node ("write EPIPE"). */
function pipeClosed(errno: number, command?: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`write ${code}${command ? ` (stdin of ${command})` : ''}`), { errno: -errno, code, syscall: 'write' });
}

/** A child's stderr as the addon's thread collected it (trimmed): the text, and a stream of it
 *  made only for a caller who asks for `stderr`. */
class CapturedText {
  private resolveText: (text: string) => void = () => undefined;
  readonly text: Promise<string> = new Promise((resolve) => (this.resolveText = resolve));
  private value: string | undefined;
  private readable: Readable | undefined;

  settle(text: string): void {
    if (this.value !== undefined) return;
    this.value = text;
    this.resolveText(text);
    if (this.readable) this.end(this.readable, text);
  }

  stream(): Readable {
    if (!this.readable) {
      this.readable = new Readable({ read: () => undefined });
      if (this.value !== undefined) this.end(this.readable, this.value);
    }
    return this.readable;
  }

  private end(readable: Readable, text: string): void {
    if (text !== '') readable.push(Buffer.from(text, 'utf8'));
    readable.push(null);
  }
}

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** The stdin of a child started with `noInput`: already ended, so writes go nowhere. */
function endedInput(): Writable {
  const stdin = new Writable({ write: (_chunk, _enc, cb) => cb() });
  stdin.end();
  return stdin;
}

/** The stdout of a child whose output went to `stdoutFd`: an empty stream. */
const NO_OUTPUT = (): Readable => Readable.from([]);

/** A command that never started: `exited` rejects with the spawn error. */
function notStarted(argv: readonly string[], error: unknown): SpawnedCommand {
  const exited = Promise.resolve(error).then((e) => Promise.reject(e instanceof Error ? e : new Error(String(e))));
  exited.catch(() => undefined);
  const stdin = new Writable({ write: (_chunk, _enc, cb) => cb() });
  stdin.on('error', () => undefined);
  stdin.destroy();
  return { argv, stdin, stdout: Readable.from([]), stderr: Readable.from([]), exited, kill: () => undefined };
}

/** Runs every command inside the named network namespace (`ip netns exec`). */
export function inNetns(netns: string, inner: CommandFactory = spawnCommand): CommandFactory {
  return Object.assign(
    (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => {
      const argv = ['ip', 'netns', 'exec', netns, command, ...args];
      const child = inner(argv[0] as string, argv.slice(1), options);
      // Errors name the command line as run, wrapper included, whatever the inner factory knows.
      return child.argv ? child : { ...child, argv };
    },
    { acceptsStdoutFd: inner.acceptsStdoutFd === true },
  );
}

// --- one deadline mechanism for every child ----------------------------------------------------

/** How much of a child's stderr is kept (the start and the end of it). */
export const STDERR_LIMIT_BYTES = 4096;

/** Attempts a child killed at its deadline gets in one apply (a hung binary rarely recovers). */
export const TIMEOUT_ATTEMPTS = 2;

/** How a started command ended. Never a rejection: a spawn failure is `spawnError`. */
export interface CommandOutcome extends CommandExit {
  /** The command line as run. */
  readonly argv: readonly string[];
  /** Killed at the deadline. */
  readonly timedOut: boolean;
  /** It could not be started (ENOENT, EACCES, EMFILE, …). */
  readonly spawnError: NodeJS.ErrnoException | undefined;
  /** Its stderr, trimmed to STDERR_LIMIT_BYTES. */
  readonly stderr: string;
}

export interface RunningCommand {
  readonly argv: readonly string[];
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Settles once the process is gone and reaped; never rejects. */
  readonly done: Promise<CommandOutcome>;
  /** Kills it now (SIGKILL to its group); `done` still settles after the reaping. */
  kill(): void;
}

export interface StartOptions extends CommandOptions {
  /** Kill the child this long after the start (SIGKILL, then reap it). */
  readonly timeoutMs: number;
  /** Called when the deadline kills the child (e.g. cancel a reader of its output). */
  readonly onTimeout?: () => void;
}

/** Starts a command under a deadline. Never throws. */
export function startCommand(factory: CommandFactory, command: string, args: readonly string[], options: StartOptions): RunningCommand {
  const { timeoutMs, onTimeout, ...spawnOptions } = options;
  const fallbackArgv = Object.freeze([command, ...args]);
  let child: SpawnedCommand;
  try {
    child = factory(command, args, { ...spawnOptions, stderrLimitBytes: STDERR_LIMIT_BYTES });
  } catch (error) {
    child = notStarted(fallbackArgv, error);
  }
  const argv = child.argv ?? fallbackArgv;
  const stderr = child.stderrText ?? collectTrimmed(child.stderr, STDERR_LIMIT_BYTES);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
    onTimeout?.();
  }, timeoutMs);
  const done = child.exited.then(
    async (exit): Promise<CommandOutcome> => ({ ...exit, argv, timedOut, spawnError: undefined, stderr: await stderr }),
    async (error: unknown): Promise<CommandOutcome> => ({
      code: null,
      signal: null,
      argv,
      timedOut,
      spawnError: (error instanceof Error ? error : new Error(String(error))) as NodeJS.ErrnoException,
      stderr: await stderr,
    }),
  );
  void done.finally(() => clearTimeout(timer));
  return {
    argv,
    stdin: child.stdin,
    // Read only when asked: a child whose output went to stdoutFd makes no stream for it.
    get stdout(): Readable {
      return child.stdout;
    },
    done,
    kill: () => child.kill('SIGKILL'),
  };
}

export interface CommandResult extends CommandOutcome {
  readonly stdout: string;
}

/** Runs a command to completion with the given stdin under a deadline; never rejects. */
export async function runCommand(
  factory: CommandFactory,
  command: string,
  args: readonly string[],
  input: string | Buffer = '',
  timeoutMs = 120_000,
): Promise<CommandResult> {
  const noInput = input.length === 0;
  const child = startCommand(factory, command, args, { timeoutMs, ...(noInput ? { noInput } : {}) });
  const out = collect(child.stdout);
  child.stdin.on('error', () => undefined);
  if (!child.stdin.destroyed && !child.stdin.writableEnded) child.stdin.end(input);
  const outcome = await child.done;
  return { ...outcome, stdout: await out };
}

/** Whether a command ran and exited 0. */
export const succeeded = (o: CommandOutcome): boolean => o.code === 0 && !o.timedOut && o.spawnError === undefined;

/** "exited with 2", "killed by SIGKILL", "timed out after 1000 ms", "could not start: …". */
export function describeOutcome(o: CommandOutcome, timeoutMs: number): string {
  if (o.spawnError) return `could not start: ${o.spawnError.message}`;
  if (o.timedOut) return `timed out after ${timeoutMs} ms (killed)`;
  if (o.signal) return `killed by ${o.signal}`;
  return `exited with ${o.code}`;
}

/** Writes to a child's stdin and waits while the pipe is full. Returns at once when the child
 *  died or closed its input (a write to a destroyed stream returns false and 'drain'/'close'
 *  never come again: waiting for them would hang forever); its outcome says why. */
export async function writeToChild(stdin: Writable, text: string): Promise<void> {
  if (stdin.destroyed || stdin.writableEnded) return;
  if (stdin.write(text) || stdin.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
}

/** Collects a stream as UTF-8 text (for small outputs: --version, a probe's stdout). */
export function collect(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => resolve(Buffer.concat(chunks).toString('utf8'));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', done);
    stream.on('end', done);
    stream.on('close', done);
  });
}

/** Collects a stream keeping only its first and last `limit / 2` bytes, with a note of how much
 *  was cut between them: a child that floods stderr costs a few KB, not its output. */
export function collectTrimmed(stream: Readable, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const half = Math.floor(limit / 2);
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let total = 0;
    const done = (): void => {
      if (total <= limit) return resolve(Buffer.concat([head, tail]).toString('utf8'));
      resolve(`${head.toString('utf8')}\n… [${total - head.length - tail.length} bytes of stderr cut] …\n${tail.toString('utf8')}`);
    };
    let trimming = false;
    stream.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (!trimming) {
        // Until the limit is reached everything is kept, so a short stderr is whole.
        head = Buffer.concat([head, chunk]);
        if (head.length <= limit) return;
        trimming = true;
        tail = head.subarray(half);
        head = Buffer.from(head.subarray(0, half));
      } else {
        tail = Buffer.concat([tail, chunk]);
      }
      // Copied, so the big chunk the tail was cut from can be freed.
      if (tail.length > limit - half) tail = Buffer.from(tail.subarray(tail.length - (limit - half)));
    });
    stream.on('error', done);
    stream.on('end', done);
    stream.on('close', done);
  });
}
