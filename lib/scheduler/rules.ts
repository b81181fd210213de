/**
 * Location rules on node attributes, evaluated as pacemaker evaluates rsc_location rules.
 * Pure: a rule and a node's attributes (including #uname and #id) in, a boolean out.
 */
import type { Rule, RuleExpression } from '../cib/model.js';

export function ruleMatches(rule: Rule, attrs: Readonly<Record<string, string>>): boolean {
  const results = rule.expressions.map((e) => expressionMatches(e, attrs));
  return (rule.booleanOp ?? 'and') === 'and' ? results.every(Boolean) : results.some(Boolean);
}

function expressionMatches(e: RuleExpression, attrs: Readonly<Record<string, string>>): boolean {
  const actual = attrs[e.attribute];
  if (e.operation === 'defined') return actual !== undefined;
  if (e.operation === 'not_defined') return actual === undefined;
  // Pacemaker: a missing value differs from everything, so only 'ne' matches it.
  if (actual === undefined || e.value === undefined) return e.operation === 'ne';
  const cmp = compareValues(actual, e.value, e.type ?? 'string');
  if (cmp === undefined) return false;
  switch (e.operation) {
    case 'eq':
      return cmp === 0;
    case 'ne':
      return cmp !== 0;
    case 'lt':
      return cmp < 0;
    case 'gt':
      return cmp > 0;
    case 'lte':
      return cmp <= 0;
    case 'gte':
      return cmp >= 0;
  }
}

function compareValues(a: string, b: string, type: 'string' | 'integer' | 'number'): number | undefined {
  if (type === 'string') return a < b ? -1 : a > b ? 1 : 0;
  const x = type === 'integer' ? Number.parseInt(a, 10) : Number.parseFloat(a);
  const y = type === 'integer' ? Number.parseInt(b, 10) : Number.parseFloat(b);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}
