//! Every operation of the API: the one list of endpoints (a test checks the router answers
//! each), with its query parameters, request body and answers.

use serde_json::{json, Value};

/// What an operation takes as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    /// JSON of the named component schema.
    Json(&'static str),
    /// The raw bytes of a CSV or XLSX file.
    Table,
}

/// What an operation answers on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No body (204).
    Empty,
    /// JSON of the named component schema.
    Json(&'static str),
    /// A record, with its version in `ETag`.
    Record,
    /// A CSV or XLSX file.
    Table,
    /// Prometheus text exposition.
    Metrics,
}

/// One operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Names of its query parameters, described in [`query_parameter`].
    pub query: &'static [&'static str],
    pub body: Body,
    pub status: u16,
    pub answer: Answer,
    /// Statuses beyond the ones every operation of its kind may answer (see `error_statuses`).
    pub errors: &'static [u16],
    /// Answers without signing in.
    pub public: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Body,
    status: u16,
    answer: Answer,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        query: &[],
        body,
        status,
        answer,
        errors: &[],
        public: false,
    }
}

impl Operation {
    const fn query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    const fn errors(mut self, statuses: &'static [u16]) -> Self {
        self.errors = statuses;
        self
    }

    const fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// Every error status the operation may answer, in the one error format.
    pub fn error_statuses(&self) -> Vec<u16> {
        let mut out = vec![400];
        if !self.public {
            out.extend([401, 403]);
        }
        if self.path.contains('{') {
            out.push(404);
        }
        if self.body != Body::None {
            out.push(413);
        }
        out.extend(self.errors.iter().copied());
        out.extend([414, 431, 500]);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The path parameters, in order.
    pub fn path_parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }
}

use Answer as A;
use Body as B;

const PAGING: &[&str] = &["page", "per_page"];
const RECORD_LIST: &[&str] = &[
    "page", "per_page", "sort", "q", "filter", "count", "deleted", "unmask",
];
/// A record write may break the definition (422), a unique value (409) or be stale (409).
const RECORD_WRITE: &[u16] = &[409, 422];

/// The one list of endpoints.
pub const ROUTES: &[Operation] = &[
    op("post", "/api/v1/auth/login", "Log in with a user name and password; answers the user and a CSRF token, and sets the session cookie", B::Json("Login"), 200, A::Json("Me"))
        .public().errors(&[401, 403, 429]),
    op("post", "/api/v1/auth/logout", "End the session", B::None, 204, A::Empty),
    op("get", "/api/v1/me", "The signed-in user, their permissions and the session's CSRF token", B::None, 200, A::Json("Me")),
    op("get", "/api/v1/entities", "Entity definitions the caller may read or design", B::None, 200, A::Json("EntityPage")),
    op("post", "/api/v1/entities", "Create an entity from a definition", B::Json("EntityDefinition"), 201, A::Json("EntityInfo"))
        .errors(&[409]),
    op("get", "/api/v1/entities/{entity}", "One entity definition with its version", B::None, 200, A::Json("EntityInfo")),
    op("put", "/api/v1/entities/{entity}", "Apply a new version of a definition (new fields get columns and a backfill)", B::Json("EntityDefinition"), 200, A::Json("EntityInfo"))
        .errors(&[409, 422]),
    op("delete", "/api/v1/entities/{entity}", "Remove an entity that holds no records", B::None, 204, A::Empty)
        .errors(&[409]),
    op("post", "/api/v1/entities/{entity}/impact", "How many stored records a new definition would invalidate, with examples", B::Json("EntityDefinition"), 200, A::Json("Impact")),
    op("get", "/api/v1/entities/{entity}/schema", "The JSON Schema (2020-12) the definition compiles to", B::None, 200, A::Json("JsonSchema")),
    op("post", "/api/v1/entity-checks", "Check a definition as saving it would (new, or a change of an existing entity), without writing anything: compile, field rules, layout, references, the change plan, the right and the version precondition; every problem in one 400, as saving gives", B::Json("EntityDefinition"), 200, A::Json("DefinitionCheck"))
        .query(&["intent"]).errors(&[404, 409]),
    op("get", "/api/v1/entities/{entity}/versions", "The definition's saved versions, newest first, with what each changed (for holders of design)", B::None, 200, A::Json("DefinitionVersionPage"))
        .query(PAGING),
    op("get", "/api/v1/entities/{entity}/versions/{version}", "One saved version's definition (for holders of design)", B::None, 200, A::Json("VersionedDefinition")),
    op("post", "/api/v1/entity-batches", "Install or change several entity definitions in one transaction, references between them in either order; ?dry_run=true answers the change plan and its impact without writing", B::Json("DefinitionBatch"), 200, A::Json("DefinitionChanges"))
        .query(&["dry_run"]).errors(&[409]),
    op("get", "/api/v1/records/{entity}", "List records", B::None, 200, A::Json("RecordPage"))
        .query(RECORD_LIST).errors(&[429]),
    op("post", "/api/v1/records/{entity}", "Create a record", B::Json("DataBody"), 201, A::Record)
        .errors(RECORD_WRITE),
    op("get", "/api/v1/records/{entity}/{id}", "One record; a deleted one with ?deleted=true", B::None, 200, A::Record)
        .query(&["unmask", "deleted"]),
    op("patch", "/api/v1/records/{entity}/{id}", "Change some fields; needs If-Match with the version read (stale → 409, missing → 428)", B::Json("DataBody"), 200, A::Record)
        .errors(&[409, 422, 428]),
    op("delete", "/api/v1/records/{entity}/{id}", "Soft-delete a record; needs If-Match", B::None, 204, A::Empty)
        .errors(&[409, 428]),
    op("post", "/api/v1/records/{entity}/{id}/restore", "Restore a deleted record (409 when a unique value was taken meanwhile)", B::None, 200, A::Record)
        .errors(&[409]),
    op("get", "/api/v1/records/{entity}/{id}/history", "Every version of a record", B::None, 200, A::Json("ChangePage")),
    op("get", "/api/v1/records/{entity}/{id}/view360", "The record, every record referencing it, and their timeline", B::None, 200, A::Json("View360")),
    op("put", "/api/v1/records/{entity}/by/{field}/{value}", "Create (201) or update (200) idempotently by a unique, non-sensitive field (If-Match optional)", B::Json("DataBody"), 200, A::Record)
        .errors(&[201, 409, 422]),
    op("post", "/api/v1/records/{entity}/import", "Import CSV or XLSX (the raw body); an atomic import with bad rows writes nothing and answers 422 naming each line", B::Table, 200, A::Json("ImportReport"))
        .query(&["dry_run", "atomic", "mapping"]).errors(&[409, 422]),
    op("post", "/api/v1/records/{entity}/import-preview", "Read an import file's header and first rows, and propose the field each column fills (for the import wizard's mapping step); writes and checks nothing", B::Table, 200, A::Json("ImportPreview")),
    op("get", "/api/v1/records/{entity}/export", "Export records as CSV or XLSX, masked as the caller sees them", B::None, 200, A::Table)
        .query(&["format", "filter", "sort", "columns"]).errors(&[429]),
    op("post", "/api/v1/reports/query", "Run a chart spec (docs/reports.md): bar, line, area, pie, table, kpi, funnel, pivot; explain=true adds the statements (needs design)", B::Json("ChartSpec"), 200, A::Json("ChartAnswer")).query(&["explain"])
        .errors(&[404, 429]),
    op("get", "/api/v1/users", "List users", B::None, 200, A::Json("UserPage")).query(PAGING),
    op("post", "/api/v1/users", "Create a user", B::Json("NewUser"), 201, A::Json("User"))
        .errors(&[409, 422]),
    op("get", "/api/v1/users/{id}", "One user", B::None, 200, A::Json("User")),
    op("patch", "/api/v1/users/{id}", "Change a user (roles, departments, disabled, password …)", B::Json("UserUpdate"), 200, A::Json("User"))
        .errors(&[409, 422]),
    op("delete", "/api/v1/users/{id}", "Delete a user", B::None, 204, A::Empty).errors(&[409]),
    op("get", "/api/v1/roles", "List roles", B::None, 200, A::Json("RolePage")),
    op("post", "/api/v1/roles", "Create a role with per-entity permissions and system rights", B::Json("Role"), 201, A::Json("RoleAnswer"))
        .errors(&[409]),
    op("get", "/api/v1/roles/{name}", "One role", B::None, 200, A::Json("RoleAnswer")),
    op("put", "/api/v1/roles/{name}", "Replace a role", B::Json("Role"), 200, A::Json("RoleAnswer")).errors(&[409]),
    op("delete", "/api/v1/roles/{name}", "Delete a role", B::None, 204, A::Empty).errors(&[409]),
    op("get", "/api/v1/tokens", "The caller's API tokens (never their values)", B::None, 200, A::Json("TokenPage")),
    op("post", "/api/v1/tokens", "Create an API token for integrations; its value is shown once", B::Json("NewToken"), 201, A::Json("NewTokenAnswer")),
    op("delete", "/api/v1/tokens/{id}", "Revoke an API token", B::None, 204, A::Empty),
    op("get", "/api/v1/list-views", "The caller's saved list views of one entity, in the order saved", B::None, 200, A::Json("ListViewPage"))
        .query(&["entity"]).errors(&[404]),
    op("post", "/api/v1/list-views", "Save a named list state (search, filters, sort, columns) of an entity for the caller; a name already used for the entity is a 409", B::Json("NewListView"), 201, A::Json("ListView"))
        .errors(&[404, 409]),
    op("put", "/api/v1/list-views/{id}", "Rename one of the caller's views and replace its state", B::Json("ListViewUpdate"), 200, A::Json("ListView"))
        .errors(&[409]),
    op("delete", "/api/v1/list-views/{id}", "Delete one of the caller's views", B::None, 204, A::Empty),
    op("get", "/api/v1/segments", "The segments on entities the caller may read", B::None, 200, A::Json("SegmentPage")),
    op("post", "/api/v1/segments", "Save a segment (needs design on its entity; its filter is compiled under the saver's rights); answered with version 1", B::Json("Segment"), 201, A::Json("Segment"))
        .errors(&[409]),
    op("get", "/api/v1/segments/{name}", "A segment with its version and member count under the caller's rights", B::None, 200, A::Json("Segment")),
    op("put", "/api/v1/segments/{name}", "Change a segment; If-Match or the body's version is the precondition (stale → 409); a PUT changing nothing answers the same version", B::Json("Segment"), 200, A::Json("Segment"))
        .errors(&[409]),
    op("delete", "/api/v1/segments/{name}", "Delete a segment; If-Match is the precondition", B::None, 204, A::Empty)
        .errors(&[409]),
    op("get", "/api/v1/segments/{name}/members", "The segment's members in the record list shape, through the record list path (the caller's field rules and row scope apply; a filter on a field hidden from the caller is a 400)", B::None, 200, A::Json("RecordPage"))
        .query(&["page", "per_page", "sort"]).errors(&[429]),
    op("get", "/api/v1/charts", "The saved charts on entities the caller may read", B::None, 200, A::Json("SavedChartPage")),
    op("post", "/api/v1/charts", "Save a chart (needs design on every entity it reads; the spec is compiled under the saver's rights; its composite indexes are built); answered with version 1", B::Json("SavedChart"), 201, A::Json("SavedChart"))
        .errors(&[409]),
    op("get", "/api/v1/charts/{name}", "A saved chart with its version", B::None, 200, A::Json("SavedChart")),
    op("put", "/api/v1/charts/{name}", "Change a chart; If-Match or the body's version is the precondition (stale → 409); a PUT changing nothing answers the same version", B::Json("SavedChart"), 200, A::Json("SavedChart"))
        .errors(&[409]),
    op("delete", "/api/v1/charts/{name}", "Delete a chart no dashboard holds (409 otherwise); If-Match is the precondition", B::None, 204, A::Empty)
        .errors(&[409]),
    op("get", "/api/v1/charts/{name}/data", "A saved chart's answer under the caller's rights; explain=true adds the compiled statements (needs design)", B::None, 200, A::Json("ChartAnswer"))
        .query(&["explain"]).errors(&[429]),
    op("get", "/api/v1/charts/{name}/export", "A saved chart's rows as CSV or XLSX (needs export; audited as chart.export): header, rows, the others row last, labels for select and user values, formula cells neutralised", B::None, 200, A::Table)
        .query(&["format"]).errors(&[429]),
    op("post", "/api/v1/reports/export", "A chart spec's rows as CSV or XLSX, as a saved chart's export", B::Json("ChartSpec"), 200, A::Table)
        .query(&["format"]).errors(&[429]),
    op("get", "/api/v1/dashboards", "The dashboards", B::None, 200, A::Json("DashboardPage")),
    op("post", "/api/v1/dashboards", "Save a dashboard (every chart must exist; needs design on each chart's entity); answered with version 1", B::Json("Dashboard"), 201, A::Json("Dashboard"))
        .errors(&[409]),
    op("get", "/api/v1/dashboards/{name}", "A dashboard with its version", B::None, 200, A::Json("Dashboard")),
    op("put", "/api/v1/dashboards/{name}", "Change a dashboard; If-Match or the body's version is the precondition (stale → 409); a PUT changing nothing answers the same version", B::Json("Dashboard"), 200, A::Json("Dashboard"))
        .errors(&[409]),
    op("delete", "/api/v1/dashboards/{name}", "Delete a dashboard; its charts are let go", B::None, 204, A::Empty)
        .errors(&[409]),
    op("get", "/api/v1/dashboards/{name}/data", "Every chart of the dashboard in one answer, computed concurrently under the caller's rights, each with its data or its own error; from/to and the dashboard's other parameters filter the charts they name; cached exactly", B::None, 200, A::Json("DashboardData"))
        .query(&["from", "to", "parameters"]).errors(&[429]),
    op("get", "/api/v1/flows", "The flows the caller may read (design on the trigger's entity)", B::None, 200, A::Json("FlowPage")),
    op("post", "/api/v1/flows", "Create a flow; it is checked as on save (every problem at once, each naming its node) and answered with version 1", B::Json("FlowDefinition"), 201, A::Json("FlowDefinition"))
        .errors(&[409]),
    op("post", "/api/v1/flow-checks", "The checks of saving a flow, nothing written", B::Json("FlowDefinition"), 200, A::Json("FlowCheck")),
    op("get", "/api/v1/flows/{name}", "A flow's current definition with its version (and ETag)", B::None, 200, A::Json("FlowDefinition")),
    op("put", "/api/v1/flows/{name}", "Change a flow (enable or disable it with `enabled`); If-Match or the body's version is the precondition", B::Json("FlowDefinition"), 200, A::Json("FlowDefinition"))
        .errors(&[409]),
    op("delete", "/api/v1/flows/{name}", "Delete a flow; its unfinished runs are cancelled, runs and versions stay readable", B::None, 204, A::Empty)
        .errors(&[409]),
    op("get", "/api/v1/flows/{name}/versions", "A flow's saved versions, newest first", B::None, 200, A::Json("FlowVersionPage")),
    op("get", "/api/v1/flows/{name}/versions/{version}", "One saved version's definition (what a run pinned)", B::None, 200, A::Json("FlowDefinition")),
    op("post", "/api/v1/flows/{name}/dry-run", "The path the flow would take on a record and the actions it would perform, nothing written", B::Json("FlowDryRunRequest"), 200, A::Json("FlowDryRun")),
    op("get", "/api/v1/flows/{name}/runs", "A flow's runs, newest first", B::None, 200, A::Json("FlowRunPage"))
        .query(&["status", "record_id", "page", "per_page"]),
    op("post", "/api/v1/flows/{name}/runs", "Start a manual flow on a record (the caller needs update on it); 409 when the flow is not manual or not enabled", B::Json("FlowRunStart"), 201, A::Json("FlowRun"))
        .errors(&[409]),
    op("post", "/api/v1/hooks/{flow}", "Inbound webhook: starts a run of a flow whose trigger is `webhook`. No session and no CSRF token: the sender signs with the flow's secret in X-Kangdao-Signature. 401 alike for an unknown or disabled flow, a bad signature or a time outside the window (no oracle); 409 for a signature already used (replay); an Idempotency-Key already seen for the flow answers the first run again (checked before the replay); 400 for a body that is not a JSON object; 413 past 256 KiB", B::Json("WebhookBody"), 202, A::Json("WebhookAccepted"))
        .public().errors(&[401, 409]),
    op("get", "/api/v1/runs/{id}", "A run with its steps: input, output and error, through the reader's field rules", B::None, 200, A::Json("FlowRun")),
    op("post", "/api/v1/runs/{id}/retry", "Retry a failed run's failed step (same idempotency key); 409 when the run has not failed", B::None, 200, A::Json("FlowRun"))
        .errors(&[409]),
    op("post", "/api/v1/runs/{id}/cancel", "Cancel a run that has not finished; 409 when it has", B::None, 200, A::Json("FlowRun"))
        .errors(&[409]),
    op("get", "/api/v1/tasks", "Tasks as records, due first: mine (assigned to me), role (to one of my roles, about a record I may read), overdue (either, open and past due), all (needs read on task)", B::None, 200, A::Json("RecordPage"))
        .query(&["view", "status", "page", "per_page"]),
    op("post", "/api/v1/tasks/{id}/complete", "Complete an open task (its assignee, a member of its role, or a holder of update on task); 409 when it is not open, 422 for an outcome not among its outcomes", B::Json("TaskCompletion"), 200, A::Record)
        .errors(&[409, 422]),
    op("get", "/api/v1/audit", "The audit log, newest first", B::None, 200, A::Json("AuditPage"))
        .query(&["page", "per_page", "actor", "action", "entity", "record_id"]),
    op("get", "/healthz", "Liveness", B::None, 200, A::Json("Health")).public(),
    op("get", "/readyz", "Readiness: the database answers (503 when it does not)", B::None, 200, A::Json("Health"))
        .public().errors(&[503]),
    op("get", "/metrics", "Request counts and latency by route template, method and status, and database pool use, in the Prometheus text format", B::None, 200, A::Metrics).public(),
    op("get", "/api/openapi.json", "This document", B::None, 200, A::Json("OpenApiDocument")).public(),
];

/// The query parameters every operation may name, as the handlers accept them.
/// A query parameter's description; `path` tells apart a name two operations use differently.
pub fn query_parameter(path: &str, name: &str) -> Value {
    let flag = |description: &str, default: bool| {
        json!({"in": "query", "description": description,
               "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"], "default": default.to_string()}})
    };
    let mut p = match name {
        "page" => json!({"in": "query", "description": "pages count from 1; 0 means the first",
                         "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 1}}),
        "per_page" => {
            json!({"in": "query", "description": "0 means the default (50); at most 1000",
                             "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 50}})
        }
        "sort" => {
            json!({"in": "query", "description": "comma-separated fields, `-` first for descending: `-updated_at,name`; a text field sorts by its pinyin (alice, Bob, 李四, 张三)",
                         "schema": {"type": "string"}})
        }
        "q" => {
            json!({"in": "query", "description": "case-insensitive substring search over the text, phone, select and autonumber fields the caller sees plainly, and the pinyin initials of its text fields (`zs` finds 张三)",
                      "schema": {"type": "string"}})
        }
        "filter" => json!({"in": "query", "description": "a FilterExpr as URL-encoded JSON",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FilterExpr"}}}}),
        "count" => json!({"in": "query",
            "description": format!(
                "true (also 1, yes): the exact `total` when at most {bound} rows match, else \
                 `total_estimate`; false (also 0, no): neither, the cheapest; exact: the exact \
                 `total` however many rows match (it may cost more than the page)",
                bound = kangdao_engine::records::EXACT_TOTAL_BOUND
            ),
            "schema": {"type": "string", "enum": ["true", "false", "exact", "1", "0", "yes", "no"], "default": "true"}}),
        "deleted" => flag("the recycle bin: deleted records only", false),
        "unmask" => {
            json!({"in": "query", "description": "comma-separated sensitive fields to show in full where the caller may (audited)",
                           "schema": {"type": "string"}})
        }
        "dry_run" => flag("check everything, write nothing", false),
        "explain" => flag(
            "add the statements run and their parameters' types (needs design on the entity)",
            false,
        ),
        "intent" => {
            json!({"in": "query", "description": "create: check as POST /api/v1/entities would (409 when the entity exists); update: as PUT /api/v1/entities/{entity} would (404 when it does not); absent: whichever the definition's name calls for",
                             "schema": {"type": "string", "enum": ["create", "update"]}})
        }
        "atomic" => flag("all rows or none; false keeps the good rows", true),
        "mapping" => {
            json!({"in": "query", "description": "column → field; default: the header names a field or its label",
                            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}}})
        }
        "format" => {
            json!({"in": "query", "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}})
        }
        "columns" => {
            json!({"in": "query", "description": "comma-separated fields to export, each one the caller may see; default: every field the caller sees",
                            "schema": {"type": "string"}})
        }
        "entity" if path == "/api/v1/list-views" => {
            json!({"in": "query", "required": true, "description": "the entity whose views to list",
                   "schema": {"type": "string"}})
        }
        "view" if path == "/api/v1/tasks" => {
            json!({"in": "query", "description": "which tasks: mine, role, overdue or all", "schema": {"enum": ["mine", "role", "overdue", "all"], "default": "mine"}})
        }
        "status" if path == "/api/v1/tasks" => {
            json!({"in": "query", "description": "tasks in this status", "schema": {"enum": ["open", "done", "cancelled", "expired"]}})
        }
        "status" if path.ends_with("/runs") => {
            json!({"in": "query", "description": "runs in this status", "schema": {"enum": ["pending", "running", "waiting", "succeeded", "failed", "cancelled"]}})
        }
        "from" | "to" if path.starts_with("/api/v1/dashboards/") => {
            json!({"in": "query", "description": "a local date (YYYY-MM-DD), both ends included, for the charts the dashboard's `period` filter names; a 400 where it has none",
                   "schema": {"type": "string", "format": "date"}})
        }
        "parameters" if path.starts_with("/api/v1/dashboards/") => {
            json!({"in": "query", "style": "form", "explode": true,
                   "description": "the dashboard's other shared filters by their `param` (`?dept=cardiology`): `eq` on each named chart's field, `in` for a comma-separated value (at most 100); an unknown parameter is a 400",
                   "schema": {"type": "object", "additionalProperties": {"type": "string"}}})
        }
        "actor" | "action" | "entity" | "record_id" => {
            json!({"in": "query", "description": "entries matching exactly", "schema": {"type": "string"}})
        }
        _ => json!({"in": "query", "schema": {}}),
    };
    p["name"] = json!(name);
    p
}

/// A path parameter's schema.
pub fn path_parameter(name: &str) -> Value {
    let schema = match name {
        "entity" => {
            json!({"type": "string", "description": "an entity name", "examples": ["patient"]})
        }
        "id" => json!({"type": "string", "format": "uuid"}),
        "field" => {
            json!({"type": "string", "description": "a unique, non-sensitive field", "examples": ["mrn"]})
        }
        "value" => {
            json!({"type": "string", "description": "the field's value", "examples": ["M0001"]})
        }
        "name" => {
            json!({"type": "string", "description": "a role's, flow's, segment's, chart's or dashboard's name"})
        }
        "flow" => json!({"type": "string", "description": "a flow's name"}),
        "version" => {
            json!({"type": "integer", "minimum": 1, "description": "a definition version", "examples": [1]})
        }
        _ => json!({"type": "string"}),
    };
    let mut parameter = json!({"name": name, "in": "path", "required": true, "schema": schema});
    if let Some(example) = parameter["schema"]["examples"].get(0).cloned() {
        parameter["example"] = example;
    }
    parameter
}
