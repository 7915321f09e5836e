// Calls back (debounced) when a file changes, including when an editor replaces it by renaming.
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../logger';

export interface FileWatch {
  close(): void;
}

/** Watches the file's directory (a rename replaces the file's inode) and calls onChange
 *  debounceMs after the last event naming the file. Logs, and stops, if watching fails. */
export function watchFile(file: string, debounceMs: number, onChange: () => void, log: Logger): FileWatch {
  const path = resolve(file);
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let closed = false;
  try {
    watcher = fsWatch(dirname(path), (_event, name) => {
      if (name !== null && name !== basename(path)) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = undefined;
        if (!closed) onChange();
      }, debounceMs);
    });
    watcher.on('error', (error: Error) => {
      log.warn({ err: error.message }, 'stopped watching the rules file for changes; use SIGHUP to reload');
      watcher?.close();
    });
  } catch (error) {
    log.warn({ err: (error as Error).message }, 'cannot watch the rules file for changes; use SIGHUP to reload');
  }
  return {
    close: () => {
      closed = true;
      if (debounce) clearTimeout(debounce);
      watcher?.close();
    },
  };
}
