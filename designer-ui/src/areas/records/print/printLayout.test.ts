import { describe, expect, it } from 'vitest'
import { browserContext } from '@/lib/filterEval'
import { admin, nurse, patient } from '@/test/fixtures'
import { formSections } from '../formModel'
import { printSections } from './printLayout'

const layout = (me = admin) => formSections(patient, me, 'zh-CN', '其他')
const shape = (sections: ReturnType<typeof printSections>) =>
  sections.map((s) => ({ title: s.title, pairs: s.pairs, rows: s.rows.map((r) => r.map((c) => `${c.field.name}:${c.span}`)) }))

describe('a record on paper', () => {
  it('lays out each section as rows of label/value pairs, long text on a row of its own', () => {
    const printed = shape(printSections(layout(), { sex: 'M', closed: false }, browserContext()))
    expect(printed[0]).toEqual({
      title: '基本信息',
      pairs: 2,
      // 妊娠 shows only for women: not on this record's paper.
      rows: [['name:1', 'id_number:1'], ['phone:1', 'dept:1'], ['sex:2']],
    })
    expect(printed[1]).toEqual({ title: '消费', pairs: 1, rows: [['total_spent:1'], ['code:1']] })
    // The fields in no section, with the summary (long text) on its own row.
    expect(printed[2]!.rows).toContainEqual(['summary:2'])
    expect(printed[2]!.rows.flat()).toContain('allergies:1')
  })

  it('prints what the user sees, and no more', () => {
    const printed = printSections(layout(nurse), {}, browserContext())
    const names = printed.flatMap((s) => s.rows.flat().map((c) => c.field.name))
    expect(names).not.toContain('allergies')
    expect(printed.flatMap((s) => s.rows.flat()).find((c) => c.field.name === 'id_number')?.sight).toBe('masked')
  })
})
