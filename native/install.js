#!/usr/bin/env node
// npm install hook (package.json "install"). Keeps the prebuild when it loads; else builds the
// addon from source (node-gyp-build, which needs a C++ compiler, make and python); else says so
// where the operator sees it: npm hides install-script output, so the warning also goes to the
// terminal. Never fails the install: without the addon the package still works (TypeScript
// reader and hashing), only the lock functions throw LockUnavailableError.
'use strict';
const { spawnSync } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'iptables-sync.node');

function loadError(file) {
  try {
    const addon = require(file);
    return typeof addon.abiVersion === 'number' ? undefined : `${file}: not this package's addon`;
  } catch (err) {
    return `${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

const prebuildError = loadError(prebuild);
if (prebuildError === undefined) process.exit(0);

// The built package explains a foreign CPU or an old glibc; a git checkout has no dist/ yet.
function explained() {
  try {
    return require(join(root, 'dist', 'native.js')).nativeInfo().reason;
  } catch {
    return undefined;
  }
}

// node-gyp-build tests build/Release and the prebuilds, and runs `node-gyp rebuild` if none loads.
const built = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], { cwd: root, stdio: 'inherit' });
if (built.status === 0) process.exit(0);

const message = [
  '',
  'iptables-sync: WARNING: the native addon is not available on this host.',
  `  prebuild: ${explained() ?? prebuildError}`,
  '  build from source: failed (needs g++, make and python3; see the output above)',
  '  Without it the package works, but the iptables lock functions (grabIptablesLocks, SharedLock,',
  '  the Table default lock) throw LockUnavailableError. Supported prebuilds: linux-x64 and',
  '  linux-arm64 with glibc >= 2.28. Fix: install a compiler toolchain and run `npm rebuild',
  "  iptables-sync`, or check `require('iptables-sync').nativeInfo()` for the reason.",
  '',
].join('\n');
process.stderr.write(`${message}\n`);
try {
  writeFileSync('/dev/tty', `${message}\n`); // npm swallows the script's own stdout/stderr
} catch {
  // no terminal (CI): stderr above is all there is
}
