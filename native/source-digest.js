#!/usr/bin/env node
// Prints "d" + sha256 over binding.gyp and native/*.cc|*.h (name and content, sorted by name).
// binding.gyp compiles it into the addon as `sourceDigest`; test/native-load.test.ts recomputes
// it to prove the committed prebuild matches the current sources.
'use strict';
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

function sourceDigest(root) {
  const hash = createHash('sha256');
  const files = ['binding.gyp'].concat(
    readdirSync(join(root, 'native'))
      .filter((name) => /\.(cc|h)$/.test(name))
      .sort()
      .map((name) => `native/${name}`),
  );
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(root, file)));
    hash.update('\0');
  }
  return `d${hash.digest('hex')}`;
}

module.exports = { sourceDigest };

if (require.main === module) process.stdout.write(sourceDigest(join(__dirname, '..')));
