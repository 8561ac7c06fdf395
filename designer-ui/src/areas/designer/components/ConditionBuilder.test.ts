import { flushPromises, mount } from '@vue/test-utils'
import { ElSelect } from 'element-plus'
import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { patient } from '@/test/fixtures'
import { eventually } from '@/test/mount'
import { conditionFields } from '../conditions'
import ConditionBuilder from './ConditionBuilder.vue'

function mountBuilder(rule: unknown) {
  return mount(ConditionBuilder, {
    props: { modelValue: rule, fields: conditionFields(patient.fields, 'pregnant'), language: 'zh-CN', testId: 'rule' },
    global: { plugins: [i18n] },
    attachTo: document.body,
  })
}

const lastRule = (wrapper: ReturnType<typeof mountBuilder>) => wrapper.emitted('update:modelValue')?.at(-1)?.[0]

describe('the condition builder', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('builds a rule from a field, an operator and a value that suit the field', async () => {
    const wrapper = mountBuilder(undefined)
    expect(wrapper.text()).toContain('始终')
    await wrapper.find('[data-test="condition-add"]').trigger('click')
    const selects = () => wrapper.findAllComponents(ElSelect)
    selects()[0]!.vm.$emit('update:modelValue', 'sex')
    await flushPromises()
    expect(lastRule(wrapper)).toEqual({ field: 'sex', op: 'eq', value: 'F' })
    // The value is one of the field's options.
    selects()[2]!.vm.$emit('update:modelValue', 'M')
    await flushPromises()
    expect(lastRule(wrapper)).toEqual({ field: 'sex', op: 'eq', value: 'M' })
    selects()[1]!.vm.$emit('update:modelValue', 'in')
    await flushPromises()
    expect(lastRule(wrapper)).toEqual({ field: 'sex', op: 'in', value: [] })
  })

  it('joins several conditions with all or any, and drops the rule with its last condition', async () => {
    const wrapper = mountBuilder({ field: 'closed', op: 'eq', value: true })
    await wrapper.find('[data-test="condition-add"]').trigger('click')
    const rows = () => wrapper.findAll('[data-test="condition-row"]')
    expect(rows()).toHaveLength(2)
    rows()[1]!.findComponent(ElSelect).vm.$emit('update:modelValue', 'total_spent')
    await flushPromises()
    expect(lastRule(wrapper)).toEqual({
      and: [
        { field: 'closed', op: 'eq', value: true },
        { field: 'total_spent', op: 'eq', value: 0 },
      ],
    })
    wrapper.findAllComponents(ElSelect)[0]!.vm.$emit('update:modelValue', 'any')
    await flushPromises()
    expect(lastRule(wrapper)).toHaveProperty('or')
    await rows()[1]!.find('button').trigger('click')
    await rows()[0]!.find('button').trigger('click')
    expect(lastRule(wrapper)).toBeUndefined()
  })

  it('keeps a rule richer than rows in JSON, and reports JSON that does not parse', async () => {
    const wrapper = mountBuilder({ not: { field: 'sex', op: 'eq', value: 'F' } })
    expect(wrapper.text()).toContain('这个条件较复杂，只能以 JSON 编辑')
    const raw = wrapper.find('[data-test="rule"] textarea')
    expect(JSON.parse((raw.element as HTMLTextAreaElement).value)).toEqual({ not: { field: 'sex', op: 'eq', value: 'F' } })
    await raw.setValue('{"field": "sex", "op": ')
    await eventually(() => expect(wrapper.text()).toContain('不是有效的 JSON'))
    expect(wrapper.emitted('update:modelValue')).toBeUndefined()
    await raw.setValue('{"field": "sex", "op": "ne", "value": "M"}')
    expect(lastRule(wrapper)).toEqual({ field: 'sex', op: 'ne', value: 'M' })
  })
})
