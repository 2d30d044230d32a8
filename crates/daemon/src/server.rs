//! The HTTP application: routes, API version negotiation, and Docker's response headers.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::version;
use berth_engine::Engine;

use crate::error::ApiError;
use crate::routes::container_prune;
use crate::routes::networks;
use crate::routes::system_df;
use crate::routes::{archive, commit, image_archive, image_prune};
use crate::routes::{containers, events, exec, images, registry, streams, system, volumes};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub info: Arc<system::DaemonInfo>,
    pub registry: Arc<berth_image::registry::Registry>,
}

/// Builds the application. Version prefixes are stripped before routing, so every route is
/// declared once, unversioned.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(container_prune::prune))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/stats", get(events::stats))
        .route("/events", get(events::events))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/logs", get(streams::logs))
        .route("/containers/{id}/attach", post(streams::attach))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/exec/{id}/resize", post(exec::resize))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/images/create", post(images::create))
        .route("/images/json", get(images::list))
        .route("/images/get", get(image_archive::save_many))
        .route("/images/load", post(image_archive::load))
        .route("/commit", post(commit::commit))
        .route("/images/prune", post(image_prune::prune))
        .route("/containers/{id}/export", get(commit::export))
        .route("/images/search", get(registry::search))
        .route("/auth", post(registry::auth))
        .route("/system/df", get(system_df::df))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::remove),
        )
        .fallback(not_found)
        .with_state(state);
    Router::new()
        .fallback_service(api)
        .layer(axum::middleware::from_fn(negotiate_version))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}

/// Strips and checks the `/vX.Y` prefix, and adds Docker's headers to every response.
async fn negotiate_version(mut request: Request, next: Next) -> Response {
    let (requested, rest) = version::split_path(request.uri().path());
    if let Some(requested) = requested {
        if let Err(message) = version::check(requested) {
            return with_headers(ApiError::bad_request(message).into_response());
        }
        let path_and_query = match request.uri().query() {
            Some(query) => format!("{rest}?{query}"),
            None => rest.to_owned(),
        };
        match path_and_query.parse::<Uri>() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => {
                return with_headers(ApiError::bad_request("invalid request path").into_response())
            }
        }
    }
    with_headers(next.run(request).await)
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&version::CURRENT.to_string()) {
        headers.insert("Api-Version", v);
    }
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert(
        "Server",
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}
