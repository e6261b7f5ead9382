//! The signed-in viewer, shared by the nav and the pages. Logging in, out or
//! registering bumps `changed`, and every viewer resource refetches.
//!
//! The login and registration actions are made by their own pages, so
//! their code travels in those pages' lazily loaded wasm; only logout, which
//! the nav offers everywhere, is made here. They are owned by the app, not
//! the page: a successful login redirects, and the page is gone by the time
//! the action reports back.

use leptos::prelude::*;

use crate::auth::api::{get_viewer, Login, Logout, Register};
use crate::auth::Viewer;
use crate::errors::AppError;

#[derive(Clone, Copy)]
pub struct AuthCtx {
    pub logout: ServerAction<Logout>,
    /// Bumped each time a login, logout or registration finishes (see
    /// `follow`); every viewer resource refetches on it.
    changed: RwSignal<u32>,
    pub viewer: crate::codec::JsonResource<Result<Option<Viewer>, AppError>>,
    /// The app's owner, which outlives every page.
    root: StoredValue<Owner>,
    login: StoredValue<Option<ServerAction<Login>>>,
    register: StoredValue<Option<ServerAction<Register>>>,
}

pub fn provide_auth() -> AuthCtx {
    let logout = ServerAction::<Logout>::new();
    let changed = RwSignal::new(0u32);
    follow(changed, logout);
    let ctx = AuthCtx {
        logout,
        changed,
        viewer: viewer_resource(changed),
        root: StoredValue::new(Owner::current().unwrap_or_default()),
        login: StoredValue::new(None),
        register: StoredValue::new(None),
    };
    provide_context(ctx);
    ctx
}

pub fn use_auth() -> AuthCtx {
    expect_context::<AuthCtx>()
}

fn viewer_resource(
    changed: RwSignal<u32>,
) -> crate::codec::JsonResource<Result<Option<Viewer>, AppError>> {
    crate::codec::resource(move || changed.get(), |_| get_viewer())
}

/// Bumps `changed` each time `action` finishes.
fn follow<A>(changed: RwSignal<u32>, action: ServerAction<A>)
where
    A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    A::Output: Send + Sync + 'static,
    A::Error: Send + Sync + 'static,
{
    Effect::watch(
        move || action.version().get(),
        move |_, _, _| changed.update(|n| *n = n.wrapping_add(1)),
        false,
    );
}

impl AuthCtx {
    /// A viewer resource of the caller's own, refetched after the same
    /// actions. Pages use this rather than `viewer`, which the nav reads: one
    /// resource read under two Suspense boundaries can leave a server-rendered
    /// response hanging (leptos#4851).
    pub fn page_viewer(&self) -> crate::codec::JsonResource<Result<Option<Viewer>, AppError>> {
        viewer_resource(self.changed)
    }

    /// The login action (made on first use).
    pub fn login(&self) -> ServerAction<Login> {
        self.app_action(self.login)
    }

    /// The registration action (made on first use).
    pub fn register(&self) -> ServerAction<Register> {
        self.app_action(self.register)
    }

    /// The action kept in `slot`, made under the app's owner the first time
    /// and followed: each time it finishes, the viewer is fetched again.
    fn app_action<A>(&self, slot: StoredValue<Option<ServerAction<A>>>) -> ServerAction<A>
    where
        A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
        A::Output: Send + Sync + 'static,
        A::Error: Send + Sync + 'static,
    {
        if let Some(action) = slot.get_value() {
            return action;
        }
        let changed = self.changed;
        let root = self.root.get_value();
        let action = root.with(|| {
            let action = ServerAction::<A>::new();
            follow(changed, action);
            action
        });
        slot.set_value(Some(action));
        action
    }
}
