//! API errors: Docker's JSON body `{"message": "..."}` with Docker's status codes. The one
//! place where an engine error kind becomes an HTTP status is [`status_for`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::ErrorKind;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The result type of request handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    #[allow(dead_code)] // no endpoint answers 501 at the moment
    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_IMPLEMENTED,
            message: message.into(),
        }
    }
}

/// Maps an engine error kind onto Docker's HTTP status.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<berth_engine::Error> for ApiError {
    fn from(error: berth_engine::Error) -> ApiError {
        // A command that cannot be executed is the user's mistake, not a server fault: Docker
        // answers 400 and the CLI turns the wording into exit code 126/127.
        let status = match &error {
            berth_engine::Error::StartFailed {
                exit_code: 126 | 127,
                ..
            } => StatusCode::BAD_REQUEST,
            other => status_for(other.kind()),
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %error, "request failed");
        }
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            // 304 must not carry a body.
            return self.status.into_response();
        }
        (
            self.status,
            Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

/// Maps a registry error (login, search) onto Docker's HTTP status.
pub fn registry_error(error: &berth_image::registry::Error) -> ApiError {
    use berth_image::registry::ErrorKind as K;
    let status = match error.kind() {
        K::NotFound => StatusCode::NOT_FOUND,
        K::Unauthorized => StatusCode::UNAUTHORIZED,
        K::InvalidArgument => StatusCode::BAD_REQUEST,
        K::Unavailable => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        status,
        message: error.to_string(),
    }
}
