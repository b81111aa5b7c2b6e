// A node being drained (SIGTERM, a rolling upgrade) ends its sockets in batches spread over the
// drain period, each batch at a jittered moment, so that their reconnections reach the other nodes
// as a trickle rather than a stampede.

/** Batches per second of the period: small enough that one batch is a short turn of the event loop. */
const BATCHES_PER_SECOND = 10;

/**
 * Ends every item of `items` through `end`, in random order and in batches spread over `periodMs`;
 * resolves when all are ended. A period of 0 ends them all at once.
 */
export async function endInBatches<T>(items: T[], periodMs: number, end: (item: T) => void, random: () => number = Math.random): Promise<void> {
  const order = shuffled(items, random);
  if (periodMs <= 0 || order.length === 0) {
    for (const item of order) end(item);
    return;
  }
  const batches = Math.max(1, Math.min(order.length, Math.floor((periodMs / 1000) * BATCHES_PER_SECOND)));
  const size = Math.ceil(order.length / batches);
  const slot = periodMs / batches;
  const sleeps: Promise<void>[] = [];
  for (let b = 0; b * size < order.length; b++) {
    const batch = order.slice(b * size, (b + 1) * size);
    // Within its slot, at a random moment: two nodes drained together do not beat in step.
    const at = b * slot + random() * slot;
    sleeps.push(new Promise<void>((resolve) => setTimeout(() => (batch.forEach(end), resolve()), at)));
  }
  await Promise.all(sleeps);
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
