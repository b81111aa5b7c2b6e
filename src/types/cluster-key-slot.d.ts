// The package ships no types: its one function, as ioredis itself uses it.
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0–16383) of a key, by its hash tag if it has one. */
  export default function generate(key: string): number;
}
