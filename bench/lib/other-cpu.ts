// How busy the rest of the machine was during a measurement: CPU time of all processes (Linux /proc/stat) minus ours.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Busy CPU seconds of the whole machine since boot, or NaN where /proc/stat is not readable. */
function machineBusySeconds(): number {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/**
 * Starts a window; `stop` returns the share of the machine's cores that other processes kept busy meanwhile
 * (0 = the machine was ours, 1 = every core busy elsewhere). Benchmarks of spinning thread pools are meaningless above ~0.1.
 */
export function otherCpuShare(): { stop: () => number } {
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop: () => {
      const own = process.cpuUsage(own0);
      const wall = (performance.now() - t0) / 1000;
      const others = machineBusySeconds() - busy0 - (own.user + own.system) / 1e6;
      return Math.max(0, others / (wall * cpus().length));
    },
  };
}
