import { describe, expect, it } from 'vitest'
import { patient } from '@/test/fixtures'
import { lineSpans, rowProblems, summarize } from './importReport'

const report = {
  dry_run: true,
  total_rows: 100,
  valid_rows: 98,
  imported: 0,
  columns: [],
  errors: [
    { line: 57, field: 'phone', code: 'phone_format', message: '手机号 不是有效的手机或固定电话号码' },
    { line: 12, field: 'id_number', code: 'id_card_checksum', message: '身份证号 校验位不正确' },
    { line: 57, field: 'name', code: 'required', message: '姓名 为必填' },
  ],
}

describe('a dry run as staff read it', () => {
  it('counts the lines with problems, not the problems', () => {
    expect(summarize(report)).toEqual({ total: 100, valid: 98, bad: 2 })
  })

  it('lists the problems by line, with field labels, the line shown once', () => {
    const problems = rowProblems(report.errors, patient.fields, 'zh-CN')
    expect(problems).toEqual([
      { line: 12, field: '身份证号', message: '身份证号 校验位不正确', continued: false },
      { line: 57, field: '手机号', message: '手机号 不是有效的手机或固定电话号码', continued: false },
      { line: 57, field: '姓名', message: '姓名 为必填', continued: true },
    ])
    expect(lineSpans(problems)).toEqual([1, 2, 0])
    expect(rowProblems(report.errors, patient.fields, 'en')[0]!.field).toBe('ID number')
  })

  it('keeps a column the server named that is no field', () => {
    const [problem] = rowProblems([{ line: 1, field: '备注说明', code: 'unknown_column', message: '无法对应' }], patient.fields, 'zh-CN')
    expect(problem).toEqual({ line: 1, field: '备注说明', message: '无法对应', continued: false })
  })
})
