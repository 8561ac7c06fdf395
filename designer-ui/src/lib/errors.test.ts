import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/errors'
import { i18n } from '@/i18n'
import { describeError, fieldErrorsOf, inLanguage } from './errors'

describe('server messages in both languages', () => {
  it('keep the half in the user’s language, after the server’s own prefix', () => {
    const refusal = '没有权限：only administrators manage administrators / 只有管理员可以管理管理员'
    expect(inLanguage(refusal, 'zh-CN')).toBe('没有权限：只有管理员可以管理管理员')
    const english = 'Forbidden: role x grants right users, which you do not hold / 角色 x 含有您不具备的权限'
    expect(inLanguage(english, 'en')).toBe('Forbidden: role x grants right users, which you do not hold')
    const lastAdmin = '至少须保留一名启用的管理员 / The last active administrator cannot be demoted, disabled or deleted'
    expect(inLanguage(lastAdmin, 'zh-CN')).toBe('至少须保留一名启用的管理员')
    expect(inLanguage(lastAdmin, 'en')).toBe('The last active administrator cannot be demoted, disabled or deleted')
    expect(inLanguage("用户名须为 1 到 64 个字母、数字或 . _ - / User names are 1 to 64 letters, digits, '.', '_' or '-'", 'zh-CN')).toBe(
      '用户名须为 1 到 64 个字母、数字或 . _ -',
    )
  })

  it('leave other messages as they are', () => {
    expect(inLanguage('记录已被他人修改（当前版本 3），请刷新后重试', 'en')).toBe('记录已被他人修改（当前版本 3），请刷新后重试')
    expect(inLanguage('a / b / c', 'zh-CN')).toBe('a / b / c')
    expect(inLanguage('科室 A / 科室 B', 'en')).toBe('科室 A / 科室 B')
  })

  it('are shown that way by the one presenter, field errors included', () => {
    i18n.global.locale.value = 'zh-CN'
    const e = new ApiError(400, 'bad_request', '密码长度须为 8 到 256 个字符 / Password must be 8 to 256 characters', [
      { field: 'password', code: 'password_length', message: '密码长度须为 8 到 256 个字符 / Password must be 8 to 256 characters' },
    ])
    expect(describeError(e)).toBe('密码长度须为 8 到 256 个字符')
    expect(fieldErrorsOf(e)).toEqual({ password: '密码长度须为 8 到 256 个字符' })
    i18n.global.locale.value = 'en'
    expect(describeError(e)).toBe('Password must be 8 to 256 characters')
    i18n.global.locale.value = 'zh-CN'
  })
})
