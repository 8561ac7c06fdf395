// Every area of the app. The form designer (设计 → 表单) and administration (管理 → 用户, 角色,
// 审计日志, …) join here as `designerArea` and `adminArea`, each with its own folder, routes
// and message files (`i18n/<language>/<area>.ts`).
import type { AppArea } from './types'
import { adminArea } from './admin'
import { recordsArea } from './records'
import { workbenchArea } from './workbench'

export const areas: readonly AppArea[] = [workbenchArea, recordsArea, adminArea]
