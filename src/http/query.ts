// Query strings: a parameter given twice is ambiguous (which one did the caller mean, and which
// one did a signature or a proxy check?), so it is refused rather than passed on as an array.
const REPEATED = Symbol('repeated query parameters');

type Query = Record<string, string> & { [REPEATED]?: string[] };

export function parseQuery(text: string): Query {
  const query = Object.create(null) as Query;
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in query) (query[REPEATED] ??= []).push(name);
    else query[name] = value;
  }
  return query;
}

/** The names given more than once in a query parsed by parseQuery, or null. */
export function repeatedParameters(query: unknown): string[] | null {
  return (query as Query | null)?.[REPEATED] ?? null;
}

export function repeatedMessage(names: string[]): string {
  return `query parameter ${JSON.stringify(names[0])} is given more than once`;
}
