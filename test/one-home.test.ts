// A concern has one home: child processes are started by the one command runner (its deadline,
// its process-group kill, its typed spawn failures, the addon's posix_spawn), never by a module
// of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';

const SRC = join(__dirname, '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

it("only the command runner imports node:child_process", () => {
  const importers = sources(SRC)
    .filter((file) => /from ['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file));
  expect(importers).toEqual(['commands.ts']);
});
