import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { defineComponent, h, ref } from 'vue'
import type { Me, RecordData } from '@/api/types'
import { i18n } from '@/i18n'
import { useEntitiesStore } from '@/stores/entities'
import { usePreferencesStore } from '@/stores/preferences'
import { useSessionStore } from '@/stores/session'
import { admin, nurse, patient } from '@/test/fixtures'
import { eventually } from '@/test/mount'
import { formSections, initialValues } from '../formModel'
import RecordForm from './RecordForm.vue'

/** The form inside a parent holding its values and server errors, as the page does. */
function mountForm(me: Me, start: RecordData | null, errors: Record<string, string> = {}) {
  const pinia = createPinia()
  setActivePinia(pinia)
  usePreferencesStore().setLanguage('zh-CN')
  const session = useSessionStore()
  session.me = me
  session.status = 'signed_in'
  useEntitiesStore().items = [patient]
  const initial = initialValues(patient, start)
  const values = ref<RecordData>({ ...initial })
  const serverErrors = ref<Record<string, string>>(errors)
  const Host = defineComponent({
    setup() {
      return () =>
        h(RecordForm, {
          sections: formSections(patient, me, 'zh-CN', '其他'),
          initial,
          stored: start,
          language: 'zh-CN',
          editable: true,
          values: values.value,
          'onUpdate:values': (v: RecordData) => (values.value = v),
          serverErrors: serverErrors.value,
          'onUpdate:serverErrors': (v: Record<string, string>) => (serverErrors.value = v),
        })
    },
  })
  const wrapper = mount(Host, { global: { plugins: [pinia, i18n] }, attachTo: document.body })
  return { wrapper, values, serverErrors }
}

const item = (wrapper: ReturnType<typeof mount>, name: string) => wrapper.find(`[data-test="form-item-${name}"]`)

describe('the record form', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('renders the layout: sections, labels, columns, an input per field', async () => {
    const { wrapper } = mountForm(admin, null)
    await flushPromises()
    const titles = wrapper.findAll('.kd-record-form__section-title').map((t) => t.text())
    expect(titles).toEqual(['基本信息', '消费', '其他'])
    expect(item(wrapper, 'name').find('label').text()).toBe('姓名')
    expect(item(wrapper, 'name').classes()).toContain('is-required')
    expect(item(wrapper, 'name').find('input#field-name').exists()).toBe(true)
    expect(item(wrapper, 'total_spent').find('.el-input-number').exists()).toBe(true)
    expect(item(wrapper, 'dept').find('.el-select').exists()).toBe(true)
    expect(item(wrapper, 'birth_date').find('.el-date-editor').exists()).toBe(true)
    expect(item(wrapper, 'summary').find('textarea').exists()).toBe(true)
    expect(item(wrapper, 'closed').find('.el-switch').exists()).toBe(true)
    expect(item(wrapper, 'code').text()).toContain('保存时自动生成')
    // Two columns in 基本信息, one in 消费.
    expect(item(wrapper, 'name').element.parentElement?.className).toContain('el-col-12')
    expect(item(wrapper, 'total_spent').element.parentElement?.className).toContain('el-col-24')
  })

  it('shows the error under a bad ID number when the user leaves the field, and clears it when fixed', async () => {
    const { wrapper, values } = mountForm(admin, null)
    const input = item(wrapper, 'id_number').find('input')
    await input.setValue('11010519491231002Y')
    await input.trigger('blur')
    await flushPromises()
    expect(values.value.id_number).toBe('11010519491231002Y')
    await eventually(() => expect(item(wrapper, 'id_number').find('.el-form-item__error').text()).toBe('身份证号 应为 18 位身份证号'))
    await input.setValue('11010519491231002X')
    await eventually(() => expect(item(wrapper, 'id_number').classes()).not.toContain('is-error'))
  })

  it('checks required fields on save and says which', async () => {
    const { wrapper } = mountForm(admin, null)
    const form = wrapper.findComponent(RecordForm)
    expect((form.vm as unknown as { validate: () => boolean }).validate()).toBe(false)
    await eventually(() => expect(item(wrapper, 'name').find('.el-form-item__error').text()).toBe('姓名 为必填项'))
  })

  it('applies visible_if as the values change', async () => {
    const { wrapper, values } = mountForm(admin, { name: '赵六', sex: 'M' })
    await flushPromises()
    expect(item(wrapper, 'pregnant').exists()).toBe(false)
    values.value = { ...values.value, sex: 'F' }
    await flushPromises()
    expect(item(wrapper, 'pregnant').exists()).toBe(true)
  })

  it('applies readonly_if on the stored record', async () => {
    const closed = mountForm(admin, { name: '赵六', closed: true, summary: '已随访三次' })
    await flushPromises()
    expect(item(closed.wrapper, 'summary').find('textarea').exists()).toBe(false)
    expect(item(closed.wrapper, 'summary').text()).toContain('已随访三次')
    closed.wrapper.unmount()
    const open = mountForm(admin, { name: '赵六', closed: false })
    await flushPromises()
    expect(item(open.wrapper, 'summary').find('textarea').exists()).toBe(true)
  })

  it('shows a hidden field nowhere and a masked one masked and read-only', async () => {
    const { wrapper } = mountForm(nurse, { name: '张三', id_number: '110105********002X', allergies: '青霉素' })
    await flushPromises()
    expect(item(wrapper, 'allergies').exists()).toBe(false)
    expect(wrapper.text()).not.toContain('青霉素')
    expect(item(wrapper, 'id_number').find('input').exists()).toBe(false)
    expect(item(wrapper, 'id_number').text()).toContain('110105********002X')
    // Masked (not read) for the nurse: no unmask action.
    expect(item(wrapper, 'id_number').text()).not.toContain('显示')
  })

  it('places server errors on their fields and drops one when its field changes', async () => {
    const { wrapper, serverErrors } = mountForm(admin, null, { phone: '手机号 已被占用' })
    await eventually(() => expect(item(wrapper, 'phone').find('.el-form-item__error').text()).toBe('手机号 已被占用'))
    await item(wrapper, 'phone').find('input').setValue('13912345678')
    await flushPromises()
    expect(serverErrors.value).toEqual({})
    await eventually(() => expect(item(wrapper, 'phone').classes()).not.toContain('is-error'))
  })
})

describe('the record form with layout tabs', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  const tabbed = {
    ...patient,
    layout: [
      { section: { zh: '基本信息' }, columns: 2, tab: { zh: '基本资料', en: 'Profile' }, fields: ['name', 'id_number', 'phone'] },
      { section: { zh: '消费' }, columns: 1, tab: { zh: '会员', en: 'Membership' }, fields: ['total_spent'] },
      { section: { zh: '联系' }, columns: 1, tab: { zh: '基本资料', en: 'Profile' }, fields: ['dept'] },
    ],
  }

  function mountTabbed() {
    const pinia = createPinia()
    setActivePinia(pinia)
    usePreferencesStore().setLanguage('zh-CN')
    const session = useSessionStore()
    session.me = admin
    session.status = 'signed_in'
    useEntitiesStore().items = [tabbed]
    const values = ref<RecordData>(initialValues(tabbed, null))
    const Host = defineComponent({
      setup() {
        return () =>
          h(RecordForm, {
            sections: formSections(tabbed, admin, 'zh-CN', '其他'),
            initial: {},
            stored: null,
            language: 'zh-CN',
            editable: true,
            values: values.value,
            'onUpdate:values': (v: RecordData) => (values.value = v),
            serverErrors: {},
          })
      },
    })
    return mount(Host, { global: { plugins: [pinia, i18n] }, attachTo: document.body })
  }

  it('shows sections sharing a tab under it, the first tab first, and the others when chosen', async () => {
    const wrapper = mountTabbed()
    await flushPromises()
    const tabs = () => wrapper.findAll('[data-test="form-tabs"] .el-tabs__item')
    expect(tabs().map((t) => t.text())).toEqual(['基本资料', '会员'])
    const titles = () => wrapper.findAll('.kd-record-form__section-title').map((t) => t.text())
    // Fields in no section follow, outside the tabs.
    expect(titles()).toEqual(['基本信息', '联系', '其他'])
    await tabs()[1]!.trigger('click')
    await flushPromises()
    expect(titles()).toEqual(['消费', '其他'])
    expect(wrapper.find('[data-test="form-tabs"] .el-tabs__item.is-active').text()).toBe('会员')
  })

  it('brings forward the tab of the first field in error', async () => {
    const wrapper = mountTabbed()
    await flushPromises()
    await wrapper.findAll('[data-test="form-tabs"] .el-tabs__item')[1]!.trigger('click')
    await flushPromises()
    const form = wrapper.findComponent(RecordForm)
    expect((form.vm as unknown as { validate: () => boolean }).validate()).toBe(false)
    await flushPromises()
    await eventually(() => expect(item(wrapper, 'name').find('.el-form-item__error').text()).toBe('姓名 为必填项'))
    expect(wrapper.find('[data-test="form-tabs"] .el-tabs__item.is-active').text()).toBe('基本资料')
  })
})
