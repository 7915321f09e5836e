// The addon's command factory (posix_spawn on a thread of its own, reaped there) against the
// CommandFactory contract, and against Node's spawn: exit codes and signals, large stdio both
// ways, stdoutFd, spawn failures as a rejected `exited`, EMFILE, the deadline's group kill, no
// fd leaked into other children, no zombie, no handle keeping a process alive, libuv's SIGCHLD
// handling leaving our children alone, and the same outcome as Node's spawn for the same
// commands.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  collect,
  collectTrimmed,
  nativeSpawnCommand,
  nodeSpawnCommand,
  spawnCommand,
  spawnImplementation,
  startCommand,
  writeToChild,
  type CommandExit,
  type CommandFactory,
  type CommandOptions,
} from '../src/commands';
import * as packageRoot from '../src/index';
import { nativeInfo } from '../src/native';
import { runCommandLine, ROOT } from './helpers/run-cli';

setFlagsFromString('--expose-gc');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TAG = `nsp${process.pid}x${randomBytes(3).toString('hex')}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipts-nsp-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes an executable (or not) file in the scratch directory. */
function script(name: string, text: string, mode = 0o755, sub = ''): string {
  const d = join(dir, sub);
  mkdirSync(d, { recursive: true });
  const path = join(d, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

interface Ran {
  readonly exit?: CommandExit;
  readonly error?: string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command to its end through `factory`, stdin written and closed. */
async function ran(factory: CommandFactory, command: string, args: readonly string[], input = '', options?: CommandOptions): Promise<Ran> {
  const child = factory(command, args, options);
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  child.stdin.on('error', () => undefined);
  if (!child.stdin.destroyed) child.stdin.end(input);
  try {
    const exit = await child.exited;
    return { exit, stdout: await out, stderr: await err };
  } catch (error) {
    return { error: (error as NodeJS.ErrnoException).code ?? String(error), stdout: await out, stderr: await err };
  }
}

/** Whether /proc still has this pid (a zombie counts: it is not reaped). */
const inProc = (pid: number): boolean => existsSync(`/proc/${pid}`);
/** The state letter of /proc/<pid>/stat, or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

describe('the default factory', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.resetModules();
  });

  it('is the native one when the addon loaded; IPTABLES_SYNC_SPAWN=node and IPTABLES_SYNC_NO_NATIVE=1 give Node\'s spawn', async () => {
    // The suite may run under IPTABLES_SYNC_SPAWN=node on purpose (the fallback's own run).
    expect(spawnImplementation()).toBe(saved.IPTABLES_SYNC_SPAWN === 'node' ? 'node' : 'native');
    delete process.env.IPTABLES_SYNC_SPAWN;
    expect(spawnImplementation()).toBe('native');
    process.env.IPTABLES_SYNC_SPAWN = 'node';
    expect(spawnImplementation()).toBe('node');
    delete process.env.IPTABLES_SYNC_SPAWN;
    vi.resetModules();
    process.env.IPTABLES_SYNC_NO_NATIVE = '1';
    const fresh = await import('../src/commands');
    expect(fresh.spawnImplementation()).toBe('node');
    expect((await ran(fresh.spawnCommand, 'sh', ['-c', 'exit 6'])).exit).toEqual({ code: 6, signal: null });
  });

  it('the package root tells which one runs', () => {
    expect(packageRoot.spawnImplementation).toBe(spawnImplementation);
  });

  it('the native factory takes stdoutFd, as Node\'s does', () => {
    expect(nativeSpawnCommand.acceptsStdoutFd).toBe(true);
    expect(spawnCommand.acceptsStdoutFd).toBe(true);
  });
});

describe('native spawn: the contract', () => {
  it('exit codes and signals', async () => {
    expect((await ran(nativeSpawnCommand, 'true', [])).exit).toEqual({ code: 0, signal: null });
    expect((await ran(nativeSpawnCommand, 'sh', ['-c', 'exit 3'])).exit).toEqual({ code: 3, signal: null });
    expect((await ran(nativeSpawnCommand, 'sh', ['-c', 'kill -TERM $$'])).exit).toEqual({ code: null, signal: 'SIGTERM' });
    const child = nativeSpawnCommand('sleep', ['30']);
    child.kill('SIGINT');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGINT' });
  });

  it('exited resolves when the caller never reads stdout or stderr (drained at exit, as Node does)', async () => {
    for (const factory of [nodeSpawnCommand, nativeSpawnCommand]) {
      // Small output: it fits in the pipe, so the child can exit while nobody reads.
      const child = factory('sh', ['-c', 'echo out; echo err >&2; exit 2']);
      child.stdin.end();
      const timeout = sleep(5000).then(() => 'still waiting');
      expect(await Promise.race([child.exited, timeout])).toEqual({ code: 2, signal: null });
    }
  });

  it('kill() right after the call, before the thread has spawned the child, still kills it', async () => {
    const started = Date.now();
    const child = nativeSpawnCommand('sleep', ['30']);
    child.kill();
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('4 MB through stdin and back on stdout, written with backpressure; 3 MB of stderr', async () => {
    const input = randomBytes(4 << 20).toString('base64');
    const child = nativeSpawnCommand('cat', []);
    const out = collect(child.stdout);
    let waits = 0;
    for (let i = 0; i < input.length; i += 64 * 1024) {
      if (!child.stdin.write(input.slice(i, i + 64 * 1024))) {
        waits++;
        await writeToChild(child.stdin, '');
      }
    }
    child.stdin.end();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    const got = await out;
    expect(got.length).toBe(input.length);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(input).digest('hex'));
    expect(waits).toBeGreaterThan(0); // the pipe filled: the writes did wait

    const r = await ran(nativeSpawnCommand, 'sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" x >&2; echo done']);
    expect(r.exit).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toBe('x'.repeat(3_000_000));
  });

  it('strings go to the child as UTF-8: ASCII, two-, three- and four-byte characters, lone surrogates as U+FFFD, the empty string', async () => {
    const text = `ascii é ß € ✓ 𝄞 😀 ${'x'.repeat(5000)}\n`;
    const chunks = [text, '', 'a\uD800b', '\uDC00', text.repeat(40)];
    const child = nativeSpawnCommand('cat', []);
    const out = collect(child.stdout);
    for (const c of chunks) child.stdin.write(c);
    child.stdin.end();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(Buffer.compare(Buffer.from(await out, 'utf8'), Buffer.from(chunks.join(''), 'utf8'))).toBe(0);
  });

  it('stdoutFd: the child writes to that fd (dup2ed onto fd 1), even when the caller closes its copy at once', async () => {
    const path = join(dir, 'stdout-fd.txt');
    const fd = openSync(path, 'w');
    const child = nativeSpawnCommand('sh', ['-c', 'echo to-the-file; echo to-stderr >&2'], { stdoutFd: fd });
    closeSync(fd); // as the save reader closes its write end right after the call
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    child.stdin.end();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(await stdout).toBe('');
    expect(await stderr).toBe('to-stderr\n');
    expect(readFileSync(path, 'utf8')).toBe('to-the-file\n');
  });

  it('noInput: the child reads end of input at once (nothing written, nothing ended by the caller), and stdin is an ended stream, with both factories', async () => {
    for (const factory of [nativeSpawnCommand, nodeSpawnCommand]) {
      const child = factory('sh', ['-c', 'cat; echo eof-seen'], { noInput: true });
      const stdout = collect(child.stdout);
      expect(child.stdin.writableEnded).toBe(true);
      child.stdin.on('error', () => undefined); // what callers do; harmless on the ended stream
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(await stdout).toBe('eof-seen\n');
    }
  });

  it('noInput with stdoutFd through startCommand: the outcome and stderr as without them', async () => {
    const path = join(dir, 'no-input-fd.txt');
    const fd = openSync(path, 'w');
    const child = startCommand(nativeSpawnCommand, 'sh', ['-c', 'cat; echo out; echo err >&2; exit 4'], { noInput: true, stdoutFd: fd, timeoutMs: 10_000 });
    closeSync(fd);
    const outcome = await child.done;
    expect(outcome.code).toBe(4);
    expect(outcome.stderr).toBe('err\n');
    expect(readFileSync(path, 'utf8')).toBe('out\n');
  });

  it("stdin is written by the addon's thread: a child that exits without reading fails it with EPIPE (no hang, no throw), and exited resolves", async () => {
    const child = nativeSpawnCommand('sh', ['-c', 'exit 0']);
    const errors: string[] = [];
    child.stdin.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? ''));
    const chunk = 'x'.repeat(1 << 16);
    for (let i = 0; i < 64 && !child.stdin.destroyed; i++) await writeToChild(child.stdin, chunk); // 4 MiB: more than pipe and queue hold
    expect(await child.exited).toEqual({ code: 0, signal: null });
    await sleep(10);
    expect(child.stdin.destroyed).toBe(true);
    expect(errors).toEqual(['EPIPE']);
  });

  it("'finish' on stdin comes once the thread wrote everything and closed the pipe", async () => {
    const child = nativeSpawnCommand('sh', ['-c', 'wc -c']);
    const out = collect(child.stdout);
    const finished = new Promise<number>((resolve) => child.stdin.once('finish', () => resolve(Date.now())));
    child.stdin.end('y'.repeat(3 << 20));
    await finished;
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect((await out).trim()).toBe(String(3 << 20));
  });

  it('stderrLimitBytes: the thread keeps what collectTrimmed keeps of a stream (whole up to the limit, else its start, a note and its end), as stderrText and as the stderr stream', async () => {
    for (const bytes of [0, 100, 4096, 4097, 100_000]) {
      // Distinct text at every offset, so a misplaced head or tail shows.
      const script = `i=0; while [ $i -lt ${Math.ceil(bytes / 8)} ]; do printf '%07d\\n' $i; i=$((i+1)); done | head -c ${bytes} >&2`;
      const viaNode = nodeSpawnCommand('sh', ['-c', script]);
      viaNode.stdin.end();
      const expected = await collectTrimmed(viaNode.stderr, 4096);
      expect(expected.length).toBe(bytes > 4096 ? expected.length : bytes);
      const native = nativeSpawnCommand('sh', ['-c', script], { stderrLimitBytes: 4096 });
      native.stdin.end();
      const stream = collect(native.stderr);
      expect(await native.exited).toEqual({ code: 0, signal: null });
      expect(await native.stderrText).toBe(expected);
      expect(await stream).toBe(expected);
      if (bytes > 4096) expect(expected).toContain(`bytes of stderr cut`);
    }
  });

  it('startCommand hands the factory a stderr limit: the outcome has the trimmed stderr of a child that floods it', async () => {
    const outcome = await startCommand(nativeSpawnCommand, 'sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" e >&2; echo end >&2; exit 2'], { noInput: true, timeoutMs: 10_000 }).done;
    expect(outcome.code).toBe(2);
    expect(outcome.stderr.startsWith('e'.repeat(2048))).toBe(true);
    expect(outcome.stderr.endsWith('eeend\n')).toBe(true);
    expect(outcome.stderr).toContain(`[${3_000_004 - 4096} bytes of stderr cut]`);
  });

  it("the child's stdin pipe holds 1 MiB (Linux's default is 64 KiB): the child keeps parsing while our loop renders the next slice", async () => {
    // F_GETPIPE_SZ (1032) on the child's fd 0.
    const r = await ran(nativeSpawnCommand, 'python3', ['-c', 'import fcntl, sys; print(fcntl.fcntl(0, 1032))']);
    expect(r.stdout.trim()).toBe(String(1 << 20));
  });

  it('options.env is added to the environment', async () => {
    const r = await ran(nativeSpawnCommand, 'sh', ['-c', 'echo "$NSP_ONE/$HOME"'], '', { env: { NSP_ONE: 'one' } });
    expect(r.stdout).toBe(`one/${process.env.HOME ?? ''}\n`);
  });

  it('ENOENT and EACCES reject exited (errno errors); nothing is thrown, no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const missing = nativeSpawnCommand(`no-such-binary-${TAG}`, ['x']);
      missing.stdin.end('ignored'); // writes to a child that never started do not throw
      const error = (await missing.exited.then(() => undefined, (e: unknown) => e)) as NodeJS.ErrnoException;
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe('ENOENT');
      expect(error.syscall).toBe(`spawn no-such-binary-${TAG}`);
      expect(error.message).toContain('ENOENT');
      const notExec = script('not-executable', '#!/bin/sh\necho no\n', 0o644);
      expect((await ran(nativeSpawnCommand, notExec, [])).error).toBe('EACCES');
      expect((await ran(nativeSpawnCommand, dir, [])).error).toBe('EACCES');
      // Never awaited: must not surface as an unhandled rejection.
      nativeSpawnCommand(`no-such-binary-${TAG}`, []);
      await sleep(200);
      const outcome = await startCommand(nativeSpawnCommand, `no-such-binary-${TAG}`, [], { timeoutMs: 5000 }).done;
      expect(outcome.spawnError?.code).toBe('ENOENT');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('PATH is looked up as Node does: in options.env when it sets PATH, else in ours', async () => {
    const only = script(`nsp-only-here-${TAG}`, '#!/bin/sh\necho found-it\n', 0o755, 'pathdir');
    const pathDir = join(dir, 'pathdir');
    expect((await ran(nativeSpawnCommand, `nsp-only-here-${TAG}`, [])).error).toBe('ENOENT');
    expect((await ran(nativeSpawnCommand, `nsp-only-here-${TAG}`, [], '', { env: { PATH: `/nonexistent:${pathDir}` } })).stdout).toBe('found-it\n');
    expect((await ran(nativeSpawnCommand, 'true', [], '', { env: { PATH: '/nonexistent' } })).error).toBe('ENOENT');
    expect(only).toContain(pathDir);
  });

  it('the deadline kills the whole group: a wrapper and the grandchild it started; no zombie of ours', async () => {
    const child = startCommand(nativeSpawnCommand, 'sh', ['-c', 'sleep 60 & echo $$ $!; wait'], { timeoutMs: 400 });
    let firstLine = '';
    child.stdout.on('data', (b: Buffer) => (firstLine += b.toString('utf8')));
    child.stdin.end();
    const outcome = await child.done;
    expect(outcome).toMatchObject({ timedOut: true, signal: 'SIGKILL', code: null, spawnError: undefined });
    const [wrapper, grandchild] = firstLine.trim().split(' ').map(Number) as [number, number];
    expect(grandchild).toBeGreaterThan(0);
    expect(inProc(wrapper)).toBe(false); // reaped by us before `done`
    for (let i = 0; i < 100 && procState(grandchild) !== undefined && procState(grandchild) !== 'Z'; i++) await sleep(20);
    expect([undefined, 'Z']).toContain(procState(grandchild)); // killed (init reaps orphans)
  });

  it('no zombie: the child is reaped before exited resolves', async () => {
    const r = await ran(nativeSpawnCommand, 'sh', ['-c', 'echo $$']);
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(inProc(pid)).toBe(false);
  });

  it('no fd of ours leaks into a child started meanwhile (native or Node)', async () => {
    const ourPipes = (): Set<string> => {
      const set = new Set<string>();
      for (const fd of readdirSync('/proc/self/fd')) {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          if (target.startsWith('pipe:')) set.add(target);
        } catch {
          // closed meanwhile
        }
      }
      return set;
    };
    const before = ourPipes();
    const holders = [nativeSpawnCommand('sleep', ['5']), nativeSpawnCommand('sleep', ['5'])];
    const file = openSync(join(dir, 'held.txt'), 'w');
    const withFd = nativeSpawnCommand('sleep', ['5'], { stdoutFd: file });
    closeSync(file);
    await sleep(100);
    const theirs = [...ourPipes()].filter((p) => !before.has(p));
    expect(theirs.length).toBeGreaterThanOrEqual(6); // the holders' stdin/stdout/stderr, ours to see
    const listing = "for f in /proc/$$/fd/*; do readlink \"$f\"; done";
    for (const factory of [nativeSpawnCommand, nodeSpawnCommand]) {
      const r = await ran(factory, 'sh', ['-c', listing]);
      const seen = r.stdout.trim().split('\n');
      for (const pipe of theirs) expect(seen).not.toContain(pipe);
      expect(seen.filter((t) => t.endsWith('held.txt'))).toEqual([]);
    }
    for (const h of [...holders, withFd]) h.kill();
    await Promise.all([...holders, withFd].map((h) => h.exited));
    await sleep(50);
    // Every fd the factory made is closed again once the children are gone.
    expect([...ourPipes()].filter((p) => !before.has(p))).toEqual([]);
  });

  it('1000 spawns, 8 at a time, leave the fds and the threads as they were, and the RSS after GC within a bound', async () => {
    const gc = runInNewContext('gc') as () => void;
    const one = async (): Promise<void> => {
      const child = nativeSpawnCommand('true', []);
      child.stdout.resume();
      child.stderr.resume();
      child.stdin.end();
      await child.exited;
    };
    const batch = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, one));
    };
    const fds = (): string[] => readdirSync('/proc/self/fd').sort();
    const threads = (): number => readdirSync('/proc/self/task').length;
    const settled = async (): Promise<number> => {
      await sleep(50);
      gc();
      return process.memoryUsage().rss;
    };
    await batch(80); // warm-up: sockets, allocator arenas of the spawn threads
    const rss0 = await settled();
    const fds0 = fds();
    const threads0 = threads();
    await batch(1000);
    // Each spawn thread ends just after its exit event: give the last ones a moment.
    for (let i = 0; i < 100 && threads() > threads0; i++) await sleep(10);
    expect(threads()).toBe(threads0);
    expect(fds()).toEqual(fds0);
    // The bound of the addon's other leak checks: glibc's per-thread arenas step RSS up early.
    expect(((await settled()) - rss0) / 2 ** 20).toBeLessThan(40);
  });

  it("libuv's SIGCHLD handling does not reap our children, nor we Node's: both report their own exit codes", async () => {
    const runs: Promise<[number, CommandExit | undefined]>[] = [];
    for (let i = 0; i < 20; i++) {
      runs.push(ran(nativeSpawnCommand, 'sh', ['-c', `sleep 0.0${i % 10}; exit ${i + 1}`]).then((r) => [i + 1, r.exit]));
      runs.push(ran(nodeSpawnCommand, 'sh', ['-c', `sleep 0.0${(i + 5) % 10}; exit ${i + 101}`]).then((r) => [i + 101, r.exit]));
    }
    for (const [code, exit] of await Promise.all(runs)) expect(exit).toEqual({ code, signal: null });
  });
});

describe('native and Node spawn: the same outcome for the same commands', () => {
  const cases: readonly { readonly name: string; readonly command: () => [string, string[]]; readonly input?: string; readonly env?: () => Record<string, string> }[] = [
    { name: 'true', command: () => ['true', []] },
    { name: 'false', command: () => ['false', []] },
    { name: 'output and exit 4', command: () => ['sh', ['-c', 'echo out; echo err >&2; exit 4']] },
    { name: 'stdin echoed', command: () => ['cat', []], input: 'line one\nline two\n' },
    { name: 'killed by a signal', command: () => ['sh', ['-c', 'kill -USR1 $$']] },
    { name: 'missing binary', command: () => [`no-such-binary-${TAG}`, []] },
    { name: 'not executable', command: () => [script('plain-file', 'echo hi\n', 0o644), []] },
    { name: 'a directory', command: () => [dir, []] },
    { name: 'a script without #!', command: () => [script('no-shebang', 'echo via-sh "$@"\n'), ['a', 'b']] },
    { name: 'env added', command: () => ['sh', ['-c', 'echo "$NSP_A $NSP_B"']], env: () => ({ NSP_A: 'a', NSP_B: 'b c' }) },
    { name: 'PATH from options.env', command: () => [`nsp-path-${TAG}`, []], env: () => ({ PATH: join(dir, 'p2') }) },
    { name: 'PATH from options.env, not found', command: () => ['true', []], env: () => ({ PATH: '/nonexistent' }) },
    { name: 'argv[0] as given', command: () => ['sh', ['-c', 'echo "$0"']] },
    // glibc's posix_spawn leaves its two internal signals (32, 33: bits 0x180000000 of SigIgn)
    // ignored in the child; they are not real-time signals programs use, and sigfillset cannot
    // name them to reset. Every other signal must be as Node leaves it: default, unblocked.
    {
      name: 'signals: none blocked, none ignored (but glibc\'s internal 32 and 33)',
      command: () => ['sh', ['-c', 'grep "^SigBlk" /proc/self/status; printf "%x\\n" $(( 0x$(sed -n "s/^SigIgn:\\t//p" /proc/self/status) & ~0x180000000 ))']],
    },
    { name: 'its own session and process group', command: () => ['sh', ['-c', 'set -- $(sed "s/.*) //" /proc/$$/stat); [ "$3" = "$$" ] && [ "$4" = "$$" ] && echo leader']] },
    { name: 'only fds 0-2 open', command: () => ['sh', ['-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "']] },
    { name: 'ip is found', command: () => ['ip', ['-V']] },
  ];

  beforeAll(() => {
    script(`nsp-path-${TAG}`, '#!/bin/sh\necho from-p2\n', 0o755, 'p2');
  });

  it.each(cases)('$name', async ({ command, input, env }) => {
    const [cmd, args] = command();
    const options = env ? { env: env() } : undefined;
    const native = await ran(nativeSpawnCommand, cmd, args, input, options);
    const node = await ran(nodeSpawnCommand, cmd, args, input, options);
    expect(native).toEqual(node);
  });
});

describe('a process of its own', () => {
  // The library, compiled for node to run: commands.ts and what it imports.
  let lib: string;
  beforeAll(() => {
    lib = join(ROOT, 'build', `nsp-lib-${TAG}`);
    execFileSync(
      'npx',
      ['tsc', '--outDir', lib, '--rootDir', join(ROOT, 'src'), '--module', 'commonjs', '--target', 'ES2022', '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', join(ROOT, 'src', 'commands.ts')],
      { cwd: ROOT, stdio: 'inherit' },
    );
  }, 120_000);
  afterAll(() => rmSync(lib, { recursive: true, force: true }));

  const node = (body: string, shell = ''): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runCommandLine('bash', ['-c', `${shell}exec "${process.execPath}" -e "$NSP_SCRIPT"`], {
      env: { NSP_SCRIPT: `const c = require(${JSON.stringify(join(lib, 'commands.js'))});\n${body}` },
      timeoutMs: 20_000,
    });

  it('exits by itself after native spawns (no ref\'d handle left), and waits for a child still running', async () => {
    const r = await node(`
      const t0 = Date.now();
      (async () => {
        for (let i = 0; i < 5; i++) await c.runCommand(c.nativeSpawnCommand, 'sh', ['-c', 'echo ' + i]);
        c.nativeSpawnCommand('sleep', ['0.5']); // not awaited: the process still waits for it
        process.on('exit', () => console.log('exit after', Date.now() - t0 >= 500 ? 'the child' : 'too early'));
      })();
    `);
    expect(r).toMatchObject({ code: 0, stdout: 'exit after the child\n' });
  });

  it('EMFILE (ulimit -n 64, fds used up but two): exited rejects with EMFILE, no fd is left behind, and the next spawn works', async () => {
    const r = await node(
      `
      const fs = require('fs');
      const filler = [];
      for (;;) { try { filler.push(fs.openSync('/dev/null', 'r')); } catch { break; } }
      fs.closeSync(filler.pop()); fs.closeSync(filler.pop());
      const count = () => fs.readdirSync('/proc/self/fd').length;
      (async () => {
        const codes = [];
        let before, after;
        // Native first and counted alone: Node's spawn keeps an fd of libuv's open after EMFILE.
        for (const f of [c.nativeSpawnCommand, c.nodeSpawnCommand]) {
          before ??= count();
          const o = await c.startCommand(f, 'true', [], { timeoutMs: 5000 }).done;
          after ??= count();
          codes.push(o.spawnError ? o.spawnError.code : 'started');
        }
        for (const fd of filler) fs.closeSync(fd);
        const again = await c.runCommand(c.nativeSpawnCommand, 'sh', ['-c', 'echo again']);
        console.log(JSON.stringify({ codes, leaked: after - before, again: again.stdout }));
      })();
    `,
      'ulimit -n 64; ',
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ codes: ['EMFILE', 'EMFILE'], leaked: 0, again: 'again\n' });
  });
});

describe('in worker threads', () => {
  // The addon's Child used directly in a worker: its events reach the worker's loop, and a worker
  // torn down while its child runs (the thread still waiting for it) leaves this process working.
  const WORKER = `
    const { parentPort, workerData } = require('node:worker_threads');
    const addon = require(workerData.path);
    const c = new addon.Child('sh', ['sh', '-c', workerData.script], null, -1, (kind, a, b) => parentPort.postMessage({ kind, a, b }));
    parentPort.postMessage({ started: c.errno === 0 });
  `;
  const inWorker = (script: string, until: (m: { kind?: number; started?: boolean }) => boolean): Promise<{ kind?: number; a?: number; started?: boolean }[]> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { path: nativeInfo().path, script } });
      const seen: { kind?: number; a?: number; started?: boolean }[] = [];
      worker.on('message', (m: { kind?: number; a?: number; started?: boolean }) => {
        seen.push(m);
        if (until(m)) void worker.terminate().then(() => resolve(seen));
      });
      worker.once('error', reject);
    });

  it('reports the exit to the worker, and survives a worker torn down while its child runs', async () => {
    const [done, torn] = await Promise.all([
      inWorker('exit 9', (m) => m.kind === 2),
      inWorker('sleep 0.5; exit 3', (m) => m.started === true), // terminated at once
    ]);
    expect(done).toEqual([{ started: true }, { kind: 2, a: 9, b: 0 }]);
    expect(torn).toEqual([{ started: true }]);
    await sleep(800); // the torn-down worker's child exits now; its thread must not call into the gone environment
    expect((await ran(nativeSpawnCommand, 'sh', ['-c', 'exit 5'])).exit).toEqual({ code: 5, signal: null });
  });

  it("a worker torn down while its child waits for input the addon's thread writes: the child's stdin closes, so it is not left waiting", async () => {
    const marker = join(dir, `input-closed-${process.pid}`);
    const script = `cat > /dev/null; touch ${marker}`;
    const seen = await new Promise<unknown[]>((resolve, reject) => {
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const addon = require(workerData.path);
        const c = new addon.Child('sh', ['sh', '-c', workerData.script], null, -1, () => undefined, 1, 0);
        c.write('some input, never ended');
        parentPort.postMessage({ started: c.errno === 0, stdin: c.stdin });
      `;
      const worker = new Worker(code, { eval: true, workerData: { path: nativeInfo().path, script } });
      worker.once('message', (m: unknown) => void worker.terminate().then(() => resolve([m])));
      worker.once('error', reject);
    });
    expect(seen).toEqual([{ started: true, stdin: -1 }]);
    for (let i = 0; i < 50 && !existsSync(marker); i++) await sleep(20);
    expect(existsSync(marker)).toBe(true);
  });
});
