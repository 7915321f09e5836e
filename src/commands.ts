// Spawning external commands. The Table only ever talks to a CommandFactory, so tests can
// substitute a fake one for retries and timing, and `netns` is just a wrapping factory.
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

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

export type CommandFactory = (command: string, args: readonly string[]) => SpawnedCommand;

/** Spawns real processes with piped stdio. */
export const spawnCommand: CommandFactory = (command, args) => {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<CommandExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // A child that dies early must not crash us with EPIPE on its stdin.
  child.stdin.on('error', () => undefined);
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal ?? 'SIGKILL');
    },
  };
};

/** Runs every command inside the named network namespace (`ip netns exec`). */
export function inNetns(netns: string, inner: CommandFactory = spawnCommand): CommandFactory {
  return (command, args) => inner('ip', ['netns', 'exec', netns, command, ...args]);
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
