// The WAL's checkpoints, on a thread of their own. SQLite's automatic checkpoint runs inside the
// commit that crosses its threshold, on the event loop: under a stream of entries that was a
// 50 – 70 ms stall about once a second, 9 % of the loop's time (issue 17, BENCHMARKS.md). Here a
// worker thread with its own connection to the file copies committed frames into the database
// (PASSIVE: it never takes the write lock, so no commit waits for it). Under a steady stream of
// commits it never finds the WAL idle, so the WAL is restarted where it was before: by the
// committing connection's own checkpoint at 20,000 pages, which now finds all but the last few
// milliseconds' frames copied (a 10 – 20 ms stall where it was 50 – 70 ms); between bursts the
// worker's pass leaves nothing behind and the next commit restarts the WAL.
//
// A pass is asked for once ROWS_PER_PASS rows have been written since the last one, or once a
// second while any are waiting: it syncs the WAL and the database file, and a pass every 25 ms
// whatever was written (as until 2026-12-07) made a light stream of commits — a host's commands in
// a room of 1,000 — pay for those syncs: its commits took 0.5 – 0.8 ms instead of 0.3 ms, their
// p99 9 – 12 ms instead of 3 ms (bench:fanout, BENCHMARKS.md).
//
// That automatic checkpoint is also the safety net: a worker that died costs what it cost before.
// A thread costs about 10 MB, so it runs only while the store commits a lot: started after
// CHECKPOINTER_AFTER commits, stopped (after a last pass) IDLE_MS after the last commit (most
// stores — tests, the CLI, a quiet server — never start one).
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** Commits a store makes before it starts its checkpointer. */
export const CHECKPOINTER_AFTER = 2000;
/** A checkpointer stops after this long without a commit, ms. */
const IDLE_MS = 2000;
/**
 * Rows written (rooms, members, events, outbox and audit rows) that call for a pass: about 30 ms of
 * entries at 7,500/s (four rows each), close to the 25 ms cadence measured best for them.
 */
const ROWS_PER_PASS = 1000;
/** While fewer rows are waiting, a pass at most this long after the last one, ms. */
const PASS_AT_LEAST_EVERY_MS = 1000;

// Plain JavaScript, evaluated in the worker: no loader needed, whatever runs this module.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('wal_autocheckpoint = 0');
function pass() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    // SQLITE_BUSY: another checkpoint is running (the committer's safety net); the next pass copies.
    if (e && e.code !== 'SQLITE_BUSY') throw e;
  }
}
parentPort.on('message', (m) => {
  pass();
  if (m !== 'stop') return parentPort.postMessage('copied');
  db.close();
  parentPort.postMessage('stopped');
});
`;

export interface Checkpointer {
  /** The store committed `rows` rows: a pass once enough are waiting, and the thread is still needed. */
  committed(rows: number): void;
  stop(): Promise<void>;
}

/** A checkpointer for the database at `path`; `idle` is called when it stops for want of commits. */
export function startCheckpointer(path: string, idle: () => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver } });
  // A failed worker leaves the committer's own checkpoints in force: nothing to do but say so.
  worker.on('error', (e) => process.emitWarning(`SQLite checkpointer stopped: ${(e as Error).message}`));
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  /** Rows written since the last pass was asked for; a pass under way (one at a time). */
  let waiting = 0;
  let copying = false;
  let stopped = false;
  let lastCommit = Date.now();
  let lastPass = Date.now();
  const ask = () => {
    copying = true;
    waiting = 0;
    lastPass = Date.now();
    worker.postMessage('copy');
  };
  const askIfDue = () => {
    if (!copying && !stopped && waiting >= ROWS_PER_PASS) ask();
  };
  worker.on('message', (m) => {
    // Its connection closed first (a clean close), then the thread ended.
    if (m === 'stopped') return void worker.terminate();
    copying = false;
    askIfDue();
  });
  const watch = setInterval(() => {
    if (Date.now() - lastCommit >= IDLE_MS) {
      void stop();
      return idle();
    }
    if (!copying && waiting > 0 && Date.now() - lastPass >= PASS_AT_LEAST_EVERY_MS) ask();
  }, PASS_AT_LEAST_EVERY_MS / 2);
  watch.unref();
  const stop = () => {
    if (!stopped) {
      stopped = true;
      clearInterval(watch);
      // The worker makes a last pass before it closes.
      worker.postMessage('stop');
    }
    return exited;
  };
  return {
    committed(rows) {
      lastCommit = Date.now();
      waiting += rows;
      askIfDue();
    },
    stop,
  };
}
