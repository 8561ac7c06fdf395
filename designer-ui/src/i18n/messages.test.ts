// Every visible string comes from the message files: each key is in both languages, and every
// key the code names exists.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LANGUAGES, messages } from '.'

function keysOf(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null) return [prefix]
  return Object.entries(value).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k))
}

function lookup(tree: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined), tree)
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'i18n' ? [] : sourceFiles(path)
    return /\.(vue|ts)$/.test(name) && !name.endsWith('.test.ts') && !name.endsWith('.d.ts') ? [path] : []
  })
}

describe('message files', () => {
  const zh = new Set(keysOf(messages['zh-CN']))
  const en = new Set(keysOf(messages.en))

  it('have the same keys in Chinese and English', () => {
    expect([...zh].filter((k) => !en.has(k))).toEqual([])
    expect([...en].filter((k) => !zh.has(k))).toEqual([])
  })

  it('have no empty message', () => {
    for (const language of LANGUAGES) {
      const blank = keysOf(messages[language]).filter((k) => String(lookup(messages[language], k)).trim() === '')
      expect(blank, language).toEqual([])
    }
  })

  it('hold every key the code names', () => {
    const root = join(__dirname, '..')
    const named = new Set<string>()
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/\bt\(\s*'([A-Za-z0-9_.-]+)'/g)) named.add(m[1]!)
      for (const m of text.matchAll(/titleKey: '([A-Za-z0-9_.-]+)'/g)) named.add(m[1]!)
    }
    expect(named.size).toBeGreaterThan(50)
    expect([...named].filter((k) => !zh.has(k))).toEqual([])
  })

  it('name every top-bar section, language and field check the code builds keys for', () => {
    const dynamic = [
      ...['workbench', 'data', 'design', 'admin'].map((s) => `nav.${s}`),
      ...LANGUAGES.map((l) => `languages.${l}`),
    ]
    expect(dynamic.filter((k) => !zh.has(k))).toEqual([])
  })
})
