// A benchmark child's inspector (started with --inspect=127.0.0.1:0): this process collects the
// child's garbage before it reads its memory, so that a figure is what is kept, not what is litter.
import WebSocket from 'ws';

export interface Inspector {
  /** process.memoryUsage() of the child after two full collections. */
  memory(): Promise<NodeJS.MemoryUsage>;
  close(): void;
}

/** Connects to the inspector the child announced in `output` ("Debugger listening on ws://…"). */
export async function openInspector(output: string): Promise<Inspector> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  if (!url) throw new Error(`no inspector in the child's output: ${output}`);
  const inspector = new WebSocket(url);
  await new Promise((resolve, reject) => inspector.once('open', resolve).once('error', reject));
  let next = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { value?: string } }>((resolve) => {
      const id = ++next;
      const onMessage = (d: WebSocket.RawData) => {
        const m = JSON.parse(String(d)) as { id?: number; result: { result?: { value?: string } } };
        if (m.id !== id) return;
        inspector.off('message', onMessage);
        resolve(m.result);
      };
      inspector.on('message', onMessage);
      inspector.send(JSON.stringify({ id, method, params }));
    });
  return {
    async memory() {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' });
      return JSON.parse(r.result!.value!) as NodeJS.MemoryUsage;
    },
    close: () => inspector.close(),
  };
}
