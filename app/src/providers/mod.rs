//! Client state shared across pages, each with a `provide_x()` and `use_x()`.

pub mod auth;
