//! Chart queries: a chart spec in, columns and rows out.

use crate::caller::Caller;
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use kangdao_engine::records::{AggregateResult, AggregateSpec};

pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(spec): JsonBody<AggregateSpec>,
) -> Result<Json<AggregateResult>, ApiError> {
    Ok(Json(
        state.engine.aggregate(&caller.principal, &spec).await?,
    ))
}
