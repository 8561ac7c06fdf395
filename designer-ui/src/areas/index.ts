// Every area of the app: the workbench, records (数据), the form designer (设计 → 表单). Administration
// (管理 → 用户, 角色, 审计日志, …) joins here as `adminArea`, with its own folder, routes and
// message files (`i18n/<language>/<area>.ts`).
import type { AppArea } from './types'
import { adminArea } from './admin'
import { designerArea } from './designer'
import { recordsArea } from './records'
import { workbenchArea } from './workbench'

export const areas: readonly AppArea[] = [workbenchArea, recordsArea, designerArea, adminArea]
