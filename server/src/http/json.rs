//! A JSON body extractor whose every rejection is a clear 400 (or 413), never
//! a 415/422 with framework wording or a 500.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::Json;
use http::StatusCode;
use serde::de::DeserializeOwned;

use app::errors::AppError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                AppError::PayloadTooLarge("the request body is too large".into()),
            ),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::bad_request(
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(e) => Err(AppError::BadRequest(format!(
                "malformed JSON: {}",
                e.body_text()
            ))),
        }
    }
}
