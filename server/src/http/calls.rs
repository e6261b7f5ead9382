//! `GET /api/v1/calls?system=&talkgroup=&from=&to=&q=&cursor=&per=`: radio
//! calls the caller may see (their own, and public ones), newest first, in
//! keyset pages (`next` is the cursor of the next page); `from`/`to` in ms
//! since the epoch, `q` words in the system's and talkgroup's labels.

use axum::extract::{Query, State};
use axum::Json;

use app::auth::guard::MaybeUser;
use app::calls::{CallPage, CallQuery};
use app::errors::AppError;
use app::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<CallQuery>,
) -> Result<Json<CallPage>, AppError> {
    if q.q.as_deref().is_some_and(|w| w.len() > 200) {
        return Err(AppError::bad_request(
            "the search is longer than 200 characters",
        ));
    }
    Ok(Json(
        app::calls::list(&state.db, viewer.map(|v| v.id), &q).await?,
    ))
}
