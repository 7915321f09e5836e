// A PATH like this process's but without C/C++ compilers, make or python: what a production
// host without a toolchain looks like to `npm install`.
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const TOOLCHAIN = /^(cc|c\+\+|gcc|g\+\+|cpp|clang(\+\+)?|make|gmake|cmake|python[\d.]*|.*-(gcc|g\+\+|cc|c\+\+|cpp)(-[\d.]+)?|(gcc|g\+\+|cpp)-[\d.]+)$/;

/** Fills `bin` (created) with links to every program on PATH except the toolchain; returns it. */
export function pathWithoutCompilers(bin: string): string {
  mkdirSync(bin, { recursive: true });
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (TOOLCHAIN.test(name) || existsSync(join(bin, name))) continue;
      symlinkSync(join(dir, name), join(bin, name));
    }
  }
  return bin;
}
