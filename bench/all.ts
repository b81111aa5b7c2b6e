// Every benchmark in a short form, one after another, and each figure against its target: the
// check to run after any change to the request path, the realtime path or a store (issue 17, item
// 6). Each bench still measures its own baseline in the same run; this prints their verdict lines
// together and, with --record, appends them to BENCHMARKS.md as one table (date, commit, figures).
// Short forms are noisier than the full runs (`npm run bench:<name>`): a MISS here is a reason to
// run that bench in full, three times, before concluding.
//   npm run bench [-- --record] [-- --only http,fanout]
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './lib/proc.ts';
import { redisAvailable } from '../test/helpers/redis.ts';

interface Bench {
  name: string;
  /** The short form: smaller sizes, shorter runs. */
  env: Record<string, string>;
  needsRedis?: boolean;
}

const BENCHES: Bench[] = [
  { name: 'http', env: { BENCH_DURATION: '4' } },
  { name: 'fanout', env: { BENCH_TOGGLES: '60', BENCH_IDLE: '3000', BENCH_IDLE_ROOMS: '300' } },
  { name: 'joinstorm', env: { BENCH_SIZES: '5000' } },
  { name: 'largeroom', env: { BENCH_LARGE: '5000', BENCH_TIMED: '300' } },
  // At its full size: with 3,000 members the code the JIT compiles while they connect (a fixed
  // cost, about 0.4 KB per member there, 0.2 KB at 6,000 by a heap snapshot diff) read as 0.1× more.
  { name: 'memory', env: { BENCH_IDLE: '10000', BENCH_IDLE_ROOMS: '1000' } },
  { name: 'relay', env: { BENCH_DURATION: '15' } },
  {
    name: 'scale',
    env: { BENCH_SCALE_MEMBERS: '5000', BENCH_SCALE_ROOMS: '500', BENCH_SCALE_LARGE_ROOMS: '4', BENCH_SCALE_LARGE_SIZE: '1000', BENCH_SCALE_IDLE_SECONDS: '10' },
  },
  { name: 'cluster', env: { BENCH_DURATION: '4', BENCH_TOGGLES: '60', BENCH_MEMBERS: '150' }, needsRedis: true },
];

/** A bench's lines that carry a verdict (`(target …) PASS|MISS`), or a ratio worth keeping. */
function verdicts(output: string): string[] {
  return output.split('\n').filter((l) => /\(target [^)]*\)\s*(PASS|MISS)/.test(l) || /^ratios /.test(l)).map((l) => l.trim());
}

function run(b: Bench): Promise<{ ok: boolean; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', `${b.name}.ts`)], { cwd: root, env: { ...process.env, ...b.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    // A bench that hangs must not hold the others: each has ten minutes at most.
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

const args = process.argv.slice(2);
const record = args.includes('--record');
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1]!.split(',')) : null;
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim() !== '';
const rows: [string, string, string][] = [];
for (const b of BENCHES) {
  if (only && !only.has(b.name)) continue;
  if (b.needsRedis && !(await redisAvailable())) {
    console.log(`\n== ${b.name}: skipped (no Redis on 127.0.0.1:6379)`);
    rows.push([b.name, 'skipped: no Redis', '']);
    continue;
  }
  console.log(`\n== ${b.name} (${Object.entries(b.env).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  const r = await run(b);
  const lines = verdicts(r.output);
  if (!r.ok) {
    console.log(r.output.split('\n').slice(-20).join('\n'));
    rows.push([b.name, `failed after ${r.seconds.toFixed(0)} s`, 'FAIL']);
    continue;
  }
  for (const l of lines) {
    console.log(`  ${l}`);
    const verdict = /(PASS|MISS)\s*$/.exec(l)?.[1] ?? '';
    rows.push([b.name, l.replace(/\s*(PASS|MISS)\s*$/, '').replace(/\|/g, '\\|'), verdict]);
  }
  console.log(`  (${r.seconds.toFixed(0)} s)`);
}
const date = new Date().toISOString().slice(0, 10);
const table = [
  `\n### \`npm run bench\` — ${date}, commit ${commit}${dirty ? ' (with uncommitted changes)' : ''}\n`,
  '| bench | figure (target) | verdict |',
  '|---|---|---|',
  ...rows.map(([name, figure, verdict]) => `| ${name} | ${figure} | ${verdict} |`),
].join('\n');
console.log(`\n${table}`);
const misses = rows.filter(([, , v]) => v === 'MISS' || v === 'FAIL').length;
console.log(`\n${rows.filter(([, , v]) => v === 'PASS').length} PASS, ${misses} MISS or FAIL (short forms: confirm a MISS with the full bench)`);
if (record) {
  appendFileSync(join(root, 'BENCHMARKS.md'), `${table}\n`);
  console.log('appended to BENCHMARKS.md');
}
process.exit(0);
