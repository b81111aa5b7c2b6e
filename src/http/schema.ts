// Schema helpers shared by the APIs. `x-int` is an ajv keyword for integer fields that clients
// send in several forms (spec §2.2: iOS sends "0"/"1", some send booleans): it accepts integers,
// integer strings and booleans, replaces the value by the integer, and always emits integers.
import { Type } from 'typebox';
import type { Ajv } from 'ajv';

interface IntRule {
  values?: number[];
  min?: number;
  max?: number;
}

function describe(rule: IntRule): string {
  if (rule.values) return `must be one of ${rule.values.join(', ')}`;
  return `must be an integer from ${rule.min ?? '-∞'} to ${rule.max ?? '∞'}`;
}

export function toInt(data: unknown): number | undefined {
  if (typeof data === 'number') return Number.isInteger(data) ? data : undefined;
  if (typeof data === 'boolean') return data ? 1 : 0;
  if (typeof data === 'string' && /^-?\d{1,15}$/.test(data.trim())) return Number(data.trim());
  return undefined;
}

export function intKeyword(ajv: Ajv): Ajv {
  ajv.addKeyword({
    keyword: 'x-int',
    modifying: true,
    errors: true,
    schemaType: 'object',
    validate: function check(
      rule: IntRule,
      data: unknown,
      _parent?: unknown,
      cxt?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
    ): boolean {
      const n = toInt(data);
      const okValue =
        n !== undefined &&
        (!rule.values || rule.values.includes(n)) &&
        (rule.min === undefined || n >= rule.min) &&
        (rule.max === undefined || n <= rule.max);
      if (!okValue) {
        (check as unknown as { errors: unknown[] }).errors = [{ keyword: 'x-int', message: describe(rule), params: { rule } }];
        return false;
      }
      if (cxt?.parentData) cxt.parentData[cxt.parentDataProperty] = n;
      return true;
    },
  });
  return ajv;
}

/** An integer restricted to `values` (a 0/1 flag by default), in any of the accepted forms. */
export const Flag = (values: number[] = [0, 1]) => Type.Unsafe<number>({ 'x-int': { values } });

/** An integer in [min, max], in any of the accepted forms. */
export const Int = (min: number, max: number) => Type.Unsafe<number>({ 'x-int': { min, max } });
