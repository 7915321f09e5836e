// The linux-arm64 prebuild loads into Debian's arm64 Node (run by qemu-aarch64-static on this
// x86-64 machine) and passes the same reader / hash / lock smoke test as the x64 one does in
// test/prebuild-abi.test.ts. Slow the first time (downloads the arm64 packages) and needs root,
// so it runs in `npm run test:ci` (.ci/run), not in `npm test`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { packageRoot } from '../../src/native';
import { expectedSmoke, parseSmoke } from '../helpers/native-smoke-expect';

const root = packageRoot();

it('the linux-arm64 prebuild loads and passes the reader/hash/lock smoke test under qemu-aarch64', () => {
  const sysroot = execFileSync('bash', [join(root, 'scripts', 'arm64-sysroot.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const scratch = mkdtempSync(join(tmpdir(), 'ipts-ship-arm64-'));
  const env = { ...process.env };
  delete env.IPTABLES_SYNC_NATIVE_PATH;
  delete env.IPTABLES_SYNC_NO_NATIVE;
  const out = execFileSync('qemu-aarch64-static', ['-L', sysroot, join(sysroot, 'usr', 'bin', 'node'), join(root, 'test', 'helpers', 'native-smoke.js'), root, scratch], { encoding: 'utf8', env, timeout: 300_000 });
  const digest = execFileSync(process.execPath, [join(root, 'native', 'source-digest.js')], { encoding: 'utf8' });
  const result = parseSmoke(out);
  expect(result).toEqual(expectedSmoke({ arch: 'arm64', path: join(root, 'prebuilds', 'linux-arm64', 'iptables-sync.node'), digest, sha224: (b) => createHash('sha224').update(b).digest() }));
});
