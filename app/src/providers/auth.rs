//! The signed-in viewer and the login / logout / register actions, shared by
//! the nav and the pages; the viewer is refetched after each action.

use leptos::prelude::*;

use crate::auth::api::{get_viewer, Login, Logout, Register};
use crate::auth::Viewer;
use crate::errors::AppError;

#[derive(Clone, Copy)]
pub struct AuthCtx {
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    pub register: ServerAction<Register>,
    pub viewer: Resource<Result<Option<Viewer>, AppError>>,
}

pub fn provide_auth() -> AuthCtx {
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    let register = ServerAction::<Register>::new();
    let viewer = Resource::new(
        move || {
            (
                login.version().get(),
                logout.version().get(),
                register.version().get(),
            )
        },
        |_| get_viewer(),
    );
    let ctx = AuthCtx {
        login,
        logout,
        register,
        viewer,
    };
    provide_context(ctx);
    ctx
}

pub fn use_auth() -> AuthCtx {
    expect_context::<AuthCtx>()
}

impl AuthCtx {
    /// A viewer resource of the caller's own, refetched after the same
    /// actions. Pages use this rather than `viewer`, which the nav reads: one
    /// resource read under two Suspense boundaries can leave a server-rendered
    /// response hanging (leptos#4851).
    pub fn page_viewer(&self) -> Resource<Result<Option<Viewer>, AppError>> {
        let (login, logout, register) = (self.login, self.logout, self.register);
        Resource::new(
            move || {
                (
                    login.version().get(),
                    logout.version().get(),
                    register.version().get(),
                )
            },
            |_| get_viewer(),
        )
    }
}
