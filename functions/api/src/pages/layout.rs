//! The frame every page shares: a skip link, the navigation a role may use, the main region.

use maud::{html, Markup, DOCTYPE};
use shared::domain::{Permission, Role};
use shared::services::SignedIn;

/// Which navigation entry is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Inbox,
    Contacts,
    Broadcasts,
    Templates,
    Numbers,
    Users,
    Billing,
    Keys,
    Webhooks,
    Privacy,
    Password,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · WhatATalk" }
            link rel="stylesheet" href="/app/static/app.css";
            script src="/app/static/app.js" defer {}
        }
    }
}

/// A page of the signed-in app.
pub fn app(who: &SignedIn, nav: Nav, title: &str, live: bool, body: Markup) -> Markup {
    let role = who.principal.role;
    let entries: [(Nav, &str, &str, Option<Permission>); 11] = [
        (Nav::Inbox, "/app/inbox", "Inbox", None),
        (Nav::Contacts, "/app/contacts", "Contacts", None),
        (
            Nav::Broadcasts,
            "/app/broadcasts",
            "Broadcasts",
            Some(Permission::ManageNumbers),
        ),
        (
            Nav::Templates,
            "/app/templates",
            "Templates",
            Some(Permission::ManageNumbers),
        ),
        (
            Nav::Numbers,
            "/app/numbers",
            "Numbers",
            Some(Permission::ManageNumbers),
        ),
        (
            Nav::Users,
            "/app/users",
            "Users",
            Some(Permission::ManageUsers),
        ),
        (
            Nav::Billing,
            "/app/billing",
            "Billing",
            Some(Permission::ManageBilling),
        ),
        (
            Nav::Keys,
            "/app/keys",
            "API keys",
            Some(Permission::ManageKeys),
        ),
        (
            Nav::Webhooks,
            "/app/webhooks",
            "Webhooks",
            Some(Permission::ManageWebhooks),
        ),
        (
            Nav::Privacy,
            "/app/privacy",
            "Privacy",
            Some(Permission::ManageExports),
        ),
        (Nav::Password, "/app/password", "Password", None),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live=[live.then_some("1")] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "WhatATalk" }
                    nav aria-label="Main" {
                        ul {
                            @for (entry, href, label, needs) in entries {
                                @if needs.is_none_or(|p| role.may(p)) {
                                    li {
                                        a href=(href) aria-current=[(entry == nav).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/app/logout" {
                        (csrf(who))
                        span.role { (role_label(role)) }
                        button type="submit" { "Log out" }
                    }
                }
                @if let Some(version) = who.policy_pending.as_deref().filter(|_| role.may(Permission::ManageAccount)) {
                    aside.banner aria-label="Privacy policy" {
                        p { "Our privacy policy has changed (version " (version) "). "
                            a href="/app/privacy/policy" { "Read what changed" } }
                        (accept_policy(who, version))
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// The account's acceptance of policy `version` (owners and admins).
pub fn accept_policy(who: &SignedIn, version: &str) -> Markup {
    html! {
        form.inline method="post" action="/app/privacy/accept" {
            (csrf(who))
            input type="hidden" name="version" value=(version);
            button type="submit" { "Accept version " (version) " for the account" }
        }
    }
}

/// A page with no navigation (signed out, errors).
pub fn plain(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.plain {
                main id="main" {
                    p.brand { "WhatATalk" }
                    (body)
                }
            }
        }
    }
}

/// A short message page.
pub fn bare(title: &str, text: &str) -> Markup {
    plain(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            p { a href="/app" { "Back to the app" } }
        },
    )
}

/// The session's CSRF token as a hidden field.
pub fn csrf(who: &SignedIn) -> Markup {
    html! { input type="hidden" name="_csrf" value=(who.session.csrf); }
}

pub fn pre_csrf(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Agent => "Agent",
    }
}

/// A labelled input with its error, if the last try had one.
pub fn field(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    autocomplete: &str,
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) autocomplete=(autocomplete)
                required aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())];
            @if let Some(e) = error {
                p.error id=(err_id) { (e) }
            }
        }
    }
}
