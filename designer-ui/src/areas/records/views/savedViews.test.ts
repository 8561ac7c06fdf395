import { describe, expect, it } from 'vitest'
import type { ListState } from '../listState'
import { appliedList, captureState, readState, sameState, stateJson, unseenFields } from './savedViews'

const list: ListState = {
  page: 3,
  perPage: 100,
  sort: '-total_spent',
  q: ' 张 ',
  filters: { dept: { options: ['cardiology'] }, name: { text: '' } },
  bin: false,
}

describe('a saved list view', () => {
  it('keeps search, filters, sort, columns and page size, and reads back the same', () => {
    const saved = captureState(list, ['name', 'dept'])
    expect(saved).toEqual({ q: '张', filters: { dept: { options: ['cardiology'] } }, sort: '-total_spent', columns: ['name', 'dept'], perPage: 100 })
    const stored = JSON.parse(JSON.stringify(stateJson(saved))) as unknown
    expect(stored).toMatchObject({ v: 1 })
    expect(readState(stored)).toEqual(saved)
    expect(sameState(readState(stored), captureState({ ...list, page: 1 }, ['name', 'dept']))).toBe(true)
    expect(sameState(readState(stored), captureState(list, null))).toBe(false)
  })

  it('reads what it cannot understand as the default list', () => {
    expect(readState({ q: 3, filters: [1], sort: null, columns: ['name', 4], perPage: 7 })).toEqual({
      q: '',
      filters: {},
      sort: '',
      columns: null,
      perPage: 50,
    })
    expect(readState('nonsense')).toEqual(readState({}))
  })

  it('applies to the list from its first page, out of the recycle bin', () => {
    const saved = readState({ q: '李', filters: { vip: { flag: true } }, sort: 'name', perPage: 20 })
    expect(appliedList({ ...list, bin: true }, saved)).toEqual({
      page: 1,
      perPage: 20,
      sort: 'name',
      q: '李',
      filters: { vip: { flag: true } },
      bin: false,
    })
  })

  it('names the fields it filters or sorts on that the user no longer sees', () => {
    const saved = readState({ filters: { allergies: { text: '青霉素' }, dept: { options: ['x'] } }, sort: '-seen_at,updated_at' })
    expect(unseenFields(saved, new Set(['dept', 'name']))).toEqual(['allergies', 'seen_at'])
    expect(unseenFields(saved, new Set(['dept', 'allergies', 'seen_at']))).toEqual([])
  })
})
