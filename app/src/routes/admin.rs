//! /admin: admins only (403 page for users, sign-in prompt for visitors).

use leptos::prelude::*;
use leptos_meta::Title;

use super::{set_page_status, SignInPrompt};
use crate::auth::api::{list_users, SetUserRole};
use crate::auth::{Role, UserSummary};
use crate::fmt;
use crate::providers::auth::use_auth;

#[component]
pub fn AdminPage() -> impl IntoView {
    let viewer = use_auth().page_viewer();
    view! {
        <Title text="Admin" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(v)) if v.is_admin() => view! { <Users me=v.id /> }.into_any(),
                    Ok(Some(_)) => view! { <Forbidden /> }.into_any(),
                    Ok(None) => view! { <SignInPrompt next="/admin" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Forbidden() -> impl IntoView {
    set_page_status(403);
    view! {
        <section class="card narrow" data-testid="forbidden">
            <h1>"Admins only"</h1>
            <p>"Your account cannot open this page."</p>
        </section>
    }
}

#[component]
fn Users(me: i64) -> impl IntoView {
    let set_role = ServerAction::<SetUserRole>::new();
    let users = Resource::new(move || set_role.version().get(), |_| list_users());
    let failed = move || {
        set_role
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    };
    view! {
        <section class="card" data-testid="admin-users">
            <h1>"Admin · users"</h1>
            <p class="error" role="alert">{failed}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable list me set_role /> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UserTable(
    list: Vec<UserSummary>,
    me: i64,
    set_role: ServerAction<SetUserRole>,
) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Email"</th>
                    <th>"Role"</th>
                    <th>"Joined"</th>
                    <th>"Storage"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|u| {
                        let (label, target) = match u.role {
                            Role::Admin => ("Make user", "User"),
                            Role::User => ("Make admin", "Admin"),
                        };
                        view! {
                            <tr>
                                <td>{u.email}</td>
                                <td>{u.role.as_str()}</td>
                                <td>{fmt::date(u.created_at)}</td>
                                <td>{fmt::bytes(u.storage_used_bytes)}</td>
                                <td>
                                    <Show when=move || u.id != me>
                                        <ActionForm action=set_role>
                                            <input type="hidden" name="user_id" value=u.id />
                                            <input type="hidden" name="role" value=target />
                                            <button type="submit" class="small">{label}</button>
                                        </ActionForm>
                                    </Show>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
