import { mount } from '@vue/test-utils'
import { ElSelect } from 'element-plus'
import { describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { admin, patient } from '@/test/fixtures'
import { settle } from '@/test/mount'
import { importableFields, type ColumnChoice } from '../columnMapping'
import ImportMappingStep from './ImportMappingStep.vue'

describe('the column mapping step', () => {
  it('flags two columns on one field until the user ignores one, and warns of a missing required field', async () => {
    let choices: ColumnChoice[] = [
      { column: '电话', field: 'phone', source: 'user' },
      { column: '手机号', field: 'phone', source: 'exact' },
    ]
    const wrapper = mount(ImportMappingStep, {
      props: {
        modelValue: choices,
        'onUpdate:modelValue': (v: ColumnChoice[]) => {
          choices = v
          void wrapper.setProps({ modelValue: v })
        },
        samples: [['13812345678'], ['13900000000', '13700000000']],
        entityLabel: '患者',
        importable: importableFields(patient, admin),
        language: 'zh-CN',
      },
      global: { plugins: [i18n] },
    })
    await settle()
    expect(wrapper.find('[data-test="mapping-duplicate"]').text()).toContain('字段“手机号”同时对应了多列（电话、手机号）')
    expect(wrapper.find('[data-test="import-mapping"]').text()).toContain('13900000000、13700000000')
    expect(wrapper.find('[data-test="mapping-missing"]').text()).toContain('姓名')

    wrapper.findAllComponents(ElSelect)[0]!.vm.$emit('update:modelValue', ' ignore')
    await settle()
    expect(choices[0]).toEqual({ column: '电话', field: null, source: 'user' })
    expect(wrapper.find('[data-test="mapping-duplicate"]').exists()).toBe(false)

    wrapper.findAllComponents(ElSelect)[0]!.vm.$emit('update:modelValue', 'name')
    await settle()
    expect(choices[0]).toEqual({ column: '电话', field: 'name', source: 'user' })
    expect(wrapper.find('[data-test="mapping-missing"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('手动选择')
  })
})
