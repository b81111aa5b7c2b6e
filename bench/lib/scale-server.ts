// The Convene server of bench/scale.ts, seen from outside: its file-descriptor budget (how many
// sockets fit), its heap after a forced GC (through the inspector, as bench/memory.ts), its RSS and
// its CPU time (from /proc). One server per phase, so that each phase's memory starts from zero.
import { readFileSync, readdirSync } from 'node:fs';
import { cpuSeconds, startConveneChild } from './proc.ts';
import { openInspector } from './inspector.ts';

/**
 * What the server is started with. The entry rate limits are off by default; they are set to 0 here
 * all the same, because the child inherits this process's environment (a deployment's settings
 * must not turn them on for the bench). The room and member caps are lifted so that the sizes asked
 * for are the only limit; presence is `auto`, the production default (startConveneChild turns it
 * off), so that the idle server does the presence work a real one does.
 */
export const SCALE_SERVER_ENV = {
  CONVENE_MAX_CONNECTIONS_PER_IP: '0',
  CONVENE_RATE_ENTRIES_PER_IP: '0',
  CONVENE_RATE_ENTRIES_PER_APP: '0',
  CONVENE_MAX_ROOMS_PER_APP: '0',
  CONVENE_MAX_ROOM_MEMBERS: '0',
  CONVENE_PRESENCE_EXPIRY: 'auto',
};

export interface Memory {
  heap: number;
  rss: number;
}

export type ScaleServer = Awaited<ReturnType<typeof startScaleServer>>;

export async function startScaleServer() {
  // startConveneChild takes no node flags: the inspector is opened through NODE_OPTIONS instead.
  const server = await startConveneChild({ ...SCALE_SERVER_ENV, NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  const pid = server.proc.pid!;
  const inspector = await openInspector(server.output()).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  return {
    ...server,
    pid,
    /** Heap and RSS after two full collections. */
    async memory(): Promise<Memory> {
      const m = await inspector.memory();
      return { heap: m.heapUsed, rss: m.rss };
    },
    /** CPU seconds (user + system) the server has used so far. */
    cpuSeconds: () => cpuSeconds(pid),
    /** Descriptors this server may still open for client sockets, keeping `spare` for everything else. */
    socketBudget: (spare: number) => fdLimit(pid) - openFds(pid) - spare,
    fdLimit: () => fdLimit(pid),
    openFds: () => openFds(pid),
    async stop() {
      inspector.close();
      await server.stop();
    },
  };
}

/** The soft "Max open files" of a process (Node raises its soft limit to the hard one at start). */
export function fdLimit(pid: number | 'self'): number {
  const m = /^Max open files\s+(\d+|unlimited)\s+/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m && m[1] !== 'unlimited' ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

export function openFds(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
