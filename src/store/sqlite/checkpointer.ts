// The WAL's checkpoints, on a thread of their own. SQLite's automatic checkpoint runs inside the
// commit that crosses its threshold, on the event loop: under a stream of entries that was a
// 50 – 70 ms stall about once a second, 9 % of the loop's time (issue 17, BENCHMARKS.md). Here a
// worker thread with its own connection to the file copies committed frames into the database
// every EVERY_MS (PASSIVE: it never takes the write lock, so no commit waits for it). Under a
// steady stream of commits it never finds the WAL idle, so the WAL is restarted where it was
// before: by the committing connection's own checkpoint at 20,000 pages, which now finds all but
// the last few milliseconds' frames copied (a 10 – 20 ms stall where it was 50 – 70 ms); between
// bursts the worker's pass leaves nothing behind and the next commit restarts the WAL.
//
// That automatic checkpoint is also the safety net: a worker that died costs what it cost before.
// A thread costs about 10 MB, so it runs only while the store commits a lot: started after
// CHECKPOINTER_AFTER commits, stopped after IDLE_MS without one (most stores — tests, the CLI, a
// quiet server — never start one).
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** Commits a store makes before it starts its checkpointer. */
export const CHECKPOINTER_AFTER = 2000;
/** A checkpointer stops after this long without a commit, ms. */
const IDLE_MS = 2000;
/** How often the worker copies what was committed since its last pass, ms. */
const EVERY_MS = 25;

// Plain JavaScript, evaluated in the worker: no loader needed, whatever runs this module.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('wal_autocheckpoint = 0');
let timer = null;
function look() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    // SQLITE_BUSY: another checkpoint is running (the committer's safety net); look again later.
    if (e && e.code !== 'SQLITE_BUSY') throw e;
  }
  timer = setTimeout(look, ${EVERY_MS});
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  db.close();
  parentPort.postMessage('stopped');
});
look();
`;

export interface Checkpointer {
  /** The store committed: the thread is still needed. */
  committed(): void;
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
  // Its connection closed first (a clean close), then the thread ended.
  worker.once('message', () => void worker.terminate());
  let busy = true;
  const watch = setInterval(() => {
    if (busy) return void (busy = false);
    void stop();
    idle();
  }, IDLE_MS);
  watch.unref();
  const stop = () => {
    clearInterval(watch);
    worker.postMessage('stop');
    return exited;
  };
  return {
    committed() {
      busy = true;
    },
    stop,
  };
}
