import { describe, expect, it } from 'vitest'
import type { EntityInfo } from '@/api/types'
import { fieldNaming } from './designerContext'
import { allFields, buildDefinition, draftFromDefinition, findField, insertField, removeField, setFieldLabel } from './draft'
import { rebaseDraft } from './rebase'

const OTHER = { zh: '其他', en: 'Other' }

const base: EntityInfo = {
  name: 'patient',
  version: 2,
  label: { zh: '患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名' }, required: true },
    { name: 'phone', type: 'phone', label: { zh: '手机号' } },
    { name: 'note', type: 'textarea', label: { zh: '备注' } },
    { name: 'vip', type: 'boolean', label: { zh: 'VIP' } },
  ],
  layout: [
    { section: { zh: '基本信息' }, columns: 2, fields: ['name', 'phone'] },
    { section: { zh: '会员' }, columns: 2, fields: ['note', 'vip'] },
  ],
}

/** Someone else's version 3: renamed 手机号, removed 备注, added 科室 to 基本信息. */
const theirs: EntityInfo = {
  ...base,
  version: 3,
  label: { zh: '门诊患者', en: 'Patient' },
  fields: [
    { name: 'name', type: 'text', label: { zh: '姓名' }, required: true },
    { name: 'phone', type: 'phone', label: { zh: '联系电话' } },
    { name: 'vip', type: 'boolean', label: { zh: 'VIP' } },
    { name: 'dept', type: 'select', label: { zh: '科室' }, options: [{ value: 'cardiology' }] },
  ],
  layout: [
    { section: { zh: '基本信息' }, columns: 2, fields: ['name', 'phone', 'dept'] },
    { section: { zh: '会员' }, columns: 2, fields: ['vip'] },
  ],
}

describe('re-applying my changes on their version', () => {
  it('keeps what I changed, takes what only they changed, and shows what they added', () => {
    const mine = draftFromDefinition(base, 2, OTHER)
    const name = allFields(mine).find((f) => f.def.name === 'name')!
    setFieldLabel(mine, name.key, 'zh', '患者姓名')
    const vip = allFields(mine).find((f) => f.def.name === 'vip')!
    removeField(mine, vip.key)
    const added = insertField(mine, mine.sections[1]!.key, 0, 'money', fieldNaming)!

    rebaseDraft(mine, base, theirs)
    const definition = buildDefinition(mine)
    expect(definition.version).toBe(3)
    expect(definition.label).toEqual({ zh: '门诊患者', en: 'Patient' })
    const byName = new Map(definition.fields.map((f) => [f.name, f]))
    expect(byName.get('name')?.label).toEqual({ zh: '患者姓名' })
    expect(byName.get('phone')?.label).toEqual({ zh: '联系电话' })
    expect(byName.has('note')).toBe(false)
    expect(byName.has('vip')).toBe(false)
    expect(byName.get('dept')?.options).toEqual([{ value: 'cardiology' }])
    expect(definition.layout?.[0]?.fields).toEqual(['name', 'phone', 'dept'])
    expect(byName.has(added.def.name)).toBe(true)
    expect(findField(mine, added.key)?.field.saved).toBe(false)
    expect(allFields(mine).find((f) => f.def.name === 'dept')?.saved).toBe(true)
  })

  it('keeps a field they removed when I changed it', () => {
    const mine = draftFromDefinition(base, 2, OTHER)
    const note = allFields(mine).find((f) => f.def.name === 'note')!
    note.def.max_length = 500
    rebaseDraft(mine, base, theirs)
    expect(buildDefinition(mine).fields.find((f) => f.name === 'note')?.max_length).toBe(500)
  })
})
