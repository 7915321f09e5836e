// Exercises the addon through the built package (dist/) and prints what it saw as JSON:
// loading, rule hashing, the stream and pipe readers, and both lock kinds. Plain CommonJS so
// that any Node runs it, e.g. Debian's arm64 Node under qemu-aarch64-static
// (test/prebuild-arm64.test.ts) as well as this machine's (test/prebuild-abi.test.ts).
// Usage: node native-smoke.js <package root> <scratch dir>
'use strict';
const { spawn } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const [root, scratch] = process.argv.slice(2);
const native = require(join(root, 'dist', 'native.js'));
const { ruleHashesFor } = require(join(root, 'dist', 'hash.js'));
const { readSaveOutput, openSavePipe } = require(join(root, 'dist', 'reader.js'));
const locks = require(join(root, 'dist', 'locks.js'));

const config = { hashPrefix: 'cali:', historicChainPrefixes: ['cali-'] };
const dump = [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':cali-x - [0:0]',
  '-A INPUT -m comment --comment "cali:abcdefghijklmnop" -j cali-x',
  '-A INPUT -j ACCEPT',
  '-A cali-x -m comment --comment "cali:0123456789abcdef" -j DROP',
  'COMMIT',
  '',
].join('\n');

function chains(result) {
  return Object.fromEntries([...result.snapshot].map(([name, chain]) => [name, chain.ids]));
}

async function* once(text) {
  yield Buffer.from(text);
}

async function main() {
  const info = native.nativeInfo();
  const out = { arch: process.arch, node: process.version, info, sourceDigest: native.loadNative()?.sourceDigest };
  out.hashes = ruleHashesFor('cali-x', [{ body: '--jump DROP' }, { body: '' }, { body: '-m comment --comment "é"' }]);

  const streamed = await readSaveOutput(once(dump), config, { implementation: 'native' });
  out.stream = { implementation: streamed.implementation, bytes: streamed.bytesRead, chains: chains(streamed) };

  const file = join(scratch, 'dump.txt');
  writeFileSync(file, dump);
  const pipe = openSavePipe(config);
  const child = spawn('cat', [file], { stdio: ['ignore', pipe.fd, 'inherit'] });
  pipe.closeWriteEnd();
  const [piped] = await Promise.all([pipe.result, new Promise((resolve) => child.on('close', resolve))]);
  out.pipe = { implementation: piped.implementation, bytes: piped.bytesRead, chains: chains(piped) };

  const lockFile = join(scratch, 'xtables.lock');
  const socket = `@iptables-sync-ship-smoke-${process.pid}`;
  const held = await locks.grabIptablesLocks(lockFile, socket, 1000, 10);
  out.locks = {
    flockBusyWhileHeld: locks.tryFlockOnce(lockFile) === undefined,
    socketBusyWhileHeld: locks.tryBindAbstractOnce(socket) === undefined,
  };
  held.close();
  const again = locks.tryFlockOnce(lockFile);
  const socketAgain = locks.tryBindAbstractOnce(socket);
  out.locks.freeAfterClose = again !== undefined && socketAgain !== undefined;
  again?.release();
  socketAgain?.release();
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
