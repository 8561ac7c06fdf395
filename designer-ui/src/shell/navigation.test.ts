import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { useEntitiesStore } from '@/stores/entities'
import { useSessionStore } from '@/stores/session'
import { admin, nurse, patient } from '@/test/fixtures'
import { buildAccountMenu, buildNavigation } from './navigation'

const visit = { name: 'visit', version: 1, label: { zh: '就诊', en: 'Visit' }, fields: [{ name: 'at', type: 'date' as const }] }

function menusFor(me: typeof nurse, language: 'zh-CN' | 'en' = 'zh-CN') {
  const session = useSessionStore()
  session.me = me
  session.status = 'signed_in'
  const entities = useEntitiesStore()
  entities.items = [patient, visit]
  entities.loaded = true
  return buildNavigation({ session, entities, language, t: (k) => i18n.global.t(k) })
}

describe('the top bar', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('lists under 数据 only the entities the user may read', () => {
    const menus = menusFor(nurse)
    expect(menus.map((m) => m.section)).toEqual(['workbench', 'data'])
    expect(menus[1]!.items.map((i) => i.label)).toEqual(['患者'])
    expect(menus[1]!.items[0]!.to).toEqual({ name: 'records-list', params: { entity: 'patient' } })
  })

  it('names entities in the chosen language', () => {
    expect(menusFor(admin, 'en')[1]!.items.map((i) => i.label)).toEqual(['Patient', 'Visit'])
  })

  it('shows 设计 → 表单 and 管理 with the pages the user’s system rights open', () => {
    const menus = menusFor(admin)
    expect(menus.map((m) => m.section)).toEqual(['workbench', 'data', 'design', 'admin'])
    expect(menus[2]!.items.map((i) => i.label)).toEqual(['表单'])
    expect(menus[2]!.items[0]!.to).toEqual({ name: 'designer-forms' })
    expect(menus[3]!.items.map((i) => i.label)).toEqual(['用户', '角色'])
    const userManager = menusFor({ ...nurse, rights: ['users'] })
    expect(userManager.find((m) => m.section === 'admin')!.items.map((i) => i.to)).toEqual([{ name: 'admin-users' }])
    expect(menusFor(nurse).map((m) => m.section)).not.toContain('admin')
  })

  it('puts everyone’s own API tokens in the user menu', () => {
    const session = useSessionStore()
    session.me = nurse
    session.status = 'signed_in'
    const items = buildAccountMenu({ session, entities: useEntitiesStore(), language: 'zh-CN', t: (k) => i18n.global.t(k) })
    expect(items.map((i) => [i.label, i.to])).toEqual([['我的 API 令牌', { name: 'account-tokens' }]])
  })

  it('shows 设计 to whoever may design one entity or create entities, and to nobody else', () => {
    expect(menusFor(nurse).map((m) => m.section)).not.toContain('design')
    const designer = { ...nurse, permissions: [...nurse.permissions, { entity: 'visit', actions: ['design' as const] }] }
    expect(menusFor(designer).map((m) => m.section)).toContain('design')
    expect(menusFor({ ...nurse, rights: ['new_entity'] }).map((m) => m.section)).toContain('design')
  })

  it('leaves 数据 out for a user who may read nothing', () => {
    expect(menusFor({ ...nurse, permissions: [] }).map((m) => m.section)).toEqual(['workbench'])
  })
})
