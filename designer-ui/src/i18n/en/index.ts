// One file per area; a new area (designer, admin, …) adds its file here and in the other language.
import admin from './admin'
import auth from './auth'
import common from './common'
import records from './records'
import shell from './shell'
import validation from './validation'
import workbench from './workbench'

export default {
  ...common,
  auth,
  shell,
  workbench,
  records,
  validation,
  admin,
}
