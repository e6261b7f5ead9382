//! The dashboard's users: storage per user ("Recompute now") and roles.

use leptos::prelude::*;

use crate::admin::api::RefreshStorage;
use crate::auth::api::{list_users, SetUserRole};
use crate::auth::{Role, UserSummary};
use crate::components::error_note::ErrorNote;
use crate::fmt;

#[component]
pub fn Users(me: i64) -> impl IntoView {
    let set_role = ServerAction::<SetUserRole>::new();
    let refresh = ServerAction::<RefreshStorage>::new();
    let users = crate::codec::resource(
        move || (set_role.version().get(), refresh.version().get()),
        |_| list_users(),
    );
    let failed = move || {
        set_role
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| refresh.value().get().and_then(|r| r.err()))
            .map(|e| e.to_string())
    };
    view! {
        <section class="card" data-testid="admin-users">
            <h2>"Users and storage"</h2>
            <ErrorNote error=failed />
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(list) => view! { <UserTable list me set_role refresh /> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e.to_string() /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn UserTable(
    list: Vec<UserSummary>,
    me: i64,
    set_role: ServerAction<SetUserRole>,
    refresh: ServerAction<RefreshStorage>,
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
                        let id = u.id;
                        view! {
                            <tr data-testid=format!("user-{id}")>
                                <td>{u.email}</td>
                                <td>{u.role.as_str()}</td>
                                <td>{fmt::date(u.created_at)}</td>
                                <td data-testid=format!("storage-{id}")>{fmt::bytes(u.storage_used_bytes)}</td>
                                <td class="actions">
                                    <button class="small" title="Recount this user's stored bytes from their files"
                                        data-testid=format!("recount-{id}")
                                        on:click=move |_| { refresh.dispatch(RefreshStorage { user_id: id }); }>
                                        "Recompute now"
                                    </button>
                                    <Show when=move || id != me>
                                        <ActionForm action=set_role>
                                            <input type="hidden" name="user_id" value=id />
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
