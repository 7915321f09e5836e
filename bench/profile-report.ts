// The --profile sections of the report: per backend, the initial apply's self time by file and
// function, and every phase's longest busy stretches inside apply() next to the event-loop max
// that monitorEventLoopDelay measured in the same phase of the same (profiled) run.
import { heading, k, ms, table } from './format';
import type { BusyStretch, StretchFiller } from './profile';
import type { ProfiledPhase, ProfileRun } from './types';

function filler(f: StretchFiller): string {
  return `${f.frame} ${ms(f.selfMs)}${f.leaf !== f.frame ? ` (${f.leaf} ${ms(f.leafMs)})` : ''}`;
}

/** The median sampling interval of the phases' profiles, as measured. */
function sampling(p: ProfileRun): string {
  const us = p.phases.map((ph) => ph.medianSampleUs);
  return `${Math.min(...us).toFixed(0)}–${Math.max(...us).toFixed(0)} µs (median per phase; 100 µs asked)`;
}

/** The sections of one profiled run, ready to join with the rest of the report. */
export function renderProfile(p: ProfileRun, md: boolean): string[] {
  const parts: string[] = [];
  parts.push(heading(`Where the time goes: CPU profile of one ${p.backend} initial apply at ${k(p.rules)} rules (updateChain calls + apply(); the process under test's main thread, sampled every ${sampling(p)})`, md));
  parts.push(
    `${md ? '\n' : ''}end to end ${ms(p.endToEndMs)} ms under the profiler (apply() ${ms(p.wallMs)} ms); sampled ${ms(p.summary.totalMs)} ms, of which "(idle)" is the main thread waiting for iptables-restore.`,
  );
  parts.push(table(['self ms', 'share', 'file'], p.summary.byFile.map((f) => [ms(f.selfMs), `${(f.share * 100).toFixed(1)}%`, f.name]), md));
  parts.push('');
  parts.push(table(['self ms', 'share', 'function'], p.summary.byFunction.map((f) => [ms(f.selfMs), `${(f.share * 100).toFixed(1)}%`, f.name]), md));
  parts.push(heading(`What blocks the event loop: the longest busy stretches inside apply(), ${p.backend}, ${k(p.rules)} rules, each phase under the CPU profiler`, md));
  parts.push(
    `${md ? '\n' : ''}A busy stretch is a run of consecutive samples none of which is "(idle)" (GC and "(program)" count as busy); it starts at "+ms" after apply() began. It is filled by our own frames (each sample charged to its nearest caller in dist/, in brackets the sampled frame with the most time under it) or, with no such caller, by the sampled frame itself. EL max: monitorEventLoopDelay in the same phase of this profiled run (it records from its second timer firing on and stops as apply() resolves, so it misses a stall in apply()'s first or last loop turn; "longest turn" does not). "in samples > 1 ms": time the sampler was held up (samples are about 200 µs apart), mostly this process not being scheduled.`,
  );
  const stretchTable = (pick: (ph: ProfiledPhase) => readonly BusyStretch[]): string =>
    table(
      ['phase', '#', 'filled by: frame ms (top sampled frame under it ms)', 'EL max ms', 'longest turn ms', 'apply ms', 'at +ms', 'length ms', 'samples', 'in samples > 1 ms'],
      p.phases.flatMap((ph) =>
        pick(ph).map((s, i) => {
          const first = (x: string): string => (i === 0 ? x : '');
          return [ph.phase, String(i + 1), s.fillers.map(filler).join('; '), first(ms(ph.eventLoopMaxMs)), first(ms(ph.longestTurnMs)), first(ms(ph.wallMs)), ms(s.startMs), ms(s.lengthMs), String(s.samples), ms(s.longSamplesMs)];
        }),
      ),
      md,
    );
  parts.push(stretchTable((ph) => ph.stretches));
  parts.push(
    `${md ? '\n' : ''}The same, each stretch also ended where the loop turned (a 1 ms JS interval fired; longest turn: the longest gap between two firings). A loop that turns without waiting in poll leaves no "(idle)" sample, so one busy stretch above may hold many turns; split at the turns, a stretch is the busy part of one turn, which is what monitorEventLoopDelay sees.`,
  );
  parts.push(stretchTable((ph) => ph.turnStretches));
  return parts;
}
