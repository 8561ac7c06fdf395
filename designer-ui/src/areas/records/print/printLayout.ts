// A record on paper: each section of the definition as a grid of label/value pairs, as many per
// row as the section has columns (at most three fit an A4 page), long text on a row of its own.
import type { RecordData } from '@/api/types'
import type { EvalContext } from '@/lib/filterEval'
import { valueType } from '../fields'
import { isShown, type FormField, type FormSection } from '../formModel'

export const MAX_PAIRS_PER_ROW = 3

export interface PrintCell extends FormField {
  /** How many pair columns the cell spans. */
  span: number
}

export interface PrintSection {
  title: string
  /** Label/value pairs per row. */
  pairs: number
  rows: PrintCell[][]
}

function isWide(f: FormField): boolean {
  const type = valueType(f.field)
  return type === 'textarea' || type === 'attachment'
}

/** The sections as printed rows: fields `visible_if` hides on this record are left out. */
export function printSections(sections: FormSection[], values: RecordData, ctx: EvalContext): PrintSection[] {
  return sections.flatMap((section) => {
    const pairs = Math.min(Math.max(section.columns, 1), MAX_PAIRS_PER_ROW)
    const rows: PrintCell[][] = []
    let row: PrintCell[] = []
    const flush = () => {
      if (row.length === 0) return
      // The last pair of a short row takes the rest of it, so the grid has no hole.
      const last = row[row.length - 1]
      if (last) last.span += pairs - row.reduce((n, c) => n + c.span, 0)
      rows.push(row)
      row = []
    }
    for (const f of section.fields) {
      if (!isShown(f.field, values, ctx)) continue
      if (isWide(f)) {
        flush()
        rows.push([{ ...f, span: pairs }])
        continue
      }
      row.push({ ...f, span: 1 })
      if (row.length === pairs) flush()
    }
    flush()
    return rows.length > 0 ? [{ title: section.title, pairs, rows }] : []
  })
}
