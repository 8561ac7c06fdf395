import { beforeEach, describe, expect, it, vi } from 'vitest'
import { json, nurse, patient } from '@/test/fixtures'
import { eventually, mountSignedIn } from '@/test/mount'

const ID = '0190c7d2-0000-7000-8000-000000000001'
const stored = {
  id: ID,
  entity: 'patient',
  version: 3,
  data: { name: '张三', id_number: '110105********002X', phone: '13812345678', dept: 'cardiology', total_spent: 1234.5, sex: 'M' },
  created_at: '2026-12-01T00:00:00Z',
  created_by: 'x',
  updated_at: '2026-12-02T00:00:00Z',
  updated_by: 'x',
}

describe('the print view', () => {
  beforeEach(() => {
    document.body.innerHTML = ''
  })

  it('lays the record out by its sections, masked values masked, with who printed it and when', async () => {
    // happy-dom has no print dialog.
    const print = vi.fn()
    Object.defineProperty(window, 'print', { value: print, configurable: true })
    const { wrapper, server } = await mountSignedIn({
      me: nurse,
      entities: [patient],
      route: `/records/patient/${ID}/print`,
      handlers: { [`GET /api/v1/records/patient/${ID}`]: () => json(200, stored) },
    })
    await eventually(() => expect(wrapper.find('[data-test="print-sheet"] h1').exists()).toBe(true))
    // Asked for as it is: no unmasking for paper.
    expect(server.calls[0]!.query.get('unmask')).toBeNull()
    const sheet = wrapper.find('[data-test="print-sheet"]')
    expect(sheet.find('h1').text()).toBe('患者信息表')
    expect(sheet.findAll('h2').map((h) => h.text())).toEqual(['基本信息', '消费', '其他'])
    expect(sheet.find('[data-test="print-id_number"]').text()).toBe('110105********002X')
    expect(sheet.find('[data-test="print-dept"]').text()).toBe('心内科')
    expect(sheet.find('[data-test="print-total_spent"]').text()).toBe('¥1,234.50')
    // Hidden from the nurse, so not on paper; nor a 显示 button.
    expect(sheet.text()).not.toContain('过敏史')
    expect(sheet.text()).not.toContain('显示')
    const footer = sheet.find('[data-test="print-footer"]').text()
    expect(footer).toContain('打印人：李护士')
    expect(footer).toMatch(/打印时间：\d{4}-\d{2}-\d{2} \d{2}:\d{2}/)

    await wrapper.find('[data-test="print"]').trigger('click')
    expect(print).toHaveBeenCalledOnce()
    // The top bar and the toolbar stay on screen only.
    expect(wrapper.find('.kd-no-print [data-test="print"]').exists()).toBe(true)
  })
})
