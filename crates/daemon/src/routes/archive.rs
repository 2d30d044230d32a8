//! `docker cp` endpoints: `HEAD`, `GET` and `PUT /containers/{id}/archive?path=`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::ArchivePut;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::flag;
use crate::convert::archive::{path_stat_header, PATH_STAT_HEADER};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

#[derive(Debug, Default, serde::Deserialize)]
pub struct ArchiveQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir")]
    no_overwrite_dir_non_dir: Option<String>,
    #[serde(rename = "copyUIDGID")]
    copy_uid_gid: Option<String>,
}

fn path(query: &ArchiveQuery) -> ApiResult<String> {
    match query.path.as_deref() {
        Some(p) if !p.is_empty() => Ok(p.to_owned()),
        _ => Err(ApiError::bad_request("path cannot be empty")),
    }
}

fn stat_header(stat: &berth_engine::PathStat) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&path_stat_header(stat)).map_err(|e| {
        ApiError::from(berth_engine::Error::Internal {
            message: format!("stat header: {e}"),
        })
    })
}

/// `HEAD`: the path's stat in the `X-Docker-Container-Path-Stat` header.
pub async fn head(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let stat = state.engine.archive_stat(&id, &path(&query)?).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(response)
}

/// `GET`: the stat header and a tar stream of the path.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let (stat, reader) = state.engine.archive_get(&id, &path(&query)?).await?;
    // `None` once the archive ended (or failed): the stream is over.
    let stream = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => match reader.finish().await {
                Ok(()) => None,
                // Failing the body makes hyper abort the chunked response, so the client sees
                // an error instead of a silently truncated archive.
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            },
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(PATH_STAT_HEADER, stat_header(&stat)?);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(response)
}

/// `PUT`: extracts the request's tar body into the directory `path`.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
    body: Body,
) -> ApiResult<StatusCode> {
    let put = ArchivePut {
        path: path(&query)?,
        no_overwrite_dir_non_dir: flag(&query.no_overwrite_dir_non_dir),
        copy_uid_gid: flag(&query.copy_uid_gid),
    };
    let mut writer = state.engine.archive_put(&id, &put).await?;
    let mut body = body.into_data_stream();
    let mut body_error = None;
    if let Some(stdin) = writer.stdin.as_mut() {
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    body_error = Some(format!("reading request body: {e}"));
                    break;
                }
            };
            // A write error means the helper stopped early; `finish` reports why.
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
    writer.finish().await?;
    if let Some(message) = body_error {
        return Err(ApiError::bad_request(message));
    }
    Ok(StatusCode::OK)
}
