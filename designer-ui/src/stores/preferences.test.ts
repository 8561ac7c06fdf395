import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { i18n } from '@/i18n'
import { usePreferencesStore } from './preferences'

describe('the language', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
  })

  it('is Chinese unless the user chose otherwise', () => {
    expect(usePreferencesStore().language).toBe('zh-CN')
    expect(i18n.global.locale.value).toBe('zh-CN')
  })

  it('switches the messages and the page, and is remembered on this PC', () => {
    usePreferencesStore().setLanguage('en')
    expect(i18n.global.t('nav.workbench')).toBe('Workbench')
    expect(document.documentElement.lang).toBe('en')
    setActivePinia(createPinia())
    expect(usePreferencesStore().language).toBe('en')
    usePreferencesStore().setLanguage('zh-CN')
    expect(i18n.global.t('nav.workbench')).toBe('工作台')
  })

  it('ignores a stored value it does not know', () => {
    localStorage.setItem('kangdao.language', 'fr')
    expect(usePreferencesStore().language).toBe('zh-CN')
  })
})
