#!/usr/bin/env node
// Runs after `tsc` in prepack: takes private class members out of the published .d.ts files.
// tsc declares each private member as a bare `private name;` line (no type), which tells users
// nothing and exposes internals; deleting the line is exactly "not declared". Done here rather
// than with /** @internal */ on every member so the sources stay as they are. Fails if a
// private member is left or a comment cites a document the package does not ship.
'use strict';
const { readdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.argv[2] ?? join(__dirname, '..', 'dist');
const privateMember = /^\s+private (readonly )?[A-Za-z_$][\w$]*;\n/gm;
const unshipped = /\bSPEC\b|RELIABILITY\.md|BENCHMARKS\.md|\b[\w-]+\.ts\b(?!\w)/;
let removed = 0;
const problems = [];
// Every .d.ts below dist, subfolders (dist/cli, dist/rules-file) included.
const declarations = readdirSync(dir, { recursive: true }).filter((n) => n.endsWith('.d.ts'));
for (const name of declarations) {
  const file = join(dir, name);
  const before = readFileSync(file, 'utf8');
  const after = before.replace(privateMember, () => {
    removed++;
    return '';
  });
  if (after !== before) writeFileSync(file, after);
  after.split('\n').forEach((line, i) => {
    if (/^\s+private\s/.test(line)) problems.push(`${name}:${i + 1}: private member left: ${line.trim()}`);
    if (unshipped.test(line)) problems.push(`${name}:${i + 1}: cites something the package does not ship: ${line.trim()}`);
  });
}
if (problems.length) {
  process.stderr.write(`clean-dts: ${problems.join('\n')}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(`clean-dts: removed ${removed} private member declarations\n`);
}
