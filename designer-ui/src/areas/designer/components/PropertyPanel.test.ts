import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { defineComponent, h, ref } from 'vue'
import type { FieldType } from '@/api/types'
import { i18n, type Language } from '@/i18n'
import { patient } from '@/test/fixtures'
import { eventually } from '@/test/mount'
import { fieldNaming, provideDesigner, type Selection } from '../designerContext'
import { allFields, draftFromDefinition, insertField, newDraft, type FormDraft } from '../draft'
import type { Problem } from '../problems'
import PropertyPanel from './PropertyPanel.vue'

function mountPanel(draft: FormDraft, selection: Selection, problems: Problem[] = []) {
  setActivePinia(createPinia())
  const draftRef = ref(draft)
  const selectionRef = ref(selection)
  const Host = defineComponent({
    setup() {
      provideDesigner({
        draft: draftRef,
        selection: selectionRef,
        problems: ref(problems),
        language: ref<Language>('zh-CN'),
        entities: ref([patient]),
      })
      return () => h(PropertyPanel)
    },
  })
  const wrapper = mount(Host, { global: { plugins: [i18n] }, attachTo: document.body })
  return { wrapper, draft: draftRef, selection: selectionRef }
}

function withField(type: FieldType) {
  const draft = newDraft('visit', { zh: '就诊' }, { zh: '基本信息' })
  const field = insertField(draft, draft.sections[0]!.key, 0, type, fieldNaming)!
  return { draft, field }
}

const labels = (wrapper: ReturnType<typeof mount>) => wrapper.findAll('.el-form-item__label, .el-checkbox__label').map((l) => l.text())

describe('the property panel', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('offers what each field type takes in the definition, and nothing else', () => {
    const text = mountPanel(...(({ draft, field }) => [draft, { kind: 'field', key: field.key }] as const)(withField('text')))
    expect(labels(text.wrapper)).toEqual(
      expect.arrayContaining(['标题', '英文标题', '标识', '填写说明', '必填', '不允许重复', '建立索引（常用于筛选、排序）', '敏感信息（加密保存，默认打码显示）', '默认值', '最少字符数', '最多字符数', '格式（正则表达式）', '显示条件', '只读条件']),
    )
    expect(labels(text.wrapper)).not.toContain('选项')
    expect(labels(text.wrapper)).not.toContain('最小值')
    text.wrapper.unmount()

    const money = withField('money')
    const m = mountPanel(money.draft, { kind: 'field', key: money.field.key })
    expect(labels(m.wrapper)).toEqual(expect.arrayContaining(['最小值', '最大值', '默认值']))
    expect(labels(m.wrapper)).not.toContain('格式（正则表达式）')
    expect(labels(m.wrapper)).not.toContain('敏感信息（加密保存，默认打码显示）')
    m.wrapper.unmount()

    const formula = withField('formula')
    const f = mountPanel(formula.draft, { kind: 'field', key: formula.field.key })
    expect(labels(f.wrapper)).toEqual(expect.arrayContaining(['公式', '计算结果类型']))
    expect(labels(f.wrapper)).not.toContain('必填')
    expect(labels(f.wrapper)).not.toContain('默认值')
    expect(labels(f.wrapper)).not.toContain('只读条件')
    f.wrapper.unmount()

    const link = withField('reference')
    const r = mountPanel(link.draft, { kind: 'field', key: link.field.key })
    expect(labels(r.wrapper)).toContain('关联的表单')
  })

  it('edits the field: labels propose the identifier, checks set options, the default follows the type', async () => {
    const { draft, field } = withField('text')
    const { wrapper } = mountPanel(draft, { kind: 'field', key: field.key })
    await wrapper.find('input[data-test="prop-label-zh"]').setValue('姓名')
    await wrapper.find('input[data-test="prop-label-en"]').setValue('Full name')
    expect(field.def.name).toBe('full_name')
    await wrapper.find('[data-test="prop-required"] input').setValue(true)
    expect(field.def.required).toBe(true)
    await wrapper.find('[data-test="prop-required"] input').setValue(false)
    expect('required' in field.def).toBe(false)
    await wrapper.find('input[data-test="prop-pattern"]').setValue('^[一-龥]{2,4}$')
    expect(field.def.pattern).toBe('^[一-龥]{2,4}$')
    await wrapper.find('[data-test="prop-default"] input').setValue('无名氏')
    expect(field.def.default).toBe('无名氏')
    await wrapper.find('[data-test="prop-default"] input').setValue('')
    expect(field.def.default).toBeUndefined()
  })

  it('edits a choice field’s options, which start as two to rename, each value following its English name', async () => {
    const { draft, field } = withField('select')
    const { wrapper } = mountPanel(draft, { kind: 'field', key: field.key })
    expect(field.def.options).toEqual([
      { value: 'option_1', label: { zh: '选项 1', en: 'Option 1' }, color: '#409eff' },
      { value: 'option_2', label: { zh: '选项 2', en: 'Option 2' }, color: '#67c23a' },
    ])
    await wrapper.find('[data-test="option-0"] input[data-test="option-label-zh"]').setValue('心内科')
    await wrapper.find('[data-test="option-0"] input[data-test="option-label-en"]').setValue('Cardiology')
    await wrapper.find('[data-test="add-option"]').trigger('click')
    await wrapper.find('[data-test="option-2"] input[data-test="option-label-zh"]').setValue('骨科')
    expect(field.def.options).toEqual([
      { value: 'cardiology', label: { zh: '心内科', en: 'Cardiology' }, color: '#409eff' },
      { value: 'option_2', label: { zh: '选项 2', en: 'Option 2' }, color: '#67c23a' },
      { value: 'option_3', label: { zh: '骨科' }, color: '#e6a23c' },
    ])
    await wrapper.find('[data-test="option-2"] input[data-test="option-value"]').setValue('ortho')
    await wrapper.find('[data-test="option-2"] input[data-test="option-label-en"]').setValue('Orthopedics')
    // A value typed by hand no longer follows the English name.
    expect(field.def.options?.[2]?.value).toBe('ortho')
  })

  it('fixes a saved field’s identifier, sensitivity and option values', () => {
    const draft = draftFromDefinition(patient, 3, { zh: '其他' })
    const id = allFields(draft).find((f) => f.def.name === 'id_number')!
    const one = mountPanel(draft, { kind: 'field', key: id.key })
    expect(one.wrapper.find('input[data-test="prop-name"]').attributes('disabled')).toBeDefined()
    expect(one.wrapper.text()).toContain('字段已保存，标识不能修改。')
    expect(one.wrapper.find('[data-test="prop-sensitive"] input').attributes('disabled')).toBeDefined()
    one.wrapper.unmount()
    const dept = allFields(draft).find((f) => f.def.name === 'dept')!
    const two = mountPanel(draft, { kind: 'field', key: dept.key })
    expect(two.wrapper.find('[data-test="option-0"] input[data-test="option-value"]').attributes('disabled')).toBeDefined()
  })

  it('shows each problem under the property it names, and the others on top', async () => {
    const { draft, field } = withField('select')
    field.def.options = [{ value: '' }]
    const place = (property: string) => ({ kind: 'field' as const, fieldKey: field.key, property })
    const { wrapper } = mountPanel(draft, { kind: 'field', key: field.key }, [
      { place: place('name'), code: 'duplicate_field', message: '字段名 single_choice 重复' },
      { place: place('options.0.value'), code: 'empty_option', message: '选项值不能为空' },
      { place: place('type'), code: 'incompatible_change', message: '存储类型不能直接修改' },
    ])
    await eventually(() => expect(wrapper.find('[data-test="prop-name-item"] .el-form-item__error').text()).toBe('字段名 single_choice 重复'))
    expect(wrapper.find('[data-test="option-0"]').text()).toContain('选项值不能为空')
    expect(wrapper.find('.el-alert').text()).toContain('存储类型不能直接修改')
  })

  it('edits the selected section: title, columns, and a tab named once for every section on it', async () => {
    const draft = newDraft('visit', { zh: '就诊' }, { zh: '基本信息' })
    const { wrapper, selection } = mountPanel(draft, { kind: 'section', key: draft.sections[0]!.key })
    await wrapper.find('input[data-test="section-title-en"]').setValue('Basics')
    expect(draft.sections[0]!.title).toEqual({ zh: '基本信息', en: 'Basics' })
    await wrapper.findAll('[data-test="section-columns"] input')[2]!.setValue(true)
    expect(draft.sections[0]!.columns).toBe(3)
    expect(wrapper.find('input[data-test="section-tab-zh"]').exists()).toBe(false)
    selection.value = { kind: 'form' }
    await flushPromises()
    expect(wrapper.find('[data-test="form-properties"]').exists()).toBe(true)
    expect(wrapper.text()).toContain('0 个字段，1 个分区')
  })
})
