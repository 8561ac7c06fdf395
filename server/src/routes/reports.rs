//! Chart queries: a chart spec in, columns, rows and labels out (docs/reports.md).

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::{flag, JsonBody};
use crate::AppState;
use axum::extract::{Query, State};
use axum::Json;
use kangdao_engine::reports::{ChartAnswer, ChartRun, ChartSpec};
use std::collections::HashMap;

pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(spec): JsonBody<ChartSpec>,
) -> Result<Json<ChartAnswer>, ApiError> {
    let run = ChartRun {
        explain: flag(params.get("explain").map(String::as_str), false)?,
        lang: caller.lang,
        ..ChartRun::default()
    };
    Ok(Json(
        state
            .engine
            .run_chart(&caller.principal, &spec, &run)
            .await?,
    ))
}
