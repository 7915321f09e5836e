// Real `iptables-save` output from both backends, captured in a throwaway namespace and read
// straight from the child's stdout by both readers.
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeInfo } from '../src/native';
import { OLD_INSERT_MARKER, TruncatedDumpError, readSaveOutput, type ReadResult, type ReaderConfig } from '../src/reader';
import { BACKENDS, Netns, useNamespace } from './helpers/netns';

const CONFIG: ReaderConfig = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] };
const MANY = 3000;
const id = (n: number): string => `id${String(n).padStart(14, '0')}`;

function restoreInput(): string {
  const lines = ['*filter', ':cali-fw - [0:0]', ':cali-empty - [0:0]', ':cali-old - [0:0]', ':cali-many - [0:0]', ':FOO - [0:0]'];
  lines.push(
    `-A INPUT -m comment --comment "cali:${id(1)}" -j cali-fw`,
    '-A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT',
    `-A INPUT -s 10.0.0.2/32 -p tcp -m comment --comment cali:${id(2)} -m tcp --dport 80 -j ACCEPT`,
    `-A INPUT -m comment --comment "not ours" -m comment --comment "cali:${id(3)}" -j ACCEPT`,
    `-A INPUT -m comment --comment "cali:${id(4)}" -m comment --comment "second" -j ACCEPT`,
    '-A INPUT -j cali-old',
    '-A FORWARD -g cali-old',
    `-A FORWARD -m comment --comment "${'c'.repeat(250)}" -j ACCEPT`,
    `-A cali-fw -m comment --comment "cali:${id(5)}" -m mark --mark 0x10000/0x10000 -j ACCEPT`,
    '-A cali-fw -j DROP',
    '-A FOO -j ACCEPT',
  );
  for (let i = 0; i < MANY; i++) {
    lines.push(`-A cali-many -s 10.${(i >> 8) & 255}.${i & 255}.0/24 -m comment --comment "cali:${id(100 + i)}" -p tcp -m multiport --dports 80,443,8080 -j MARK --set-xmark 0x1000000/0x1000000`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

function readFromChild(ns: Netns, shellCommand: string, impl: 'native' | 'js'): Promise<ReadResult> {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'sh', '-c', shellCommand], { stdio: ['ignore', 'pipe', 'ignore'] });
  return readSaveOutput(child.stdout, CONFIG, { implementation: impl });
}

it('the addon is loaded', () => {
  expect(nativeInfo().loaded).toBe(true);
});

describe.each(BACKENDS)('%s iptables-save', (backend) => {
  const ns = useNamespace(`rd${backend}`);
  beforeAll(async () => {
    await ns.restore(backend, restoreInput());
  });

  it('reads the same snapshot with both readers, and the expected entries', async () => {
    const native = await readFromChild(ns, `iptables-${backend}-save -t filter`, 'native');
    const js = await readFromChild(ns, `iptables-${backend}-save -t filter`, 'js');
    expect(native.implementation).toBe('native');
    expect(js.implementation).toBe('js');
    expect([...native.snapshot]).toEqual([...js.snapshot]);
    expect(native.bytesRead).toBe(js.bytesRead);
    expect(native.bytesRead).toBeGreaterThan(MANY * 100); // many pipe chunks

    const snap = native.snapshot;
    expect(snap.get('INPUT')?.ids).toEqual([id(1), '', id(2), '', id(4), OLD_INSERT_MARKER]);
    expect(snap.get('INPUT')?.savedRules.get(2)).toMatch(new RegExp(`^-A INPUT -s 10.0.0.2/32 -p tcp .*cali:${id(2)}.*-j ACCEPT$`));
    expect(snap.get('INPUT')?.savedRules.get(5)).toBe('-A INPUT -j cali-old');
    expect(snap.get('FORWARD')?.ids).toEqual([OLD_INSERT_MARKER, '']);
    expect(snap.get('OUTPUT')?.ids).toEqual([]);
    expect(snap.get('cali-fw')?.ids).toEqual([id(5), '']);
    expect(snap.get('cali-fw')?.savedRules.size).toBe(0);
    expect(snap.get('cali-empty')?.ids).toEqual([]);
    expect(snap.get('FOO')?.ids).toEqual(['']);
    const many = snap.get('cali-many')?.ids ?? [];
    expect(many.length).toBe(MANY);
    expect(many.every((x, i) => x === id(100 + i))).toBe(true);
  });

  it('rejects the output of a save that died mid-stream', async () => {
    for (const impl of ['native', 'js'] as const) {
      await expect(readFromChild(ns, `iptables-${backend}-save -t filter | head -c 20000`, impl)).rejects.toThrow(TruncatedDumpError);
    }
  });
});
