pub mod calendar;
pub mod keys;
pub mod meetings;
pub mod rooms;
pub mod system;
pub mod transcripts;
pub mod webhooks;

use reflector_app::AppError;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::HttpState;

/// Listing (rooms, transcripts, search) is for signed-in callers unless `PUBLIC_MODE` lets
/// anonymous ones list what is shared or public.
fn may_list(state: &HttpState, caller: &Caller) -> ApiResult<()> {
    if caller.user_id.is_none() && !state.settings.public_mode {
        return Err(AppError::Unauthenticated.into());
    }
    Ok(())
}

/// A page's number and size (defaults 1 and 50; sizes 1–100) and the offset of its first item;
/// 422 naming the parameter otherwise, including a page whose offset would overflow.
fn page_and_offset(page: Option<i64>, size: Option<i64>) -> ApiResult<(i64, i64, i64)> {
    let page = page.unwrap_or(1);
    let size = size.unwrap_or(50);
    if page < 1 {
        return Err(AppError::invalid("page", "must be at least 1").into());
    }
    if !(1..=100).contains(&size) {
        return Err(AppError::invalid("size", "must be between 1 and 100").into());
    }
    let offset = (page - 1)
        .checked_mul(size)
        .ok_or_else(|| AppError::invalid("page", "is too large for this page size"))?;
    Ok((page, size, offset))
}
