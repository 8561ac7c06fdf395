import { describe, expect, it } from 'vitest'
import { identifierProblem, proposeIdentifier, slugify } from './identifiers'

describe('identifiers', () => {
  it('are slugs the engine accepts: lowercase ASCII, single underscores, a letter first, at most 28', () => {
    expect(identifierProblem('birth_date')).toBeNull()
    expect(identifierProblem('a1')).toBeNull()
    expect(identifierProblem('')).toBe('empty')
    expect(identifierProblem('Birth')).toBe('format')
    expect(identifierProblem('1st')).toBe('format')
    expect(identifierProblem('a__b')).toBe('format')
    expect(identifierProblem('a_')).toBe('format')
    expect(identifierProblem('姓名')).toBe('format')
    expect(identifierProblem('a'.repeat(28))).toBeNull()
    expect(identifierProblem('a'.repeat(29))).toBe('too_long')
  })

  it('are made from English labels', () => {
    expect(slugify('Birth date')).toBe('birth_date')
    expect(slugify('  E-mail (work) ')).toBe('e_mail_work')
    expect(slugify('Café')).toBe('cafe')
    expect(slugify('2nd visit')).toBe('f_2nd_visit')
    expect(slugify('患者')).toBe('')
    expect(slugify('Total amount spent by the patient this year')).toBe('total_amount_spent_by_the')
    expect(identifierProblem(slugify('Total amount spent by the patient this year'))).toBeNull()
  })

  it('are proposed free of those taken, falling back when the label gives none', () => {
    expect(proposeIdentifier('Name', new Set(), 'text')).toBe('name')
    expect(proposeIdentifier('Name', new Set(['name']), 'text')).toBe('name_2')
    expect(proposeIdentifier('Name', new Set(['name', 'name_2']), 'text')).toBe('name_3')
    expect(proposeIdentifier('', new Set(), 'id_card')).toBe('id_card')
    expect(proposeIdentifier(undefined, new Set(['text']), 'text')).toBe('text_2')
    const long = proposeIdentifier('a'.repeat(28), new Set(['a'.repeat(28)]), 'text')
    expect(long).toBe(`${'a'.repeat(26)}_2`)
    expect(identifierProblem(long)).toBeNull()
  })
})
