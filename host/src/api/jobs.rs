//! Jobs: staged pipelines run in the background; poll them by id.

use super::ApiError;
use crate::host::Host;
use crate::jobs::{Job, StageSpec};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<Host> {
    OpenApiRouter::new().routes(routes!(submit, list)).routes(routes!(show))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    stages: Vec<StageSpec>,
}

/// Starts a job; 202 with its id. Poll `GET /v1/jobs/{id}`.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    summary = "Start a staged pipeline: stages of {plugin, export, args}; \"$prev\" / \"$prev.text\" in args take the previous stage's output",
    request_body(content = serde_json::Value, description = "{\"stages\": [{\"plugin\", \"export\", \"args\"}]}"),
    responses((status = 202, description = "queued"), (status = "4XX", description = "error", body = super::ErrorBody)))]
async fn submit(State(host): State<Host>, body: Result<Json<Submit>, JsonRejection>) -> Result<(StatusCode, Json<Job>), ApiError> {
    let Json(submit) = body?;
    Ok((StatusCode::ACCEPTED, Json(host.submit_job(submit.stages).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    before: Option<u64>,
    limit: Option<u32>,
}

/// Jobs newest first; `next_before` continues the listing.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", summary = "Jobs newest first with per-stage duration and memory",
    params(("before" = Option<u64>, Query, description = "job id"), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "OK"), (status = "4XX", description = "error", body = super::ErrorBody)))]
async fn list(State(host): State<Host>, q: Result<Query<ListQuery>, QueryRejection>) -> Result<Json<Value>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let jobs = super::blocking(move || host.jobs(q.before, limit)).await?;
    let next_before = (jobs.len() as u32 == limit).then(|| jobs.last().map(|j| j.id)).flatten();
    Ok(Json(json!({ "jobs": jobs, "next_before": next_before })))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", summary = "One job: state, stages (duration, memory, error), result",
    params(("id" = u64, Path, description = "job id")),
    responses((status = 200, description = "OK"), (status = "4XX", description = "error", body = super::ErrorBody)))]
async fn show(State(host): State<Host>, Path(id): Path<u64>) -> Result<Json<Job>, ApiError> {
    Ok(Json(host.job(id)?))
}
