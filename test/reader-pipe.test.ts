// openSavePipe: the addon reads the child's stdout pipe itself. Same results as the stream
// reader, on real dumps from both backends and on generated output; truncation, cancel, fds.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeInfo } from '../src/native';
import { ReadCancelledError, TruncatedDumpError, openSavePipe, readSaveOutput, type ReadResult, type ReaderConfig } from '../src/reader';
import { BACKENDS, useNamespace } from './helpers/netns';

const CONFIG: ReaderConfig = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'], extraCleanupPattern: 'LOG' };
const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** Spawns a command with the pipe as stdout and reads it. */
async function viaPipe(cmd: string, args: readonly string[], config: ReaderConfig = CONFIG): Promise<ReadResult> {
  const pipe = openSavePipe(config);
  if (!pipe) throw new Error('addon not loaded');
  try {
    spawn(cmd, args, { stdio: ['ignore', pipe.fd, 'inherit'] });
  } finally {
    pipe.closeWriteEnd();
  }
  return pipe.result;
}

function viaStream(cmd: string, args: readonly string[], config: ReaderConfig = CONFIG): Promise<ReadResult> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return readSaveOutput(child.stdout, config, { implementation: 'js' });
}

const plain = (r: ReadResult) => ({ bytes: r.bytesRead, chains: [...r.snapshot].map(([n, c]) => [n, c.ids, [...c.savedRules]]) });

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

describe('generated output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipts-pipe-'));
  const file = join(dir, 'dump.txt');
  beforeAll(() => {
    const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':cali-x - [0:0]', '-A INPUT -m comment --comment "cali:ins0000000000000" -j cali-x', '-A INPUT -j LOG --log-prefix x'];
    for (let i = 0; i < 20_000; i++) lines.push(`-A cali-x -m comment --comment "cali:${String(i).padStart(16, '0')}" -s 10.0.${i & 255}.0/24 -j ACCEPT ${'p'.repeat(i % 300)}`);
    lines.push('COMMIT', '');
    writeFileSync(file, lines.join('\n'));
  });

  it('reads the same as the stream reader', async () => {
    const pipe = await viaPipe('cat', [file]);
    expect(pipe.implementation).toBe('native');
    expect(pipe.snapshot.get('cali-x')?.ids.length).toBe(20_000);
    expect(pipe.snapshot.get('INPUT')?.ids).toEqual(['ins0000000000000', 'OLD INSERT RULE']);
    expect(plain(pipe)).toEqual(plain(await viaStream('cat', [file])));
  });

  it('rejects output cut mid-stream', async () => {
    await expect(viaPipe('head', ['-c', '100000', file])).rejects.toThrow(TruncatedDumpError);
    await expect(viaPipe('true', [])).resolves.toMatchObject({ bytesRead: 0 });
  });

  it('cancel() ends the read of a child that never finishes', async () => {
    const pipe = openSavePipe(CONFIG);
    if (!pipe) throw new Error('addon not loaded');
    const child = spawn('sleep', ['30'], { stdio: ['ignore', pipe.fd, 'ignore'] });
    pipe.closeWriteEnd();
    const started = performance.now();
    setTimeout(() => pipe.cancel(), 50);
    await expect(pipe.result).rejects.toThrow(ReadCancelledError);
    expect(performance.now() - started).toBeLessThan(5000);
    child.kill('SIGKILL');
  });

  it('leaks no fds, and no other child inherits the pipe', async () => {
    const before = fdCount();
    const pipe = openSavePipe(CONFIG);
    if (!pipe) throw new Error('addon not loaded');
    const ourPipe = readlinkSync(`/proc/self/fd/${pipe.fd}`);
    expect(ourPipe).toMatch(/^pipe:/);
    // A child spawned meanwhile, with ordinary stdio, must not hold a copy of the write end.
    const other = spawn('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let listing = '';
    for await (const chunk of other.stdout) listing += String(chunk);
    expect(listing.split('\n')).not.toContain(ourPipe);
    spawn('cat', [file], { stdio: ['ignore', pipe.fd, 'ignore'] });
    pipe.closeWriteEnd();
    await pipe.result;
    for (let i = 0; i < 5; i++) await viaPipe('cat', [file]);
    await viaPipe('head', ['-c', '1000', file]).catch(() => undefined);
    expect(fdCount()).toBe(before);
  });
});

describe.each(BACKENDS)('real %s iptables-save', (backend) => {
  const ns = useNamespace(`pipe${backend}`);
  beforeAll(async () => {
    const lines = ['*filter', ':cali-a - [0:0]', '-A INPUT -m comment --comment "cali:AAAAAAAAAAAAAAAA" -j cali-a', '-A INPUT -j LOG', '-A FORWARD -g cali-a'];
    for (let i = 0; i < 2000; i++) lines.push(`-A cali-a -s 10.1.${i >> 8}.${i & 255}/32 -m comment --comment "cali:${String(i).padStart(16, 'x')}" -j ACCEPT`);
    lines.push('COMMIT', '');
    await ns.restore(backend, lines.join('\n'));
  });

  it('reads the same through the pipe as through the stream', async () => {
    const args = ['netns', 'exec', ns.name, `iptables-${backend}-save`, '-t', 'filter'];
    const pipe = await viaPipe('ip', args);
    expect(pipe.snapshot.get('INPUT')?.ids).toEqual(['AAAAAAAAAAAAAAAA', 'OLD INSERT RULE']);
    expect(pipe.snapshot.get('FORWARD')?.ids).toEqual(['OLD INSERT RULE']);
    expect(pipe.snapshot.get('cali-a')?.ids.length).toBe(2000);
    expect(plain(pipe)).toEqual(plain(await viaStream('ip', args)));
  });
});
