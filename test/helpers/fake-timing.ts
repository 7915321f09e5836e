// The public FakeIptables (src/testing.ts) with what the timing tests of test/table-timing.test.ts
// assert on besides calls: one log of spawns, exits and lock events in order, how many apply-run
// processes overlapped, and shorthands for one table (filter by default).
import { FakeIptables, type FakeCall, type FakeCallKind } from '../../src/testing';
import type { CommandFactory } from '../../src/commands';
import type { TableName } from '../../src/table';

export type Call = FakeCall;
export type Kind = FakeCallKind;

export class TimingFake extends FakeIptables {
  /** A shared log of spawns, exits and lock events, in order. */
  readonly events: string[] = [];
  maxRunning = 0;
  private running = 0;

  constructor(readonly table: TableName = 'filter') {
    super();
    this.onSpawn = (call) => {
      this.events.push(`spawn ${call.kind}`);
      // The one-off --version probe may run beside the first read; apply runs never overlap.
      if (call.kind !== 'version') this.running++;
      this.maxRunning = Math.max(this.maxRunning, this.running);
    };
    this.onExit = (call) => {
      if (call.kind !== 'version') this.running--;
      this.events.push(`exit ${call.kind}`);
    };
  }

  get factory(): CommandFactory {
    return this.commandFactory;
  }

  /** Chain name → rule bodies of this table, kernel chains included (a copy). */
  get chains(): Map<string, string[]> {
    return new Map(this.chainNames({ table: this.table }).map((c) => [c, [...(this.rules(c, { table: this.table }) ?? [])]]));
  }

  /** The kinds of all calls, in order. */
  kinds(): Kind[] {
    return this.calls.map((c) => c.kind);
  }

  /** A realistic `iptables-save -t <table>` dump. */
  dump(): string {
    return this.save(this.table);
  }

  /** The rule IDs (cali:…) per position of one chain, "" for foreign rules. */
  ids(chain: string): string[] | undefined {
    return this.ruleIds(chain, 'cali:', { table: this.table });
  }

  /** Applies a restore input atomically, like iptables-restore --noflush. */
  applyRestore(input: string): void {
    this.restore(input);
  }
}
