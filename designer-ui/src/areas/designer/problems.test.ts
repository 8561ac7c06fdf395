import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/errors'
import { fieldNaming } from './designerContext'
import { addSection, definitionKeys, insertField, newDraft, setFieldName } from './draft'
import { localProblems, messageAt, placeOfPath, problemsFromError, problemsOfField } from './problems'

function draftWithFields() {
  const draft = newDraft('patient', { zh: '患者' }, { zh: '基本信息' })
  const s0 = draft.sections[0]!.key
  const name = insertField(draft, s0, 0, 'text', fieldNaming)!
  const dept = insertField(draft, s0, 1, 'select', fieldNaming)!
  const second = addSection(draft, { zh: '会员' })
  const note = insertField(draft, second.key, 0, 'textarea', fieldNaming)!
  return { draft, name, dept, note, second }
}

describe('problems of the draft', () => {
  it('are placed by the path the server names, through the keys the definition was built from', () => {
    const { draft, name, dept, note, second } = draftWithFields()
    const keys = definitionKeys(draft)
    expect(placeOfPath('fields.0.name', keys)).toEqual({ kind: 'field', fieldKey: name.key, property: 'name' })
    expect(placeOfPath('fields.1.options.2.value', keys)).toEqual({ kind: 'field', fieldKey: dept.key, property: 'options.2.value' })
    expect(placeOfPath('fields.2', keys)).toEqual({ kind: 'field', fieldKey: note.key, property: 'general' })
    expect(placeOfPath('layout.1.tab', keys)).toEqual({ kind: 'section', sectionKey: second.key, property: 'tab' })
    expect(placeOfPath('fields', keys)).toEqual({ kind: 'form', property: 'fields' })
    expect(placeOfPath('fields.9.name', keys)).toEqual({ kind: 'form', property: 'fields.9.name' })
    expect(placeOfPath('department_field', keys)).toEqual({ kind: 'form', property: 'department_field' })
    // A save refused for shared values names the field by its identifier.
    expect(placeOfPath(note.def.name, keys)).toEqual({ kind: 'field', fieldKey: note.key, property: 'unique' })
  })

  it('come from a refused check: every detail, or the answer itself when it names none', () => {
    const { draft, name, dept } = draftWithFields()
    const keys = definitionKeys(draft)
    const refused = new ApiError(400, 'bad_request', '实体定义有 2 处错误', [
      { field: 'fields.0.name', code: 'duplicate_field', message: '字段名 text 重复' },
      { field: 'fields.1.options', code: 'required', message: 'select 类型的字段必须设置 options' },
    ])
    const problems = problemsFromError(refused, keys)
    expect(problemsOfField(problems, name.key).map((p) => p.message)).toEqual(['字段名 text 重复'])
    expect(messageAt(problemsOfField(problems, dept.key), 'options')).toBe('select 类型的字段必须设置 options')
    // Server wording that names the definition's keys is put in staff's words.
    const reworded = problemsFromError(refused, keys, (code, property) => (code === 'required' && property === 'options' ? '请至少添加一个选项' : null))
    expect(messageAt(problemsOfField(reworded, dept.key), 'options')).toBe('请至少添加一个选项')
    expect(problemsFromError(new ApiError(409, 'conflict', '实体 patient 已存在'), keys)).toEqual([
      { place: { kind: 'form', property: 'name' }, code: 'conflict', message: '实体 patient 已存在' },
    ])
    expect(problemsFromError(new ApiError(403, 'forbidden', '没有权限'), keys)[0]!.place).toEqual({ kind: 'form', property: 'general' })
  })

  it('include identifiers that are not slugs, found before the server is asked', () => {
    const { draft, name } = draftWithFields()
    const describe = (p: string, subject: string, n: string) => `${subject}:${p}:${n}`
    expect(localProblems(draft, describe)).toEqual([])
    setFieldName(draft, name.key, 'Full Name')
    draft.name = ''
    expect(localProblems(draft, describe)).toEqual([
      { place: { kind: 'form', property: 'name' }, code: 'identifier_empty', message: 'entity:empty:' },
      { place: { kind: 'field', fieldKey: name.key, property: 'name' }, code: 'identifier_format', message: 'field:format:Full Name' },
    ])
  })
})
