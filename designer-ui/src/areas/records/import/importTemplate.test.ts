import { describe, expect, it } from 'vitest'
import type { FieldDef } from '@/api/types'
import { admin, nurse, patient } from '@/test/fixtures'
import { importableFields } from './columnMapping'
import { csvCell, templateBlob, templateCsv, templateHeader } from './importTemplate'

describe('the import template', () => {
  it('is one header row of the fields the user may fill, by their Chinese labels, with a BOM', () => {
    const text = templateCsv(importableFields(patient, admin), patient.fields)
    expect(text.startsWith('\uFEFF')).toBe(true)
    expect(text.endsWith('\r\n')).toBe(true)
    // Only the header: an example row would be imported as a record.
    expect(text.split('\r\n')).toEqual([
      '\uFEFF姓名,身份证号,手机号,科室,出生日期,累计消费,妊娠,性别,已结案,结案小结,过敏史,就诊时间,标签',
      '',
    ])
    // 编号 is numbered by the system.
    expect(text).not.toContain('编号')
  })

  it('leaves out what the user may not write', () => {
    const text = templateCsv(importableFields(patient, nurse), patient.fields)
    expect(text).not.toContain('过敏史')
    expect(text).not.toContain('身份证号')
  })

  it('names a field so the server matches that very field when two share a label', () => {
    const fields: FieldDef[] = [
      { name: 'phone', type: 'phone', label: { zh: '电话', en: 'Phone' } },
      { name: 'home_phone', type: 'phone', label: { zh: '电话', en: 'Home phone' } },
      { name: 'work_phone', type: 'phone', label: { zh: '电话', en: 'phone' } },
    ]
    expect(templateHeader(fields[0]!, fields)).toBe('电话')
    expect(templateHeader(fields[1]!, fields)).toBe('Home phone')
    expect(templateHeader(fields[2]!, fields)).toBe('work_phone')
  })

  it('quotes a label holding a comma or a quote', () => {
    expect(csvCell('身高,体重')).toBe('"身高,体重"')
    expect(csvCell('他说"好"')).toBe('"他说""好"""')
    expect(csvCell('姓名')).toBe('姓名')
  })

  it('downloads as UTF-8 bytes starting with the BOM Excel looks for', async () => {
    const blob = templateBlob(importableFields(patient, admin), patient.fields)
    const bytes = new Uint8Array(await blob.arrayBuffer())
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf])
    expect(blob.type).toContain('text/csv')
  })
})
