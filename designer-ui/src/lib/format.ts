// How values look on screen: money as ¥1,234.50, dates as 2026-12-02, instants in local time.
import { formatLocalDateTime } from './dates'

const moneyFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 6 })
const countFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

export function formatMoney(value: number): string {
  const text = moneyFormat.format(Math.abs(value))
  return value < 0 ? `-¥${text}` : `¥${text}`
}

export function formatNumber(value: number): string {
  return numberFormat.format(value)
}

export function formatCount(value: number): string {
  return countFormat.format(value)
}

/**
 * An estimated total as staff read it: two significant digits and a plus, so 12,345 reads
 * "12,000+" and 1,001 "1,000+". The server sends an estimate only above 1,000.
 */
export function formatEstimate(value: number): string {
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(1, value))) - 1)
  return `${countFormat.format(Math.floor(value / magnitude) * magnitude)}+`
}

export function formatDateTime(value: string): string {
  return formatLocalDateTime(value)
}

/** A file's size as people read it: 812 B, 12.3 KB, 4.5 MB. */
export function formatFileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 100 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}
