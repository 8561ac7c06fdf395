// The import template: a CSV of one header row, a column per field the user may fill, named by
// its Chinese label (the server matches labels), in UTF-8 with a BOM so Excel opens the Chinese
// correctly. Only the header: an example row would be imported as data.
import type { FieldDef } from '@/api/types'
import { defaultFieldFor } from './columnMapping'

/**
 * The header naming `field` in a file: its Chinese label, else English label, else name —
 * the first the server would match to this very field (two fields may share a label).
 */
export function templateHeader(field: FieldDef, allFields: FieldDef[]): string {
  const candidates = [field.label?.zh, field.label?.en, field.name].filter((c): c is string => !!c && c.trim() === c)
  return candidates.find((c) => defaultFieldFor(allFields, c)?.name === field.name) ?? field.name
}

/** One CSV cell: quoted when it holds a separator, a quote, a line break or edge spaces. */
export function csvCell(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export const UTF8_BOM = '\uFEFF'

/** The template's text: the BOM and the header row. */
export function templateCsv(importable: FieldDef[], allFields: FieldDef[]): string {
  return `${UTF8_BOM}${importable.map((f) => csvCell(templateHeader(f, allFields))).join(',')}\r\n`
}

export function templateBlob(importable: FieldDef[], allFields: FieldDef[]): Blob {
  return new Blob([templateCsv(importable, allFields)], { type: 'text/csv;charset=utf-8' })
}
