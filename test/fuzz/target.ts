// The server under fuzz: a real `convene serve` process on a temp file database. If it dies, the
// crash is recorded by the caller and a new process is started on the same data directory, so
// that one run still reports everything else it finds after the first crash.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';

export interface Keys {
  appId: string;
  customerId: string;
  customerSecret: string;
  accessKey: string;
  secretKey: string;
}

export class Target {
  proc!: ServerProcess;
  port = 0;
  keys!: Keys;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'convene-fuzz-'));
  /** Output of processes that died, for the report. */
  readonly deaths: { exit: string; output: string }[] = [];
  private readonly env: Record<string, string>;

  constructor(env: Record<string, string> = {}) {
    this.env = {
      CONVENE_DATA_DIR: this.dataDir,
      CONVENE_LOG_LEVEL: 'warn',
      // Members leave only when the fuzz makes them leave: a grace-period timer firing at a
      // wall-clock moment would make runs of one seed diverge.
      CONVENE_PRESENCE_EXPIRY: 'off',
      ...env,
    };
  }

  async start(): Promise<void> {
    this.proc = await spawnServer(this.env);
    this.port = Number(new URL(this.proc.url).port);
    const p = (name: string) => this.proc.printed(name);
    // The secrets are printed only by the first start; a restart keeps the ones we have.
    this.keys = {
      appId: p('App ID')!,
      customerId: p('Customer ID') ?? this.keys?.customerId ?? '',
      customerSecret: p('Customer Secret') ?? this.keys?.customerSecret ?? '',
      accessKey: p('Access Key') ?? this.keys?.accessKey ?? '',
      secretKey: p('Secret Key') ?? this.keys?.secretKey ?? '',
    };
    for (const [k, v] of Object.entries(this.keys)) if (!v) throw new Error(`the server did not print its ${k}:\n${this.proc.stdout()}`);
  }

  alive(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  /** If the process has died: record how, start a new one, and return what it printed. */
  async reviveIfDead(): Promise<{ exit: string; output: string } | null> {
    if (this.alive()) return null;
    const c = this.proc.child;
    const death = { exit: c.signalCode ? `signal ${c.signalCode}` : `exit code ${c.exitCode}`, output: this.proc.stdout() };
    this.deaths.push(death);
    await this.start();
    return death;
  }

  async stop(): Promise<void> {
    await this.proc?.kill('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
