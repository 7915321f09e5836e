// Spawning external commands. The Table only ever talks to a CommandFactory, so tests can
// substitute a fake one for retries and timing, and `netns` is just a wrapping factory.
import { spawn } from 'node:child_process';
import { Readable, type Writable } from 'node:stream';

export interface CommandExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What the Table needs of a started process. */
export interface SpawnedCommand {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves when the process has exited and its output streams closed; rejects if it could
   *  not be started (e.g. ENOENT). */
  readonly exited: Promise<CommandExit>;
  kill(signal?: NodeJS.Signals): void;
}

export interface CommandOptions {
  /** Give the child this fd as its stdout instead of a pipe to us (the native reader reads the
   *  other end itself). Only honoured by factories with `acceptsStdoutFd`. */
  readonly stdoutFd?: number;
}

export interface CommandFactory {
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand;
  /** Whether `options.stdoutFd` is honoured; wrappers that do not pass options on must not
   *  claim it (the Table then reads the dump through the stdout stream). */
  readonly acceptsStdoutFd?: boolean;
}

/** Spawns real processes with piped stdio. */
export const spawnCommand: CommandFactory = Object.assign(
  (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => spawnReal(command, args, options),
  { acceptsStdoutFd: true },
);

function spawnReal(command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand {
  const stdoutFd = options?.stdoutFd;
  const child = spawn(command, args, { stdio: ['pipe', stdoutFd ?? 'pipe', 'pipe'] });
  // stdin and stderr are always pipes here; only stdout may be an inherited fd.
  const stdin = child.stdin as Writable;
  const stderr = child.stderr as Readable;
  const exited = new Promise<CommandExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // A child that dies early must not crash us with EPIPE on its stdin.
  stdin.on('error', () => undefined);
  return {
    stdin,
    // With stdoutFd the output goes elsewhere: an empty stream keeps the shape.
    stdout: child.stdout ?? Readable.from([]),
    stderr,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal ?? 'SIGKILL');
    },
  };
}

/** Runs every command inside the named network namespace (`ip netns exec`). */
export function inNetns(netns: string, inner: CommandFactory = spawnCommand): CommandFactory {
  return Object.assign(
    (command: string, args: readonly string[], options?: CommandOptions) => inner('ip', ['netns', 'exec', netns, command, ...args], options),
    { acceptsStdoutFd: inner.acceptsStdoutFd === true },
  );
}

export interface CommandResult extends CommandExit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion with the given stdin, killing it after timeoutMs. */
export async function runCommand(
  factory: CommandFactory,
  command: string,
  args: readonly string[],
  input: string | Buffer = '',
  timeoutMs = 120_000,
): Promise<CommandResult> {
  const child = factory(command, args);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const exit = await child.exited;
    return { ...exit, stdout: await out, stderr: await err };
  } finally {
    clearTimeout(timer);
  }
}

/** Collects a stream as UTF-8 text (for small outputs: stderr, --version). */
export function collect(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
