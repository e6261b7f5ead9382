//! Widgets used by several pages.

pub mod nav;
pub mod password_field;
