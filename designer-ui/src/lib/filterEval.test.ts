// The browser's filter evaluator answers every shared vector as the engine does
// (engine/tests/vectors/filter_eval.json, run by engine/tests/filter_eval.rs too).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDate, parseDateTime } from './dates'
import { evaluateFilter, type EvalContext } from './filterEval'

interface Vector {
  name: string
  filter: unknown
  record: Record<string, unknown>
  today: string
  now?: string
  expected: boolean | 'error'
}

const vectors: Vector[] = JSON.parse(
  readFileSync(join(__dirname, '../../../engine/tests/vectors/filter_eval.json'), 'utf8'),
) as Vector[]

function contextOf(v: Vector): EvalContext {
  const today = parseDate(v.today)!
  if (v.now) {
    const offset = /([+-])(\d{2}):(\d{2})$/.exec(v.now)
    const minutes = offset ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0
    return { today, now: parseDateTime(v.now)!, offsetMinutes: minutes }
  }
  // As the engine's EvalContext::on: midday of today at +08:00.
  return { today, now: parseDateTime(`${v.today}T12:00:00+08:00`)!, offsetMinutes: 480 }
}

describe('filter evaluator', () => {
  it('has the shared vectors', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(90)
  })

  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    let outcome: boolean | 'error'
    try {
      outcome = evaluateFilter(v.filter, v.record, contextOf(v))
    } catch {
      outcome = 'error'
    }
    expect(outcome).toBe(v.expected)
  })
})
