import { describe, expect, it } from 'vitest'
import { queryFromState, sortFromTable, stateFromQuery, tableSortOf } from './listState'

describe('a list in the address', () => {
  it('round-trips page, size, sort, search, filters and the recycle bin', () => {
    const state = {
      page: 3,
      perPage: 100,
      sort: '-total_spent',
      q: '张',
      filters: { dept: { options: ['cardiology'] }, name: { text: '' } },
      bin: true,
    }
    const query = queryFromState(state)
    expect(query).toEqual({
      page: '3',
      per_page: '100',
      sort: '-total_spent',
      q: '张',
      f: '{"dept":{"options":["cardiology"]}}',
      bin: '1',
    })
    expect(stateFromQuery(query as Record<string, string>)).toEqual({ ...state, filters: { dept: { options: ['cardiology'] } } })
  })

  it('falls back to the defaults on nonsense', () => {
    expect(stateFromQuery({ page: '-2', per_page: '7', f: '{not json' })).toEqual({
      page: 1,
      perPage: 50,
      sort: '',
      q: '',
      filters: {},
      bin: false,
    })
    expect(queryFromState(stateFromQuery({}))).toEqual({})
  })

  it('speaks the server sort syntax to the table and back', () => {
    expect(sortFromTable('name', 'ascending')).toBe('name')
    expect(sortFromTable('name', 'descending')).toBe('-name')
    expect(sortFromTable('name', null)).toBe('')
    expect(tableSortOf('-updated_at,name')).toEqual({ prop: 'updated_at', order: 'descending' })
    expect(tableSortOf('')).toBeUndefined()
  })
})
