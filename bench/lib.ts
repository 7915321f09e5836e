// The library under test, loaded from the package's normal build (`dist/`, made by
// `npm run build`), so the addon is found exactly as it is for a user of the package. Types come
// from src/ (type-only imports are erased), the code from dist/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as IndexModule from '../src/index';
import type * as CommandsModule from '../src/commands';
import type * as HashModule from '../src/hash';
import type * as NativeModule from '../src/native';
import type * as PlanModule from '../src/restore-plan';
import type * as ReaderModule from '../src/reader';

/** The package root: the nearest directory up from here whose package.json is ours. */
export const ROOT: string = (() => {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'iptables-sync') return dir;
    if (dirname(dir) === dir) throw new Error(`package root of iptables-sync not found above ${__dirname}`);
  }
})();

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(name: string): T => require(join(ROOT, 'dist', name)) as T;

export const lib: typeof IndexModule = load('index');
export const commands: typeof CommandsModule = load('commands');
export const hash: typeof HashModule = load('hash');
export const native: typeof NativeModule = load('native');
export const plan: typeof PlanModule = load('restore-plan');
export const reader: typeof ReaderModule = load('reader');
